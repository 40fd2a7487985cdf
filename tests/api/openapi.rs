//! The OpenAPI document: it lists exactly the operations the reference
//! documents and the server answers, and a schema-based fuzzer
//! (schemathesis) driven by it finds no 5xx and no response off the
//! schema.

use std::collections::BTreeSet;
use std::process::Command;

use crate::cli::Serve;
use crate::helpers::spawn_app;

/// `METHOD /path/{param}` of every route heading in docs/api-reference.md.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api-reference.md")).unwrap();
    let mut out = BTreeSet::new();
    for line in doc.lines() {
        let Some(head) = line.strip_prefix("### `") else {
            continue;
        };
        // "`PUT`/`POST /x`" documents two methods on one path.
        let head = head.trim_end_matches('`');
        let (methods, path) = match head.split_once("`/`") {
            Some((first, rest)) => {
                let (second, path) = rest.split_once(' ').unwrap();
                (vec![first.to_string(), second.to_string()], path.to_string())
            }
            None => match head.split_once(' ') {
                Some((m, p)) if m.chars().all(|c| c.is_ascii_uppercase()) => (vec![m.to_string()], p.to_string()),
                _ => continue,
            },
        };
        let path: Vec<String> = path
            .split('/')
            .map(|seg| match seg.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => seg.to_string(),
            })
            .collect();
        for m in methods {
            out.insert(format!("{m} {}", path.join("/")));
        }
    }
    out
}

#[test]
fn the_document_lists_what_the_reference_documents_and_the_server_answers() {
    let app = spawn_app();
    let r = app.get("/openapi.json", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let mut in_doc = BTreeSet::new();
    for (path, item) in r.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            in_doc.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let documented = documented();
    assert_eq!(
        in_doc.symmetric_difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "the document and docs/api-reference.md must list the same operations"
    );
    // Each is a route the server has: no "no such route", no 405.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    for op in &in_doc {
        let (method, path) = op.split_once(' ').unwrap();
        let concrete: Vec<String> = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "00000000-0000-4000-8000-000000000000".to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect();
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(app.url(&concrete.join("/")))
            .body(())
            .unwrap();
        let res = crate::helpers::read_response(agent.run(req).unwrap());
        assert!(
            res.status != 405 && !(res.status == 404 && res.body["error"] == "no such route"),
            "{op}: {} {}",
            res.status,
            res.text
        );
    }
}

#[test]
fn schemathesis_finds_no_5xx_and_no_response_off_the_schema() {
    // Run as a module: its `st` script may not be on PATH (pyenv shims),
    // and another program may have that name.
    let schemathesis = || {
        let mut c = Command::new("python3");
        c.args(["-m", "schemathesis.cli"]);
        c
    };
    let installed = schemathesis()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        assert!(
            std::env::var_os("MOLECULE_REQUIRE_SCHEMATHESIS").is_none(),
            "schemathesis (pip install schemathesis) is required"
        );
        eprintln!("skipping: schemathesis is not installed");
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("d");
    let mint = Command::new(env!("CARGO_BIN_EXE_molecule-tenant"))
        .args(["mint-key", "--label", "schemathesis", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let token = String::from_utf8(mint.stdout).unwrap().trim().to_string();
    let serve = Serve::start(&data);
    let out = schemathesis()
        .arg("run")
        .arg(format!("{}/openapi.json", serve.base))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", "15", "--seed", "1", "--workers", "2"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("Tested: 63") || report.contains("passed"), "{report}");
}
