//! Real templates: registered from a directory on the box (with or without
//! a running server), or sent as a tarball; bounded at 2,000 files.

use std::process::Command;

use serde_json::json;
use tempfile::TempDir;

use crate::cli::Serve;
use crate::helpers::spawn_app;

const BIN: &str = env!("CARGO_BIN_EXE_molecule-tenant");

fn fixture_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/org-templates")
        .join(name)
}

fn tarball(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, &data[..]).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn fixture_tarball(name: &str, top: &str) -> Vec<u8> {
    let files = crate::helpers::fixture_files(&format!("org-templates/{name}"));
    let entries: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(p, c)| (format!("{top}/{p}"), c.into_bytes()))
        .collect();
    tarball(&entries)
}

#[test]
fn a_directory_on_the_box_registers_with_or_without_a_running_server() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let key = Command::new(BIN)
        .args(["mint-key", "--label", "ops", "--data-dir"])
        .arg(&d)
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&key.stdout).trim().to_string();
    let add = |extra: &[&str]| {
        Command::new(BIN)
            .args(["org-template", "add"])
            .arg(fixture_dir("acme-engineering"))
            .args(extra)
            .arg("--data-dir")
            .arg(&d)
            .output()
            .unwrap()
    };
    let offline = add(&[]);
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));
    let listing: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(
        (listing["dir"].clone(), listing["workspaces"].clone()),
        (json!("acme-engineering"), json!(12))
    );
    // Taken: refused without --replace, with the server running too.
    let serve = Serve::start(&d);
    let again = add(&[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("replace"));
    assert!(add(&["--replace"]).status.success());
    assert!(add(&["--name", "second copy"]).status.success());
    assert_eq!(serve.status("/org/templates/second-copy", &token), 200);
    let missing = Command::new(BIN)
        .args(["org-template", "add", "/nonexistent", "--data-dir"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("org.yaml"));
}

#[test]
fn a_tarball_registers_like_its_directory_and_is_bounded() {
    let app = spawn_app();
    let upload = |bytes: Vec<u8>, query: &str| {
        app.post_raw(
            &format!("/org/templates{query}"),
            &app.admin,
            "application/gzip",
            &bytes,
        )
    };
    let r = upload(fixture_tarball("acme-engineering", "acme-main"), "?name=acme");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["dir"].clone(), r.body["workspaces"].clone()),
        (json!("acme"), json!(12))
    );
    let imported = app.post("/org/import", &app.admin, json!({"dir": "acme", "force": true}));
    assert_eq!(imported.status, 201, "{}", imported.text);
    assert_eq!(imported.body["count"], 12);

    // Up to 2,000 files; one more is refused before anything is stored.
    let mut entries = vec![(
        "org.yaml".to_string(),
        b"name: big\nworkspaces:\n  - name: a\n".to_vec(),
    )];
    entries.extend((1..2000).map(|i| (format!("docs/{i}.md"), b"x".to_vec())));
    let big = upload(tarball(&entries), "?name=big");
    assert_eq!(big.status, 201, "{}", big.text);
    entries.push(("docs/one-more.md".into(), b"x".to_vec()));
    let over = upload(tarball(&entries), "?name=over");
    assert_eq!((over.status, over.code()), (400, "invalid_template"));
    assert_eq!(app.get("/org/templates/over", &app.admin).status, 404);

    // A small archive that unpacks to more than a template may hold.
    let bomb = tarball(&[("org.yaml".into(), vec![b'a'; 2 * 1024 * 1024])]);
    assert!(bomb.len() < 64 * 1024);
    assert_eq!(upload(bomb, "").status, 400);
    assert_eq!(upload(b"not a tarball".to_vec(), "").status, 400);
    // The gate comes first: a read-only key learns nothing from a body.
    let ro = app.mint_role("read-only", &[]);
    let r = app.post_raw("/org/templates", &ro, "application/gzip", b"garbage");
    assert_eq!(r.status, 403);
}
