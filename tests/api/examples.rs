//! The README's examples (the user guide's snippets with the host replaced)
//! run against a live server, and the fixture team tree builds over HTTP.

use std::process::Command;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

fn example(program: &str, script: &str, app: &TestApp) -> Option<String> {
    let out = Command::new(program)
        .arg(format!("{}/examples/{script}", env!("CARGO_MANIFEST_DIR")))
        .env("MOLECULE_URL", &app.base)
        .env("MOLECULE_ORG_TOKEN", &app.admin)
        .output();
    match out {
        Ok(o) => {
            assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
            Some(String::from_utf8_lossy(&o.stdout).into_owned())
        }
        // CI installs every interpreter and sets this; a bare `cargo test`
        // on a machine without one still runs everything else.
        Err(_) if std::env::var_os("MOLECULE_REQUIRE_EXAMPLES").is_none() => None,
        Err(e) => panic!("{program} is needed for {script}: {e}"),
    }
}

#[test]
fn the_guide_snippets_list_workspaces_against_the_local_server() {
    let app = spawn_app();
    app.workspace("from-the-guide", None);
    for (program, script) in [
        ("bash", "list_workspaces.sh"),
        ("python3", "list_workspaces.py"),
        ("node", "list_workspaces.mjs"),
    ] {
        if let Some(out) = example(program, script, &app) {
            assert!(out.contains("from-the-guide"), "{script}: {out}");
        }
    }
}

#[test]
fn a_revoked_key_fails_the_guide_snippet() {
    let app = spawn_app();
    let list = app.get("/org/tokens", &app.admin);
    let id = list.body["tokens"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(app.delete(&format!("/org/tokens/{id}"), &app.admin).status, 200);
    let out = Command::new("bash")
        .arg(format!("{}/examples/list_workspaces.sh", env!("CARGO_MANIFEST_DIR")))
        .env("MOLECULE_URL", &app.base)
        .env("MOLECULE_ORG_TOKEN", &app.admin)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

fn build(app: &TestApp, node: &Value, parent: Option<&str>, ids: &mut Vec<(String, String)>) {
    let r = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": node["name"], "role": node["role"], "tier": node["tier"], "runtime": node["runtime"], "parent_id": parent}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    ids.push((node["name"].as_str().unwrap().to_string(), id.clone()));
    for child in node["children"].as_array().unwrap() {
        build(app, child, Some(&id), ids);
    }
}

#[test]
fn the_fixture_team_builds_and_a_key_bound_to_one_team_sees_only_it() {
    let app = spawn_app();
    let team: Value = serde_json::from_str(include_str!("../../fixtures/team.json")).unwrap();
    let mut ids = Vec::new();
    build(&app, &team, None, &mut ids);
    assert_eq!(app.get("/workspaces", &app.admin).body.as_array().unwrap().len(), 7);
    let backend = &ids.iter().find(|(n, _)| n == "backend").unwrap().1;
    let key = app.mint_role("read-only", &[backend]);
    let mut seen: Vec<String> = app
        .get("/workspaces", &key)
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, vec!["api-dev", "backend", "db-dev"]);
}
