//! The upstream Molecule clients, replayed call by call: each request as
//! the client's own source sends it (body, headers, and the headers it
//! leaves out), and the outcome the client relies on. Sources are named
//! per test (molecule-sdk-python 9622f0b, molecule-core 7cf77f2 for the
//! workspace runtime, the canvas and the Go server, molecule-cli b74022d,
//! molecule-mcp-server 2b47fda).

use serde_json::{json, Value};

use crate::helpers::{read_response, spawn_app, spawn_with, Resp, TestApp};

/// A request with exactly these headers (none added but what ureq always
/// sends), like the client's own HTTP library.
fn send(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Resp {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = ureq::http::Request::builder().method(method).uri(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = match body {
        Some(b) => agent.run(req.body(b.to_string()).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .expect("request");
    read_response(res)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// What `molecule_agent.RemoteAgentClient` sends on every call: its
/// bearer (once it has a token), `Origin: <platform_url>` by default, and
/// JSON bodies from `requests`.
fn sdk(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let auth = bearer(token);
    let mut headers = vec![("Origin", app.base.as_str()), ("User-Agent", "python-requests/2.32.3")];
    if !token.is_empty() {
        headers.push(("Authorization", auth.as_str()));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    send(app, method, path, &headers, body.as_ref())
}

#[test]
fn the_python_sdk_brings_a_remote_agent_online_reads_its_secrets_and_installs_a_plugin() {
    let app = spawn_app();
    // The docs' tutorial: an external workspace (its token in the answer).
    let created = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "remote-demo", "tier": 2, "runtime": "external"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["external"], true);
    let (ws, tok) = (
        created.body["id"].as_str().unwrap().to_string(),
        created.body["auth_token"].as_str().unwrap().to_string(),
    );
    app.post(
        &format!("/workspaces/{ws}/secrets"),
        &app.admin,
        json!({"key": "OPENAI_API_KEY", "value": "sk-test"}),
    );
    app.plugin("git-tools");
    app.post(
        &format!("/workspaces/{ws}/plugins"),
        &app.admin,
        json!({"source": "local://git-tools"}),
    );

    // client.register(): sent with no Authorization (client.py:506). This
    // server answers no route without a credential.
    let card = json!({"name": format!("remote-agent-{}", &ws[..8])});
    let reg = sdk(
        &app,
        "",
        "POST",
        "/registry/register",
        Some(json!({"id": ws, "url": "remote://no-inbound", "agent_card": card})),
    );
    assert_eq!(reg.status, 401);

    // With the token saved (`connect --token`), the run loop: heartbeat,
    // then state; raise_for_status on both.
    let hb = sdk(
        &app,
        &tok,
        "POST",
        "/registry/heartbeat",
        Some(
            json!({"workspace_id": ws, "current_task": "remote-agent demo idle", "active_tasks": 0,
                    "error_rate": 0.0, "sample_error": "", "uptime_seconds": 3}),
        ),
    );
    assert_eq!(hb.status, 200, "{}", hb.text);
    let state = sdk(&app, &tok, "GET", &format!("/workspaces/{ws}/state"), None);
    assert_eq!(state.status, 200);
    assert_eq!(
        state.body,
        json!({"workspace_id": ws, "status": "online", "paused": false, "deleted": false})
    );
    let shown = app.get(&format!("/workspaces/{ws}"), &app.admin);
    assert_eq!(shown.body["status"], "online");
    assert_eq!(shown.body["current_task"], "remote-agent demo idle");
    assert_eq!(shown.body["uptime_seconds"], 3);

    // pull_secrets(): a flat {NAME: value} map.
    let secrets = sdk(&app, &tok, "GET", &format!("/workspaces/{ws}/secrets/values"), None);
    assert_eq!(secrets.body, json!({"OPENAI_API_KEY": "sk-test"}));

    // install_plugin(): Accept */* (requests' default), the body opened as
    // a tar.gz with plugin.yaml at its root.
    let (dl, bytes) = app.get_raw(
        &format!("/workspaces/{ws}/plugins/git-tools/download"),
        &tok,
        &[("Accept", "*/*"), ("Origin", app.base.as_str())],
    );
    assert_eq!(dl.status, 200);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["plugin.yaml".to_string()]);
    // …then it reports the install with its own token: installing is an
    // admin's act (the SDK does not check this answer).
    let report = sdk(
        &app,
        &tok,
        "POST",
        &format!("/workspaces/{ws}/plugins"),
        Some(json!({"source": "local://git-tools"})),
    );
    assert_eq!(report.status, 403);

    // Paused: the run loop's should_stop.
    app.post_empty(&format!("/workspaces/{ws}/pause"), &app.admin);
    let paused = sdk(&app, &tok, "GET", &format!("/workspaces/{ws}/state"), None);
    assert_eq!(
        (paused.body["paused"].clone(), paused.body["status"].clone()),
        (json!(true), json!("paused"))
    );
}

#[test]
fn the_workspace_runtime_registers_and_heartbeats_with_its_token() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("runtime", None);
    let auth = bearer(&tok);
    let json_auth = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    // workspace/main.py:230-277 (httpx).
    let card = json!({
        "name": "Backend Engineer", "description": "builds the API", "version": "1.0.0",
        "url": "http://ws-runtime:8000",
        "skills": [{"id": "code", "name": "Code", "description": "writes code", "tags": ["dev"]}],
        "capabilities": {"streaming": true, "pushNotifications": false},
    });
    let reg = send(
        &app,
        "POST",
        "/registry/register",
        &json_auth,
        Some(&json!({"id": ws, "url": "http://ws-runtime:8000", "agent_card": card})),
    );
    assert_eq!((reg.status, reg.body.clone()), (200, json!({"status": "registered"})));
    // heartbeat.py (core adds runtime_state and runtime_metadata).
    let hb = send(
        &app,
        "POST",
        "/registry/heartbeat",
        &json_auth,
        Some(
            &json!({"workspace_id": ws, "error_rate": 0.25, "sample_error": "timeout talking to the LLM",
                     "active_tasks": 2, "current_task": "reviewing PR 42", "uptime_seconds": 120,
                     "runtime_state": "wedged",
                     "runtime_metadata": {"capabilities": {"status_mgmt": true}, "idle_timeout_seconds": 600}}),
        ),
    );
    assert_eq!(hb.status, 200, "{}", hb.text);
    // molecule_ai_status.set_status("") sends a small heartbeat.
    let idle = send(
        &app,
        "POST",
        "/registry/heartbeat",
        &json_auth,
        Some(
            &json!({"workspace_id": ws, "current_task": "", "active_tasks": 0, "error_rate": 0,
                     "sample_error": "", "uptime_seconds": 0}),
        ),
    );
    assert_eq!(idle.status, 200);
    let shown = app.get(&format!("/workspaces/{ws}"), &app.admin).body;
    assert_eq!(shown["status"], "online");
    assert_eq!(shown["url"], "http://ws-runtime:8000");
    assert_eq!(shown["agent_card"]["skills"][0]["id"], "code");
    assert_eq!(shown["active_tasks"], 0);
    // The ConfigWatcher's update-card sends no Authorization (watcher.py).
    let unsigned = send(
        &app,
        "POST",
        "/registry/update-card",
        &[("Content-Type", "application/json")],
        Some(&json!({"workspace_id": ws, "agent_card": {"name": "renamed"}})),
    );
    assert_eq!(unsigned.status, 401);
    let signed = send(
        &app,
        "POST",
        "/registry/update-card",
        &json_auth,
        Some(&json!({"workspace_id": ws, "agent_card": {"name": "renamed"}})),
    );
    assert_eq!(signed.status, 200);
    assert_eq!(
        app.get(&format!("/workspaces/{ws}"), &app.admin).body["agent_card"]["name"],
        "renamed"
    );
    // A heartbeat is no admin change: registering is, and is audited.
    let audit = app.get("/org/audit", &app.admin).body;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "workspace.register").count(),
        2,
        "{actions:?}"
    );
}

#[test]
fn molecule_connect_registers_without_a_url_and_heartbeats() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("connected", None);
    let auth = bearer(&tok);
    // internal/connect/client.go: bearer, Content-Type only with a body,
    // Accept: application/json only when it decodes (it does not here).
    let h = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let reg = send(
        &app,
        "POST",
        "/registry/register",
        &h,
        Some(&json!({"id": ws, "agent_card": {"name": "molecule-connect",
            "description": "molecule connect (CLI bridge)", "version": "0.1.0"}, "delivery_mode": "poll"})),
    );
    assert_eq!(reg.status, 200, "{}", reg.text);
    let hb = send(
        &app,
        "POST",
        "/registry/heartbeat",
        &h,
        Some(&json!({"workspace_id": ws, "runtime_state": "ok", "uptime_seconds": 0})),
    );
    assert_eq!(hb.status, 200, "{}", hb.text);
    let shown = app.get(&format!("/workspaces/{ws}"), &app.admin).body;
    assert_eq!(
        (shown["status"].clone(), shown["delivery_mode"].clone()),
        (json!("online"), json!("poll"))
    );
    assert_eq!(shown["url"], Value::Null);
    // `molecule platform health`.
    assert_eq!(send(&app, "GET", "/health", &[], None).status, 200);
    // The admin commands send no credential: refused, as upstream does once
    // it has an admin token.
    assert_eq!(send(&app, "GET", "/workspaces", &[], None).status, 401);
}

#[test]
fn agent_routes_take_only_the_workspace_s_own_token() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("a", None);
    let (other, other_tok) = app.workspace("b", None);
    let body = json!({"workspace_id": ws, "active_tasks": 0});
    assert_eq!(
        app.post("/registry/heartbeat", &app.admin, body.clone()).status,
        403,
        "an org key"
    );
    assert_eq!(
        app.post("/registry/heartbeat", &other_tok, body.clone()).status,
        403,
        "another workspace"
    );
    assert_eq!(send(&app, "POST", "/registry/heartbeat", &[], Some(&body)).status, 401);
    let reg = json!({"id": other, "url": "http://x"});
    assert_eq!(app.post("/registry/register", &tok, reg).status, 403);
    let state = |t: &str, w: &str| app.get(&format!("/workspaces/{w}/state"), t).status;
    assert_eq!(state(&app.admin, &ws), 403);
    assert_eq!(state(&other_tok, &ws), 403);
    assert_eq!(state("", &ws), 401);
    // Authorization before validation: garbage from the wrong caller
    // learns nothing but 403.
    let garbage = json!({"nonsense": [1, 2, 3]});
    assert_eq!(app.post("/org/tokens", &tok, garbage.clone()).status, 403);
    assert_eq!(app.post("/registry/heartbeat", &app.admin, garbage.clone()).status, 403);
    let ro = app.mint_role("read-only", &[]);
    assert_eq!(app.post("/workspaces", &ro, garbage.clone()).status, 403);
    assert_eq!(
        app.post(&format!("/workspaces/{ws}/approvals"), &other_tok, garbage)
            .status,
        403
    );
    // A deleted workspace's token was revoked with it: the same 401.
    app.delete(&format!("/workspaces/{ws}"), &app.admin);
    assert_eq!(state(&tok, &ws), 401);
}

#[test]
fn the_canvas_creates_drags_nests_collapses_approves_and_mints_with_a_blank_label() {
    let app = spawn_app();
    let auth = bearer(&app.admin);
    // lib/api.ts: Content-Type: application/json on every call, GETs and
    // bodiless POSTs included.
    let h = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let call = |m: &str, p: &str, b: Option<Value>| send(&app, m, p, &h, b.as_ref());
    // EmptyState.tsx.
    let first = call(
        "POST",
        "/workspaces",
        Some(json!({"name": "My First Agent", "tier": 2, "canvas": {"x": 200, "y": 150}})),
    );
    assert_eq!(first.status, 201, "{}", first.text);
    let parent = first.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        (first.body["x"].clone(), first.body["y"].clone()),
        (json!(200.0), json!(150.0))
    );
    // CreateWorkspaceDialog.tsx: budget_limit always present (null when
    // blank), an external runtime answered with its connection block.
    let dialog = call(
        "POST",
        "/workspaces",
        Some(
            json!({"name": "Reviewer", "role": "reviews PRs", "tier": 3, "parent_id": parent,
                    "budget_limit": null, "canvas": {"x": 312.5, "y": 240.25}, "runtime": "external"}),
        ),
    );
    assert_eq!(dialog.status, 201, "{}", dialog.text);
    let child = dialog.body["id"].as_str().unwrap().to_string();
    let conn = &dialog.body["connection"];
    assert_eq!(conn["workspace_id"], child);
    assert_eq!(conn["auth_token"], dialog.body["auth_token"]);
    assert!(conn["registry_endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/registry/register"));
    assert!(conn["heartbeat_endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/registry/heartbeat"));
    // ExternalConnectModal.tsx fills the token in by these exact lines.
    assert!(conn["python_snippet"]
        .as_str()
        .unwrap()
        .contains("AUTH_TOKEN    = \"<paste from create response>\""));
    assert!(conn["curl_register_template"]
        .as_str()
        .unwrap()
        .contains("WORKSPACE_AUTH_TOKEN=\"<paste from create response>\""));
    let hermes = call(
        "POST",
        "/workspaces",
        Some(
            json!({"name": "Hermes", "tier": 3, "budget_limit": 12.5, "canvas": {"x": 1, "y": 2},
                    "runtime": "hermes", "secrets": {"OPENROUTER_API_KEY": "or-key"}, "model": "openrouter/x"}),
        ),
    );
    assert_eq!(hermes.status, 201, "{}", hermes.text);
    assert_eq!(hermes.body["budget_limit"], 12.5);

    // store/canvas.ts: drag, collapse, nest (and un-nest).
    let path = format!("/workspaces/{child}");
    assert_eq!(call("PATCH", &path, Some(json!({"x": 410.0, "y": 95.5}))).status, 200);
    assert_eq!(call("PATCH", &path, Some(json!({"collapsed": true}))).status, 200);
    let hermes_id = hermes.body["id"].as_str().unwrap();
    let nest = call(
        "PATCH",
        &format!("/workspaces/{hermes_id}"),
        Some(json!({"parent_id": parent, "x": 10, "y": 20})),
    );
    assert_eq!(nest.status, 200, "{}", nest.text);
    assert_eq!(nest.body["parent_id"], parent);
    let unnest = call(
        "PATCH",
        &format!("/workspaces/{hermes_id}"),
        Some(json!({"parent_id": null, "x": 10, "y": 20})),
    );
    assert_eq!(unnest.body["parent_id"], Value::Null);
    // store/socket.ts reads x, y and collapsed at the top of each row.
    let list = call("GET", "/workspaces", None);
    let row = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == child)
        .unwrap()
        .clone();
    assert_eq!(
        (row["x"].clone(), row["y"].clone(), row["collapsed"].clone()),
        (json!(410.0), json!(95.5), json!(true))
    );
    assert_eq!(row["external"], true);

    // ApprovalBanner.tsx.
    let (ws, ws_tok) = app.workspace("asker", None);
    let asked = app.post(
        &format!("/workspaces/{ws}/approvals"),
        &ws_tok,
        json!({"action": "deploy"}),
    );
    let aid = asked.body["approval_id"].as_str().unwrap();
    let pending = call("GET", "/approvals/pending", None);
    for field in [
        "id",
        "workspace_id",
        "workspace_name",
        "action",
        "reason",
        "status",
        "created_at",
    ] {
        assert!(pending.body[0].get(field).is_some(), "{field}");
    }
    let decided = call(
        "POST",
        &format!("/workspaces/{ws}/approvals/{aid}/decide"),
        Some(json!({"decision": "approved", "decided_by": "human"})),
    );
    assert_eq!(decided.status, 200, "{}", decided.text);
    assert!(decided.body["decided_by"].as_str().unwrap().starts_with("org-token:"));

    // OrgTokensTab.tsx with a blank label; TokensTab.tsx with no body.
    let key = call("POST", "/org/tokens", Some(json!({})));
    assert_eq!(key.status, 201, "{}", key.text);
    assert!(key.body["auth_token"].as_str().unwrap().starts_with("mol_org_"));
    let wtok = call("POST", &format!("/workspaces/{ws}/tokens"), None);
    assert_eq!(wtok.status, 201, "{}", wtok.text);
    // A field neither this server nor upstream knows is still refused.
    let unknown = call("POST", "/workspaces", Some(json!({"name": "x", "colour": "red"})));
    assert_eq!((unknown.status, unknown.code()), (400, "invalid_json"));
    let unknown = call("PATCH", &path, Some(json!({"colour": "red"})));
    assert_eq!(unknown.status, 400);
}

#[test]
fn a_canvas_on_another_origin_calls_with_a_bearer_key_and_never_with_the_cookie() {
    let canvas = "https://canvas.example.com";
    let app = spawn_with(|s| s.cors_origins = vec![canvas.to_string()]);
    let pre = |origin: &str| {
        send(
            &app,
            "OPTIONS",
            "/workspaces",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization,content-type"),
            ],
            None,
        )
    };
    let ok = pre(canvas);
    assert_eq!(ok.status, 204);
    assert_eq!(ok.headers["access-control-allow-origin"], canvas);
    assert!(ok.headers["access-control-allow-headers"].contains("Authorization"));
    assert!(ok.headers["access-control-allow-methods"].contains("PATCH"));
    let other = pre("https://evil.example");
    assert_eq!(other.status, 403);
    assert!(!other.headers.contains_key("access-control-allow-origin"));

    let auth = bearer(&app.admin);
    let listed = send(
        &app,
        "GET",
        "/workspaces",
        &[("Origin", canvas), ("Authorization", auth.as_str())],
        None,
    );
    assert_eq!(listed.status, 200);
    assert_eq!(listed.headers["access-control-allow-origin"], canvas);
    // Not listed: answered (an SDK sends Origin too), but not readable by a page.
    let elsewhere = send(
        &app,
        "GET",
        "/workspaces",
        &[("Origin", "https://evil.example"), ("Authorization", auth.as_str())],
        None,
    );
    assert_eq!(elsewhere.status, 200);
    assert!(!elsewhere.headers.contains_key("access-control-allow-origin"));

    // The session cookie is refused from any other origin, reads included.
    let session = app.post("/org/sessions", &app.admin, json!({}));
    let cookie = session.headers["set-cookie"].split(';').next().unwrap().to_string();
    let by_cookie = send(
        &app,
        "GET",
        "/org/tokens",
        &[("Origin", canvas), ("Cookie", cookie.as_str())],
        None,
    );
    assert_eq!((by_cookie.status, by_cookie.code()), (403, "cross_site_request"));
    let same = send(&app, "GET", "/org/tokens", &[("Cookie", cookie.as_str())], None);
    assert_eq!(same.status, 200);
}

#[test]
fn the_mcp_server_s_bodies_are_accepted_with_a_bearer_key() {
    let app = spawn_app();
    let auth = bearer(&app.admin);
    // src/api.ts sends only Content-Type: with no key, every call is 401.
    let bare = [("Content-Type", "application/json")];
    let h = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let body = json!({"name": "from-mcp", "role": "helper", "tier": 1, "runtime": "langgraph",
                      "workspace_dir": "/srv/work", "workspace_access": "read_only",
                      "canvas": {"x": 250.7, "y": 180.2}});
    assert_eq!(send(&app, "POST", "/workspaces", &bare, Some(&body)).status, 401);
    let created = send(&app, "POST", "/workspaces", &h, Some(&body));
    assert_eq!(created.status, 201, "{}", created.text);
    let ws = created.body["id"].as_str().unwrap().to_string();
    let upd = send(
        &app,
        "PATCH",
        &format!("/workspaces/{ws}"),
        &h,
        Some(&json!({"name": "renamed", "tier": 2})),
    );
    assert_eq!(upd.status, 200);
    let secret = send(
        &app,
        "POST",
        &format!("/workspaces/{ws}/secrets"),
        &h,
        Some(&json!({"key": "API_KEY", "value": "v"})),
    );
    assert_eq!(secret.status, 200);
    let global = send(
        &app,
        "PUT",
        "/settings/secrets",
        &h,
        Some(&json!({"key": "G", "value": "v"})),
    );
    assert_eq!(global.status, 200);
    let channel = send(
        &app,
        "POST",
        &format!("/workspaces/{ws}/channels"),
        &h,
        Some(
            &json!({"channel_type": "slack", "config": {"webhook_url": "https://hooks.slack.com/services/T/B/x"},
                     "allowed_users": []}),
        ),
    );
    assert_eq!(channel.status, 201, "{}", channel.text);
    let (asker, asker_tok) = app.workspace("asker", None);
    let asked = app.post(
        &format!("/workspaces/{asker}/approvals"),
        &asker_tok,
        json!({"action": "a"}),
    );
    let aid = asked.body["approval_id"].as_str().unwrap();
    let decided = send(
        &app,
        "POST",
        &format!("/workspaces/{asker}/approvals/{aid}/decide"),
        &h,
        Some(&json!({"decision": "denied", "decided_by": "mcp-client"})),
    );
    assert_eq!(decided.status, 200, "{}", decided.text);
    let gone = send(&app, "DELETE", &format!("/workspaces/{ws}?confirm=true"), &h, None);
    assert_eq!(gone.status, 200);
}
