//! Workspace templates, plugins and the allowlist, and bundles.

use molecule_tenant::domain::org_yaml::MAX_FILES;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

#[test]
fn a_workspace_template_is_checked_whole_before_it_is_stored_and_applies_its_defaults() {
    let app = spawn_app();
    let files = json!({
        "config.yaml": "runtime: claude-code\nruntime_config:\n  model: opus\ntier: 3\ndescription: Reviews code\n",
        "system-prompt.md": "You review code.",
        "skills/review/SKILL.md": "Review carefully.",
    });
    let r = app.post(
        "/templates/import",
        &app.admin,
        json!({"name": "Code Reviewer", "files": files}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"status": "imported", "id": "code-reviewer", "name": "Code Reviewer"})
    );
    let dup = app.post(
        "/templates/import",
        &app.admin,
        json!({"name": "code reviewer", "files": {"a.md": "x"}}),
    );
    assert_eq!((dup.status, dup.code()), (409, "template_exists"));

    let bad = json!({"name": "evil", "files": {"ok.md": "fine", "../../etc/cron.d/x": "boom"}});
    let r = app.post("/templates/import", &app.admin, bad);
    assert_eq!(r.status, 400);
    let many: serde_json::Map<String, Value> = (0..=MAX_FILES).map(|i| (format!("f{i}.md"), json!("x"))).collect();
    assert_eq!(
        app.post("/templates/import", &app.admin, json!({"name": "many", "files": many}))
            .status,
        400
    );
    let list = app.get("/templates", &app.admin);
    assert_eq!(
        list.body.as_array().unwrap().len(),
        1,
        "nothing of a refused template was stored"
    );
    assert_eq!(
        (list.body[0]["runtime"].clone(), list.body[0]["model"].clone()),
        (json!("claude-code"), json!("opus"))
    );

    let w = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "reviewer", "template": "code-reviewer"}),
    );
    assert_eq!(w.status, 201, "{}", w.text);
    assert_eq!(
        (w.body["runtime"].clone(), w.body["tier"].clone()),
        (json!("claude-code"), json!(3))
    );
    let cfg = app.get(
        &format!("/workspaces/{}/config", w.body["id"].as_str().unwrap()),
        w.body["auth_token"].as_str().unwrap(),
    );
    assert_eq!(cfg.body["config"]["model"], "opus");
    assert_eq!(cfg.body["config"]["files"]["system-prompt.md"], "You review code.");
    let own = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "r2", "template": "code-reviewer", "model": "haiku", "tier": 1}),
    );
    assert_eq!(own.body["tier"], 1, "an explicit value wins over the template");
    let missing = app.post("/workspaces", &app.admin, json!({"name": "r3", "template": "nope"}));
    assert_eq!(missing.status, 400);
    assert!(missing.body["error"]
        .as_str()
        .unwrap()
        .contains("no workspace template"));
}

#[test]
fn plugins_register_install_pin_and_download() {
    let app = spawn_app();
    let r = app.post(
        "/plugins",
        &app.admin,
        json!({"name": "git-tools", "version": "2.1.0", "description": "git helpers", "runtimes": ["claude_code"],
               "files": {"plugin.yaml": "name: git-tools\n", "skills/commit/SKILL.md": "Write good commits."}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let sha = r.body["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    app.plugin("anywhere");
    assert_eq!(
        app.post(
            "/plugins",
            &app.admin,
            json!({"name": "Bad Name", "version": "1", "files": {"a": "b"}})
        )
        .status,
        400
    );
    assert_eq!(
        app.post(
            "/plugins",
            &app.admin,
            json!({"name": "git-tools", "version": "3", "files": {"a": "b"}})
        )
        .status,
        409
    );
    let for_rt = app.get("/plugins?runtime=claude-code", &app.admin);
    assert_eq!(
        for_rt.body.as_array().unwrap().len(),
        2,
        "a plugin naming no runtime fits all"
    );
    assert_eq!(
        app.get("/plugins?runtime=crewai", &app.admin)
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get("/plugins/sources", &app.admin).body,
        json!({"schemes": ["local"]})
    );

    let w = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "w", "runtime": "claude-code"}),
    );
    let (ws, tok) = (
        w.body["id"].as_str().unwrap().to_string(),
        w.body["auth_token"].as_str().unwrap().to_string(),
    );
    let path = format!("/workspaces/{ws}/plugins");
    let r = app.post(&path, &app.admin, json!({"source": "github://owner/repo"}));
    assert_eq!(r.status, 400);
    assert_eq!(r.body["available_schemes"], json!(["local"]));
    assert_eq!(app.post(&path, &app.admin, json!({"source": ""})).status, 400);
    assert_eq!(
        app.post(&path, &app.admin, json!({"source": "local://../etc"})).status,
        400
    );
    assert_eq!(app.post(&path, &app.admin, json!({"source": "ghost"})).status, 404);
    let wrong = app.post(
        &path,
        &app.admin,
        json!({"source": "git-tools", "sha256": "00".repeat(32)}),
    );
    assert_eq!((wrong.status, wrong.code()), (422, "sha256_mismatch"));
    let ok = app.post(
        &path,
        &app.admin,
        json!({"source": "local://git-tools", "sha256": sha.to_uppercase()}),
    );
    assert_eq!(
        ok.body,
        json!({"status": "installed", "plugin": "git-tools", "source": "local://git-tools"})
    );
    assert_eq!(
        app.post(&path, &tok, json!({"source": "anywhere"})).status,
        403,
        "the agent does not install"
    );

    let (dl, _) = app.get_raw(
        &format!("{path}/git-tools/download"),
        &tok,
        &[("Accept", "application/json")],
    );
    assert_eq!(dl.status, 200);
    assert_eq!(dl.body["files"]["skills/commit/SKILL.md"], "Write good commits.");
    // Upstream's SDK asks with Accept: */* and unpacks a gzipped tar, its
    // files at the archive's root.
    let (tgz, bytes) = app.get_raw(&format!("{path}/git-tools/download"), &tok, &[("Accept", "*/*")]);
    assert_eq!(tgz.status, 200);
    assert_eq!(tgz.headers["content-type"], "application/gzip");
    assert!(tgz.headers["content-disposition"].contains("git-tools.tar.gz"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut found = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        found.insert(name, text);
    }
    assert_eq!(found["skills/commit/SKILL.md"], "Write good commits.");
    assert_eq!(
        app.get(&format!("{path}/git-tools/download"), &app.admin).status,
        403,
        "downloads are the agent's"
    );
    assert_eq!(
        app.get(&format!("{path}/anywhere/download"), &tok).status,
        404,
        "not installed here"
    );
    assert_eq!(app.get(&path, &tok).body[0]["name"], "git-tools");
    assert_eq!(
        app.delete(&format!("{path}/git-tools"), &app.admin).body,
        json!({"status": "uninstalled", "plugin": "git-tools"})
    );
    assert_eq!(app.delete(&format!("{path}/git-tools"), &app.admin).status, 404);
}

#[test]
fn the_allowlist_is_enforced_at_install_and_fails_closed() {
    let app = spawn_app();
    app.plugin("allowed");
    app.plugin("blocked");
    let (ws, _) = app.workspace("w", None);
    let path = format!("/workspaces/{ws}/plugins");
    assert_eq!(app.get("/org/plugins/allowlist", &app.admin).body["allow_all"], true);
    app.put_allowlist(&["allowed"]);
    let list = app.get("/org/plugins/allowlist", &app.admin);
    assert_eq!(list.body["allow_all"], false);
    assert!(list.body["plugins"][0]["enabled_by"]
        .as_str()
        .unwrap()
        .starts_with("org-token:"));
    let r = app.post(&path, &app.admin, json!({"source": "blocked"}));
    assert_eq!(r.status, 403);
    assert!(r.body["error"].as_str().unwrap().contains("allowlist"));
    assert_eq!(app.post(&path, &app.admin, json!({"source": "allowed"})).status, 200);
    let ww = app.mint_role("workspace-write", &[]);
    let req = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let status = req
        .put(app.url("/org/plugins/allowlist"))
        .header("Authorization", format!("Bearer {ww}"))
        .send_json(json!({"plugins": []}))
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 403, "only admins set the allowlist");
    // Fails closed: with the allowlist table gone, installs are refused.
    app.state
        .db
        .write(app.clock.now_ms(), |ctx| {
            Ok(ctx.execute_batch("ALTER TABLE plugin_allowlist RENAME TO gone")?)
        })
        .unwrap();
    let r = app.post(&path, &app.admin, json!({"source": "blocked"}));
    assert_eq!(r.status, 500, "an error refuses the install: {}", r.text);
    assert!(!app.get(&path, &app.admin).text.contains("blocked"));
}

fn strip_ids(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        for child in o
            .get_mut("sub_workspaces")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            strip_ids(child);
        }
    }
}

fn tokens_work(app: &TestApp, node: &Value) -> usize {
    let path = format!("/workspaces/{}/heartbeat", node["workspace_id"].as_str().unwrap());
    assert_eq!(app.post_empty(&path, node["auth_token"].as_str().unwrap()).status, 200);
    1 + node["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| tokens_work(app, c))
        .sum::<usize>()
}

#[test]
fn a_bundle_imports_atomically_and_round_trips_through_export() {
    let app = spawn_app();
    let bundle: Value = serde_json::from_str(include_str!("../../fixtures/bundles/research-team.bundle.json")).unwrap();
    let r = app.post("/bundles/import", &app.admin, bundle.clone());
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["runtime"], "claude-code", "from the config.yaml prompt");
    assert_eq!(tokens_work(&app, &r.body), 4);

    let root = r.body["workspace_id"].as_str().unwrap();
    let mut exported = app.get(&format!("/bundles/export/{root}"), &app.admin).body;
    assert_eq!(exported["sub_workspaces"].as_array().unwrap().len(), 2);
    assert_eq!(
        exported["skills"][0]["files"]["templates/summary.md"],
        bundle["skills"][0]["files"]["templates/summary.md"]
    );
    let again = app.post("/bundles/import", &app.admin, exported.clone());
    assert_eq!(again.status, 201);
    let mut twice = app
        .get(
            &format!("/bundles/export/{}", again.body["workspace_id"].as_str().unwrap()),
            &app.admin,
        )
        .body;
    strip_ids(&mut exported);
    strip_ids(&mut twice);
    assert_eq!(exported, twice, "export then import gives an equivalent tree");
}

#[test]
fn a_bad_bundle_changes_nothing() {
    let app = spawn_app();
    let mut bundle: Value =
        serde_json::from_str(include_str!("../../fixtures/bundles/research-team.bundle.json")).unwrap();
    bundle["sub_workspaces"][1]["sub_workspaces"][0]["skills"] = json!([{"id": "../escape", "files": {}}]);
    let r = app.post("/bundles/import", &app.admin, bundle.clone());
    assert_eq!((r.status, r.code()), (400, "invalid_bundle"));
    assert!(r.body["error"].as_str().unwrap().contains("Fact Checker"), "{}", r.text);
    bundle["sub_workspaces"][1]["sub_workspaces"][0]["skills"] = json!([{"id": "ok", "files": {"/etc/passwd": "x"}}]);
    assert_eq!(app.post("/bundles/import", &app.admin, bundle).status, 400);
    assert_eq!(app.count("workspaces"), 0);
    assert_eq!(
        app.post(
            "/bundles/import",
            &app.mint_role("workspace-write", &[]),
            json!({"name": "x"})
        )
        .status,
        403
    );
    assert_eq!(
        app.get("/bundles/export/00000000-0000-4000-8000-000000000000", &app.admin)
            .status,
        404
    );
}

#[test]
fn template_and_bundle_fields_get_the_workspace_rules() {
    let app = spawn_app();
    let bad = json!({"name": "t", "files": {"config.yaml": "runtime: \"bell\\u0007\"\n"}});
    let r = app.post("/templates/import", &app.admin, bad);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains("runtime"));
    for prompts in [json!({"system-prompt.md": "x"}), json!({"skills/foo/a.md": "x"})] {
        let r = app.post("/bundles/import", &app.admin, json!({"name": "b", "prompts": prompts}));
        assert_eq!((r.status, r.code()), (400, "invalid_bundle"), "{}", r.text);
    }
    let r = app.post(
        "/bundles/import",
        &app.admin,
        json!({"name": "b", "runtime": "x".repeat(101)}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(app.count("workspaces"), 0);
}

#[test]
fn installs_check_the_runtime_and_downloads_recheck_the_allowlist() {
    let app = spawn_app();
    let r = app.post(
        "/plugins",
        &app.admin,
        json!({"name": "codex-only", "version": "1", "runtimes": ["codex"], "files": {"a": "b"}}),
    );
    assert_eq!(r.status, 201);
    app.plugin("general");
    let (ws, tok) = app.workspace("w", None);
    let path = format!("/workspaces/{ws}/plugins");
    let r = app.post(&path, &app.admin, json!({"source": "codex-only"}));
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().contains("runtimes"), "{}", r.text);
    assert_eq!(app.post(&path, &app.admin, json!({"source": "general"})).status, 200);
    assert_eq!(app.get(&format!("{path}/general/download"), &tok).status, 200);
    app.put_allowlist(&["something-else"]);
    assert_eq!(
        app.get(&format!("{path}/general/download"), &tok).status,
        403,
        "no longer served once disallowed"
    );
    assert_eq!(app.delete(&format!("/workspaces/{ws}"), &app.admin).status, 200);
    assert_eq!(app.delete(&format!("{path}/general"), &app.admin).status, 404);
}
