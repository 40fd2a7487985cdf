//! Org templates and import: register, dry run, import, replace.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{fixture_files, spawn_app, TestApp};

const ACME: &str = "org-templates/acme-engineering";

fn ready(app: &TestApp) {
    for p in ["git-tools", "web-search", "rust-analyzer", "terraform"] {
        app.plugin(p);
    }
    for (k, v) in [
        ("OPENAI_API_KEY", "sk-openai"),
        ("ANTHROPIC_API_KEY", "sk-ant"),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T1/B1/acmeSECRET"),
    ] {
        assert_eq!(
            app.post("/settings/secrets", &app.admin, json!({"key": k, "value": v}))
                .status,
            200
        );
    }
}

fn register(app: &TestApp) -> Value {
    let r = app.post(
        "/org/templates",
        &app.admin,
        json!({"name": "Acme Engineering", "files": fixture_files(ACME)}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// Everything an import could change, as counts.
fn snapshot(app: &TestApp) -> Vec<i64> {
    [
        "workspaces",
        "workspace_tokens",
        "channels",
        "workspace_plugins",
        "workspace_config",
        "secrets",
        "audit_log",
    ]
    .iter()
    .map(|t| app.count(t))
    .collect()
}

#[test]
fn a_multi_file_template_registers_lists_and_replaces() {
    let app = spawn_app();
    let b = register(&app);
    assert_eq!(b["dir"], "acme-engineering");
    assert_eq!(b["workspaces"], 12);
    assert_eq!(
        b["required_env"],
        json!(["OPENAI_API_KEY", {"any_of": ["ANTHROPIC_API_KEY", "AZURE_OPENAI_KEY"]}])
    );
    assert_eq!(b["recommended_env"], json!(["GITHUB_TOKEN", "SLACK_WEBHOOK_URL"]));
    let list = app.get("/org/templates", &app.admin);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["name"], "Acme Engineering");
    let one = app.get("/org/templates/acme-engineering", &app.admin);
    assert_eq!(one.status, 200);
    assert!(one.body["files"]["teams/qa.yaml"].is_string());
    assert_eq!(one.body["tree"].as_array().unwrap().len(), 12);

    let again = app.post(
        "/org/templates",
        &app.admin,
        json!({"name": "Acme Engineering", "files": fixture_files(ACME)}),
    );
    assert_eq!((again.status, again.code()), (409, "template_exists"));
    let replaced = app.post(
        "/org/templates?replace=true",
        &app.admin,
        json!({"name": "Acme Engineering", "files": fixture_files(ACME)}),
    );
    assert_eq!((replaced.status, replaced.body["replaced"].clone()), (201, json!(true)));
    assert_eq!(app.delete("/org/templates/acme-engineering", &app.admin).status, 200);
    assert_eq!(app.get("/org/templates/acme-engineering", &app.admin).status, 404);
    assert_eq!(app.delete("/org/templates/acme-engineering", &app.admin).status, 404);
}

#[test]
fn a_single_yaml_document_registers_as_yaml_or_inside_json() {
    let app = spawn_app();
    let yaml = "name: Tiny Org\nworkspaces:\n  - name: solo\n";
    let r = app.post_raw("/org/templates", &app.admin, "application/yaml", yaml.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["dir"].clone(), r.body["workspaces"].clone()),
        (json!("tiny-org"), json!(1))
    );
    let r = app.post(
        "/org/templates",
        &app.admin,
        json!({"yaml": yaml.replace("Tiny", "Other")}),
    );
    assert_eq!(r.body["dir"], "other-org");
}

#[test]
fn an_admin_registers_dry_runs_imports_and_replaces_an_org() {
    let app = spawn_app();
    ready(&app);
    register(&app);
    let (old, old_tok) = app.workspace("legacy", None);
    let before = snapshot(&app);

    let dry = app.post(
        "/org/import",
        &app.admin,
        json!({"dir": "acme-engineering", "mode": "replace", "dry_run": true}),
    );
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(snapshot(&app), before, "a dry run changes nothing");
    assert_eq!(dry.body["count"], 12);
    assert_eq!(dry.body["remove"][0]["name"], "legacy");
    let create = dry.body["create"].as_array().unwrap();
    assert_eq!(create[0]["name"], "CTO");
    assert_eq!(create[0]["channels"], json!(["slack"]));
    let qa = create.iter().find(|n| n["name"] == "QA Lead").unwrap();
    assert!(qa["channels_skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("${TELEGRAM_BOT_TOKEN}"));
    assert_eq!(dry.body["missing_env"], json!([]));
    assert!(!dry.text.contains("mol_ws_"), "a dry run hands out no tokens");

    let r = app.post("/org/import", &app.admin, json!({"dir": "acme-engineering"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["org"], "Acme Engineering");
    assert_eq!(r.body["count"], 12);
    let first = r.body["workspaces"].as_array().unwrap().clone();
    for w in &first {
        let tok = w["auth_token"].as_str().unwrap();
        assert_eq!(
            app.post_empty(&format!("/workspaces/{}/heartbeat", w["id"].as_str().unwrap()), tok)
                .status,
            200
        );
    }
    let cto = &first[0];
    assert_eq!((cto["tier"].clone(), cto["parent_id"].clone()), (json!(3), Value::Null));
    let cfg = app.get(
        &format!("/workspaces/{}/config", cto["id"].as_str().unwrap()),
        cto["auth_token"].as_str().unwrap(),
    );
    assert_eq!(cfg.body["source"], "org:Acme Engineering");
    assert!(cfg.body["config"]["files"]["system-prompt.md"]
        .as_str()
        .unwrap()
        .contains("CTO of Acme"));
    assert!(cfg.body["config"]["files"]["initial-prompt.md"]
        .as_str()
        .unwrap()
        .contains("Welcome to Acme"));
    let channels = app.get(
        &format!("/workspaces/{}/channels", cto["id"].as_str().unwrap()),
        cto["auth_token"].as_str().unwrap(),
    );
    assert_eq!(
        channels.body[0]["config"]["webhook_url"],
        "https://hooks.slack.com/services/T1/B1/acmeSECRET"
    );
    let infra = first.iter().find(|w| w["name"] == "Infrastructure Developer").unwrap();
    let plugins = app.get(
        &format!("/workspaces/{}/plugins", infra["id"].as_str().unwrap()),
        &app.admin,
    );
    let names: Vec<_> = plugins
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("git-tools"), json!("terraform")],
        "!web-search opted out of the defaults"
    );
    assert_eq!(
        app.get("/workspaces", &app.admin).body.as_array().unwrap().len(),
        13,
        "merge adds beside legacy"
    );

    let r = app.post(
        "/org/import",
        &app.admin,
        json!({"dir": "acme-engineering", "mode": "replace"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let listed = app.get("/workspaces", &app.admin).body;
    assert_eq!(listed.as_array().unwrap().len(), 12, "exactly the new tree");
    let new_ids: Vec<_> = r.body["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect();
    assert!(listed.as_array().unwrap().iter().all(|w| new_ids.contains(&w["id"])));
    assert_eq!(
        app.post_empty(&format!("/workspaces/{old}/heartbeat"), &old_tok).status,
        401
    );
    for w in &first {
        let path = format!("/workspaces/{}/heartbeat", w["id"].as_str().unwrap());
        assert_eq!(
            app.post_empty(&path, w["auth_token"].as_str().unwrap()).status,
            401,
            "every old token is dead"
        );
    }
    for w in r.body["workspaces"].as_array().unwrap() {
        let path = format!("/workspaces/{}/heartbeat", w["id"].as_str().unwrap());
        assert_eq!(app.post_empty(&path, w["auth_token"].as_str().unwrap()).status, 200);
    }
    let audit = app.get("/org/audit?limit=1000", &app.admin).text;
    assert_eq!(audit.matches("\"org.import\"").count(), 2);
}

#[test]
fn missing_required_env_is_a_412_unless_forced() {
    let app = spawn_app();
    for p in ["git-tools", "web-search", "rust-analyzer", "terraform"] {
        app.plugin(p);
    }
    register(&app);
    app.post(
        "/settings/secrets",
        &app.admin,
        json!({"key": "AZURE_OPENAI_KEY", "value": "x"}),
    );
    let r = app.post("/org/import", &app.admin, json!({"dir": "acme-engineering"}));
    assert_eq!((r.status, r.code()), (412, "missing_env"));
    assert_eq!(r.body["missing_env"], json!(["OPENAI_API_KEY"]));
    assert_eq!(r.body["required_env"].as_array().unwrap().len(), 2);
    assert_eq!(app.count("workspaces"), 0);
    let forced = app.post(
        "/org/import",
        &app.admin,
        json!({"dir": "acme-engineering", "force": true}),
    );
    assert_eq!(forced.status, 201, "{}", forced.text);
}

#[test]
fn unregistered_plugins_are_reported_by_the_dry_run_and_refuse_the_import() {
    let app = spawn_app();
    let yaml = "name: P\nworkspaces:\n  - name: a\n    plugins: [ghost]\n";
    let dry = app.post("/org/import", &app.admin, json!({"yaml": yaml, "dry_run": true}));
    assert_eq!(dry.body["problems"][0]["plugin"], "ghost");
    let r = app.post("/org/import", &app.admin, json!({"yaml": yaml}));
    assert_eq!((r.status, r.code()), (400, "invalid_template"));
    assert!(r.body["problems"][0]["workspace"]
        .as_str()
        .unwrap()
        .contains("workspaces[0]"));
    app.plugin("ghost");
    app.put_allowlist(&["other"]);
    let r = app.post("/org/import", &app.admin, json!({"yaml": yaml}));
    assert_eq!(r.body["problems"][0]["problem"], "not in the org allowlist");
}

#[test]
fn a_failure_on_the_last_node_leaves_the_database_exactly_as_before() {
    let app = spawn_app();
    ready(&app);
    register(&app);
    let (keep, keep_tok) = app.workspace("keep", None);
    // A fault on the twelfth and last workspace, as a full disk would cause.
    let now = app.clock.now_ms();
    app.state
        .db
        .write(now, |ctx| {
            ctx.execute_batch(
                "CREATE TRIGGER fail_last BEFORE INSERT ON workspaces WHEN NEW.name = 'Exploratory Tester'
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            )?;
            Ok(())
        })
        .unwrap();
    let before = snapshot(&app);
    for mode in ["merge", "replace"] {
        let r = app.post(
            "/org/import",
            &app.admin,
            json!({"dir": "acme-engineering", "mode": mode}),
        );
        assert_eq!(r.status, 500, "{}", r.text);
        let err = r.body["error"].as_str().unwrap();
        assert!(
            err.contains("Exploratory Tester") && err.contains("nothing was imported"),
            "{err}"
        );
        assert!(!err.contains("injected"), "no internals: {err}");
        assert_eq!(snapshot(&app), before, "{mode}: no partial tree, nothing removed");
    }
    assert_eq!(
        app.post_empty(&format!("/workspaces/{keep}/heartbeat"), &keep_tok)
            .status,
        200
    );
    app.state
        .db
        .write(now, |ctx| Ok(ctx.execute_batch("DROP TRIGGER fail_last")?))
        .unwrap();
    assert_eq!(
        app.post("/org/import", &app.admin, json!({"dir": "acme-engineering"}))
            .status,
        201
    );
}

#[test]
fn include_escapes_cycles_and_depth_are_clear_400s() {
    let app = spawn_app();
    let cases = [
        (
            json!({"org.yaml": "name: x\nworkspaces: [!include ../../etc/passwd]\n"}),
            "escapes the template",
        ),
        (
            json!({"org.yaml": "name: x\nworkspaces: [!include a.yaml]\n", "a.yaml": "!include org.yaml\n"}),
            "include cycle",
        ),
        (
            json!({"org.yaml": "name: x\nworkspaces: [!include nope.yaml]\n"}),
            "not in the template",
        ),
        (json!({"teams/a.yaml": "name: a\n"}), "no org.yaml"),
        (
            json!({"org.yaml": "name: x\nworkspaces: []\n"}),
            "at least one workspace",
        ),
        (
            json!({"org.yaml": "name: x\nworkspaces:\n  - name: a\n    tier: 7\n"}),
            "workspaces[0] (\"a\"): tier",
        ),
        (json!({"../org.yaml": "x"}), "inside the template"),
    ];
    for (files, words) in cases {
        let r = app.post("/org/templates", &app.admin, json!({"name": "t", "files": files}));
        assert_eq!(r.status, 400, "{files}: {}", r.text);
        assert!(r.body["error"].as_str().unwrap().contains(words), "{files}: {}", r.text);
    }
    let mut deep = serde_json::Map::new();
    deep.insert("org.yaml".into(), json!("name: x\nworkspaces: [!include f1.yaml]\n"));
    for i in 1..20 {
        deep.insert(format!("f{i}.yaml"), json!(format!("!include f{}.yaml\n", i + 1)));
    }
    deep.insert("f20.yaml".into(), json!("name: leaf\n"));
    let r = app.post("/org/templates", &app.admin, json!({"name": "t", "files": deep}));
    assert!(
        r.body["error"].as_str().unwrap().contains("deeper than 16"),
        "{}",
        r.text
    );
    assert_eq!(app.get("/org/templates", &app.admin).body, json!([]));
}

#[test]
fn yaml_bombs_get_a_400_within_a_second() {
    let app = spawn_app();
    let laughs: String = std::iter::once(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n".to_string(),
    )
    .chain((b'b'..=b'i').map(|c| {
        let prev = (c - 1) as char;
        format!(
            "{}: &{} [{}]\n",
            c as char,
            c as char,
            vec![format!("*{prev}"); 9].join(",")
        )
    }))
    .collect();
    let bombs = [
        laughs,
        format!("name: x\nworkspaces: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
        format!("name: x\nworkspaces:\n{}", "  - name: w\n".repeat(2000)),
    ];
    for bomb in bombs {
        let started = Instant::now();
        let r = app.post_raw("/org/import", &app.admin, "application/yaml", bomb.as_bytes());
        assert_eq!(r.status, 400, "{}", &r.text[..r.text.len().min(200)]);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    let huge = format!(
        "name: x\ndescription: {}\nworkspaces: [{{name: a}}]\n",
        "y".repeat(5 * 1024 * 1024)
    );
    let r = app.post_raw("/org/templates", &app.admin, "application/yaml", huge.as_bytes());
    assert!(r.status == 413 || r.status == 400, "{}", r.status);
    assert_eq!(app.count("workspaces"), 0);
}

#[test]
fn only_unbound_admin_keys_import_or_register() {
    let app = spawn_app();
    let (ws, ws_tok) = app.workspace("w", None);
    let yaml = json!({"yaml": "name: x\nworkspaces: [{name: a}]\n"});
    for key in [
        app.mint_role("workspace-write", &[]),
        app.mint_role("read-only", &[]),
        app.mint_role("admin", &[&ws]),
        ws_tok,
    ] {
        assert_eq!(app.post("/org/import", &key, yaml.clone()).status, 403);
        assert_eq!(app.post("/org/templates", &key, yaml.clone()).status, 403);
    }
    let r = app.post_raw(
        "/org/import?dry_run=true&mode=merge",
        &app.admin,
        "text/yaml",
        b"name: x\nworkspaces: [{name: a}]\n",
    );
    assert_eq!((r.status, r.body["count"].clone()), (200, json!(1)));
    let r = app.post_raw(
        "/org/import?mode=sideways",
        &app.admin,
        "text/yaml",
        b"name: x\nworkspaces: [{name: a}]\n",
    );
    assert_eq!(r.status, 400);
    let r = app.post("/org/import", &app.admin, json!({"dir": "nope"}));
    assert_eq!(r.status, 404);
    let r = app.post("/org/import", &app.admin, json!({}));
    assert_eq!(r.status, 400);
}

#[test]
fn global_secrets_fill_only_credential_fields_of_imported_channels() {
    let app = spawn_app();
    app.post(
        "/settings/secrets",
        &app.admin,
        json!({"key": "OPENAI_API_KEY", "value": "sk-never-in-a-plain-field"}),
    );
    let yaml = "name: Leak\nworkspaces:\n  - name: a\n    channels:\n      - type: slack\n        config:\n          webhook_url: https://hooks.slack.com/services/x\n          username: ${OPENAI_API_KEY}\n";
    let r = app.post("/org/import", &app.admin, json!({"yaml": yaml}));
    assert_eq!(r.status, 201, "{}", r.text);
    let skipped = &r.body["workspaces"][0]["channels_skipped"][0];
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("only fill credential fields"),
        "{skipped}"
    );
    assert!(!r.text.contains("sk-never"));
    assert!(!crate::helpers::contains(&app.db_bytes(), "sk-never-in-a-plain-field"));
}

#[test]
fn files_copied_into_every_workspace_are_budgeted() {
    let app = spawn_app();
    let nodes: String = (0..20)
        .map(|i| format!("  - name: n{i}\n    files_dir: big\n"))
        .collect();
    let files =
        json!({"org.yaml": format!("name: Heavy\nworkspaces:\n{nodes}"), "big/blob.md": "b".repeat(1024 * 1024)});
    let r = app.post("/org/templates", &app.admin, json!({"name": "heavy", "files": files}));
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"].as_str().unwrap().contains("bytes of files and prompts"),
        "{}",
        r.text
    );
}

#[test]
fn query_options_with_a_json_body_are_refused_not_ignored() {
    let app = spawn_app();
    let r = app.post(
        "/org/import?dry_run=true",
        &app.admin,
        json!({"yaml": "name: x\nworkspaces: [{name: a}]\n"}),
    );
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().contains("in the body"));
    assert_eq!(app.count("workspaces"), 0, "no real import ran");
}
