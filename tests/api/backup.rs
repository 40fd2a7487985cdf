use serde_json::json;

use crate::helpers::{spawn_app, spawn_with};

fn cli(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_molecule-tenant"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn a_backup_taken_while_serving_restores_keys_workspaces_and_secrets() {
    let app = spawn_app();
    let (ws, _) = app.workspace("kept", None);
    let key = app.mint(json!({"name": "survivor"}))["auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.post(
        &format!("/workspaces/{ws}/secrets"),
        &app.admin,
        json!({"key": "API_KEY", "value": "restored-value"}),
    );
    assert_eq!(r.status, 200);
    let data = app.dir.path().join("data");
    let file = app.dir.path().join("backup.db");

    let o = cli(&["backup", "--to", file.to_str().unwrap()], &data);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600,
        "owner-only"
    );
    let again = cli(&["backup", "--to", file.to_str().unwrap()], &data);
    assert!(!again.status.success(), "an existing file is never overwritten");
    let busy = cli(&["restore", "--from", file.to_str().unwrap()], &data);
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("server is running"));

    let fresh = tempfile::tempdir().unwrap();
    let target = fresh.path().join("data");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(data.join("secrets.key"), target.join("secrets.key")).unwrap();
    // Without the audit key that sealed its trail, a backup is not restored.
    let o = cli(&["restore", "--from", file.to_str().unwrap()], &target);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("audit key file"));
    assert!(!target.join("molecule.db").exists(), "nothing was replaced");
    std::fs::copy(data.join("audit.key"), target.join("audit.key")).unwrap();
    let o = cli(&["restore", "--from", file.to_str().unwrap()], &target);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let back = spawn_with(|s| s.data_dir = target.clone());
    assert_eq!(back.get("/org/whoami", &key).status, 200, "keys survive");
    assert_eq!(back.get("/org/whoami", &app.admin).status, 200);
    let names: Vec<_> = back
        .get("/workspaces", &key)
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("kept")]);
    let tok = back.post_empty(&format!("/workspaces/{ws}/tokens"), &key).body["auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let values = back.get(&format!("/workspaces/{ws}/secrets/values"), &tok);
    assert_eq!(
        values.body,
        json!({"API_KEY": "restored-value"}),
        "secrets decrypt with the key file"
    );
}

#[test]
fn a_damaged_backup_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all").unwrap();
    let o = cli(&["restore", "--from", junk.to_str().unwrap()], &dir.path().join("d"));
    assert!(!o.status.success());
    assert!(!dir.path().join("d").join("molecule.db").exists());
}
