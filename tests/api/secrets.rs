use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

use crate::helpers::{contains, spawn_app, spawn_with, TestApp};

fn values(app: &TestApp, ws: &str, token: &str) -> crate::helpers::Resp {
    app.get(&format!("/workspaces/{ws}/secrets/values"), token)
}

fn put(app: &TestApp, ws: &str, key: &str, value: &str) {
    let r = app.post(
        &format!("/workspaces/{ws}/secrets"),
        &app.admin,
        json!({"key": key, "value": value}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"status": "saved", "key": key}));
}

#[test]
fn the_admin_sets_a_secret_and_only_the_agent_reads_its_value() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("agent", None);
    put(&app, &ws, "OPENAI_API_KEY", "sk-workspace-value");
    for (k, v) in [
        ("OPENAI_API_KEY", "sk-global-value"),
        ("ANTHROPIC_API_KEY", "sk-ant-global"),
    ] {
        let r = app.post("/settings/secrets", &app.admin, json!({"key": k, "value": v}));
        assert_eq!(r.body, json!({"status": "saved", "key": k, "scope": "global"}));
    }

    let list = app.get(&format!("/workspaces/{ws}/secrets"), &app.admin);
    assert_eq!(list.status, 200);
    let scopes: Vec<(String, String)> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap().into(), s["scope"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        scopes,
        vec![
            ("OPENAI_API_KEY".into(), "workspace".into()),
            ("ANTHROPIC_API_KEY".into(), "global".into())
        ]
    );
    assert_eq!(list.body[0]["has_value"], true);
    assert!(!list.text.contains("sk-"), "names only: {}", list.text);

    let v = values(&app, &ws, &tok);
    assert_eq!(v.status, 200);
    assert_eq!(
        v.body,
        json!({"ANTHROPIC_API_KEY": "sk-ant-global", "OPENAI_API_KEY": "sk-workspace-value"})
    );
}

#[test]
fn no_org_key_ever_reads_a_value_and_no_workspace_reads_another() {
    let app = spawn_app();
    let (a, a_tok) = app.workspace("a", None);
    let (b, b_tok) = app.workspace("b", None);
    put(&app, &a, "TOKEN_A", "value-a");
    put(&app, &b, "TOKEN_B", "value-b");
    let keys = [
        app.admin.clone(),
        app.mint_role("read-only", &[]),
        app.mint_role("workspace-write", &[]),
    ];
    for key in &keys {
        let r = values(&app, &a, key);
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(!r.text.contains("value-a"));
    }
    for (ws, tok) in [(&a, &b_tok), (&b, &a_tok)] {
        let r = values(&app, ws, tok);
        assert_eq!(r.status, 403);
        assert!(!r.text.contains("value-"));
        assert_eq!(app.get(&format!("/workspaces/{ws}/secrets"), tok).status, 403);
    }
    assert_eq!(values(&app, &a, &a_tok).body, json!({"TOKEN_A": "value-a"}));
    let r = app.post(
        &format!("/workspaces/{a}/secrets"),
        &a_tok,
        json!({"key": "X", "value": "y"}),
    );
    assert_eq!(r.status, 403, "the agent reads its secrets; the admin sets them");
}

#[test]
fn the_database_file_holds_no_plaintext_secret_and_the_key_file_is_owner_only() {
    let app = spawn_app();
    let (ws, _) = app.workspace("agent", None);
    let secret = "sk-proj-PLAINTEXT-CANARY-0123456789";
    put(&app, &ws, "OPENAI_API_KEY", secret);
    let global = "GLOBAL-CANARY-abcdefghijklmnop";
    app.post(
        "/settings/secrets",
        &app.admin,
        json!({"key": "SHARED", "value": global}),
    );
    let webhook = "https://hooks.slack.com/services/T000/B000/WEBHOOK-CANARY-xyz";
    let r = app.post(
        &format!("/workspaces/{ws}/channels"),
        &app.admin,
        json!({"channel_type": "slack", "config": {"webhook_url": webhook}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let bytes = app.db_bytes();
    assert!(!bytes.is_empty());
    for plain in [secret, global, webhook, "WEBHOOK-CANARY"] {
        assert!(!contains(&bytes, plain), "{plain} is in the database file");
    }
    let key_file = app.dir.path().join("data").join("secrets.key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for f in ["molecule.db", "molecule.db-wal", "molecule.db-shm"] {
        let mode = std::fs::metadata(app.dir.path().join("data").join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} is owner-only");
    }
    let key_hex = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !contains(&bytes, key_hex.trim()),
        "the master key is not in the database"
    );
}

#[test]
fn a_value_moved_to_another_workspace_or_name_fails_to_decrypt_as_a_whole() {
    let app = spawn_app();
    let (a, _) = app.workspace("a", None);
    let (b, b_tok) = app.workspace("b", None);
    put(&app, &a, "API_KEY", "secret-of-a");
    put(&app, &b, "API_KEY", "secret-of-b");
    put(&app, &b, "OTHER", "also-b");
    let now = app.clock.now_ms();
    app.state
        .db
        .write(now, |ctx| {
            ctx.execute(
                "UPDATE secrets SET nonce = (SELECT nonce FROM secrets WHERE scope = ?1 AND name = 'API_KEY'),
                     ciphertext = (SELECT ciphertext FROM secrets WHERE scope = ?1 AND name = 'API_KEY')
                 WHERE scope = ?2 AND name = 'API_KEY'",
                [&a, &b],
            )?;
            Ok(())
        })
        .unwrap();
    let r = values(&app, &b, &b_tok);
    assert_eq!(r.status, 500);
    assert_eq!(r.code(), "decryption_failed");
    assert_eq!(r.body["failed_keys"], json!(["workspace:API_KEY"]));
    assert!(
        !r.text.contains("secret-of") && !r.text.contains("also-b"),
        "never a partial map: {}",
        r.text
    );

    // The same ciphertext under another name of the same workspace fails too.
    let (c, c_tok) = app.workspace("c", None);
    put(&app, &c, "FIRST", "one");
    app.state
        .db
        .write(now, |ctx| {
            ctx.execute(
                "UPDATE secrets SET name = 'SECOND' WHERE scope = ?1 AND name = 'FIRST'",
                [&c],
            )?;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        values(&app, &c, &c_tok).body["failed_keys"],
        json!(["workspace:SECOND"])
    );
}

#[test]
fn bad_secret_input_gets_a_400_naming_the_rule() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    let path = format!("/workspaces/{ws}/secrets");
    let big = "v".repeat(64 * 1024 + 1);
    for (body, words) in [
        (json!({"key": "openai_key", "value": "x"}), "^[A-Z][A-Z0-9_]{0,127}$"),
        (json!({"key": "1KEY", "value": "x"}), "upper-case letter"),
        (json!({"key": "A-B", "value": "x"}), "upper-case letter"),
        (
            json!({"key": format!("A{}", "B".repeat(128)), "value": "x"}),
            "at most 128",
        ),
        (json!({"key": "", "value": "x"}), "key must match"),
        (json!({"key": "KEY", "value": ""}), "must not be empty"),
        (json!({"key": "KEY", "value": big}), "at most 65536 bytes"),
        (json!({"key": "KEY"}), "missing field `value`"),
        (json!({"key": "KEY", "value": 5}), "invalid type"),
        (json!({"key": "KEY", "value": "x", "scope": "global"}), "unknown field"),
    ] {
        for target in [path.as_str(), "/settings/secrets"] {
            let r = app.post(target, &app.admin, body.clone());
            assert_eq!(
                r.status,
                400,
                "{target} {}: {}",
                &body.to_string()[..40.min(body.to_string().len())],
                r.text
            );
            assert!(r.body["error"].as_str().unwrap().contains(words), "{}", r.text);
        }
    }
    let ok = "v".repeat(64 * 1024);
    assert_eq!(
        app.post(&path, &app.admin, json!({"key": "BIG", "value": ok})).status,
        200
    );
    let r = app.delete(&format!("{path}/ABSENT"), &app.admin);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    assert_eq!(app.delete("/settings/secrets/ABSENT", &app.admin).status, 404);
    let r = app.delete(&format!("{path}/BIG"), &app.admin);
    assert_eq!(r.body, json!({"status": "deleted", "key": "BIG"}));
    assert_eq!(app.get(&path, &app.admin).body, json!([]));
}

#[test]
fn secrets_given_at_creation_are_stored_with_the_workspace_or_not_at_all() {
    let app = spawn_app();
    let bad = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "w", "secrets": {"GOOD": "x", "bad-name": "y"}}),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"].as_str().unwrap().starts_with("secrets:"));
    assert_eq!(app.get("/workspaces", &app.admin).body, json!([]));
    let r = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "w", "secrets": {"OPENAI_API_KEY": "sk-1", "MODEL": "gpt"}}),
    );
    assert_eq!(r.status, 201);
    let (id, tok) = (r.body["id"].as_str().unwrap(), r.body["auth_token"].as_str().unwrap());
    assert_eq!(
        values(&app, id, tok).body,
        json!({"MODEL": "gpt", "OPENAI_API_KEY": "sk-1"})
    );
}

#[test]
fn global_secrets_are_org_wide_admin_territory() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    let body = json!({"key": "SHARED", "value": "v"});
    for key in [
        app.mint_role("read-only", &[]),
        app.mint_role("workspace-write", &[]),
        app.mint_role("admin", &[&ws]),
    ] {
        assert_eq!(app.post("/settings/secrets", &key, body.clone()).status, 403);
        assert_eq!(app.delete("/settings/secrets/SHARED", &key).status, 403);
    }
    assert_eq!(
        app.get("/settings/secrets", &app.mint_role("read-only", &[])).status,
        200
    );
    assert_eq!(
        app.get("/settings/secrets", &app.mint_role("admin", &[&ws])).status,
        403
    );
}

#[test]
fn secret_changes_are_audited_by_name_never_by_value() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    put(&app, &ws, "API_KEY", "audit-canary-value");
    app.delete(&format!("/workspaces/{ws}/secrets/API_KEY"), &app.admin);
    let audit = app.get("/org/audit", &app.admin);
    let actions: Vec<_> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(actions[..2], [json!("secret.delete"), json!("secret.set")]);
    assert_eq!(audit.body["entries"][1]["detail"]["key"], "API_KEY");
    assert!(!audit.text.contains("audit-canary-value"));
}

#[test]
fn deleting_a_workspace_erases_its_secrets() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    put(&app, &ws, "API_KEY", "x");
    app.delete(&format!("/workspaces/{ws}"), &app.admin);
    let left: i64 = app
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT count(*) FROM secrets", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(left, 0);
}

fn rotate(app: &TestApp) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_molecule-tenant"))
        .args(["rotate-secrets-key", "--data-dir"])
        .arg(app.dir.path().join("data"))
        .output()
        .unwrap()
}

#[test]
fn rotating_the_master_key_while_serving_loses_nothing() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("agent", None);
    put(&app, &ws, "API_KEY", "before-rotation");
    app.post(
        &format!("/workspaces/{ws}/channels"),
        &app.admin,
        json!({"channel_type": "discord", "config": {"webhook_url": "https://discord.com/api/webhooks/1/secret"}}),
    );
    let key_file = app.dir.path().join("data").join("secrets.key");
    let before = std::fs::read_to_string(&key_file).unwrap();
    let out = rotate(&app);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 secret(s) and 1 channel(s)"));
    let after = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(before, after);
    assert_eq!(
        std::fs::read_to_string(key_file.with_extension("key.old")).unwrap(),
        before
    );
    assert_eq!(values(&app, &ws, &tok).body, json!({"API_KEY": "before-rotation"}));
    put(&app, &ws, "NEW_KEY", "after-rotation");
    assert_eq!(
        values(&app, &ws, &tok).body,
        json!({"API_KEY": "before-rotation", "NEW_KEY": "after-rotation"})
    );
    let channels = app.get(&format!("/workspaces/{ws}/channels"), &tok);
    assert_eq!(
        channels.body[0]["config"]["webhook_url"],
        "https://discord.com/api/webhooks/1/secret"
    );
    let now_key: Vec<String> = app
        .state
        .db
        .read(|c| {
            let mut s = c.prepare("SELECT DISTINCT key_id FROM secrets UNION SELECT DISTINCT key_id FROM channels")?;
            let ids = s.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
        .unwrap();
    assert_eq!(now_key.len(), 1, "every value sealed under one key, the new one");
    let audit = app.get("/org/audit", &app.admin);
    assert!(audit.text.contains("secrets_key.rotate"));
}

#[test]
fn an_interrupted_rotation_is_finished_or_undone_on_the_next_start() {
    // After the commit but before the key files were swapped: the rows are
    // under the new key, which is only in secrets.key.new.
    let app = spawn_app();
    let (ws, tok) = app.workspace("agent", None);
    put(&app, &ws, "API_KEY", "survives");
    let data = app.dir.path().join("data");
    let key_file = data.join("secrets.key");
    let original = std::fs::read(&key_file).unwrap();
    assert!(rotate(&app).status.success());
    let rotated = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(data.join("secrets.key.old")).unwrap();
    std::fs::rename(&key_file, data.join("secrets.key.new")).unwrap();
    std::fs::write(&key_file, &original).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    drop(tok);

    let dir = app.dir.path().to_path_buf();
    let mut app = app;
    app.stop_server();
    let mut again = spawn_with(|s| s.data_dir = dir.join("data"));
    assert_eq!(std::fs::read(&key_file).unwrap(), rotated, "the rotation was finished");
    assert!(!data.join("secrets.key.new").exists());
    let fresh = again.post_empty(&format!("/workspaces/{ws}/tokens"), &again.admin);
    let fresh_tok = fresh.body["auth_token"].as_str().unwrap();
    assert_eq!(values(&again, &ws, fresh_tok).body, json!({"API_KEY": "survives"}));

    // Before the commit: a .new key that no row uses is discarded.
    std::fs::write(data.join("secrets.key.new"), format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(data.join("secrets.key.new"), std::fs::Permissions::from_mode(0o600)).unwrap();
    again.stop_server();
    let third = spawn_with(|s| s.data_dir = dir.join("data"));
    assert!(!data.join("secrets.key.new").exists());
    assert_eq!(std::fs::read(&key_file).unwrap(), rotated);
    let t = third.post_empty(&format!("/workspaces/{ws}/tokens"), &third.admin);
    assert_eq!(
        values(&third, &ws, t.body["auth_token"].as_str().unwrap()).body,
        json!({"API_KEY": "survives"})
    );
    let _: BTreeMap<String, Value> = BTreeMap::new();
}

#[test]
fn a_named_key_file_must_exist_and_be_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.key");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_molecule-tenant"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("d"))
        .arg("--secrets-key-file")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("MOLECULE_SECRETS_KEY_FILE") && err.contains("does not exist"),
        "{err}"
    );
    let open = dir.path().join("open.key");
    std::fs::write(&open, format!("{}\n", "cd".repeat(32))).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_molecule-tenant"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("d"))
        .env("MOLECULE_SECRETS_KEY_FILE", &open)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("chmod 600"), "{err}");
}

#[test]
fn a_missing_key_file_is_never_silently_replaced_while_values_are_sealed() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    put(&app, &ws, "API_KEY", "x");
    let mut app = app;
    app.stop_server();
    let data = app.dir.path().join("data");
    std::fs::rename(data.join("secrets.key"), data.join("moved-away.key")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_molecule-tenant"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("missing") && err.contains("restore"),
        "{err}"
    );
    assert!(!data.join("secrets.key").exists(), "no new key was made");
    let o = rotate(&app);
    assert!(!o.status.success(), "rotation refuses too");
}

#[test]
fn recovery_leaves_a_rotation_that_is_still_running_alone() {
    let app = spawn_app();
    let data = app.dir.path().join("data");
    let key_file = data.join("secrets.key");
    // Another process is mid-rotation: it holds the lock and has written .new.
    let held = molecule_tenant::crypto::RotationLock::acquire(&key_file).unwrap();
    std::fs::write(data.join("secrets.key.new"), format!("{}\n", "ef".repeat(32))).unwrap();
    std::fs::set_permissions(data.join("secrets.key.new"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = app.dir.path().to_path_buf();
    let mut app = app;
    app.stop_server();
    let mut other = spawn_with(|s| s.data_dir = dir.join("data"));
    assert!(
        data.join("secrets.key.new").exists(),
        "an in-flight rotation's key is not discarded"
    );
    drop(held);
    other.stop_server();
    let after = spawn_with(|s| s.data_dir = dir.join("data"));
    assert!(
        !data.join("secrets.key.new").exists(),
        "once the lock is free, an unused .new is discarded"
    );
    drop(after);
}
