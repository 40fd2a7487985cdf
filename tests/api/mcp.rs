//! POST /mcp, spoken by hand: who gets in, which tools each key sees, what
//! a refused or failed call looks like, and that no tool hands out a
//! secret. (The official MCP Inspector drives both transports in e2e.rs.)

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, TestApp};
use crate::sessions::{call, signed_in};

fn rpc(app: &TestApp, headers: &[(&str, &str)], method: &str, params: Value) -> (u16, Value, String) {
    let mut h = vec![
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    h.extend_from_slice(headers);
    let r = call(
        app,
        "POST",
        "/mcp",
        &h,
        Some(json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})),
    );
    let www = r.www_authenticate.clone().unwrap_or_default();
    (r.status, r.body, www)
}

fn as_key(app: &TestApp, key: &str, method: &str, params: Value) -> Value {
    let auth = format!("Bearer {key}");
    let (status, body, _) = rpc(app, &[("Authorization", &auth)], method, params);
    assert_eq!(status, 200, "{body}");
    body
}

fn tools(app: &TestApp, key: &str) -> Vec<String> {
    let body = as_key(app, key, "tools/list", json!({}));
    body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// A tool call's result: (isError, the JSON it carried).
fn tool(app: &TestApp, key: &str, name: &str, args: Value) -> (bool, Value) {
    let body = as_key(app, key, "tools/call", json!({"name": name, "arguments": args}));
    let result = &body["result"];
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    (result["isError"] == true, serde_json::from_str(text).unwrap())
}

#[test]
fn only_an_org_key_as_a_bearer_gets_in() {
    let app = spawn_app();
    let (status, body, www) = rpc(&app, &[], "tools/list", json!({}));
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    assert!(www.starts_with("Bearer"), "{www}");
    let (_, agent) = app.workspace("w", None);
    let auth = format!("Bearer {agent}");
    assert_eq!(rpc(&app, &[("Authorization", &auth)], "tools/list", json!({})).0, 403);
    // The browser's cookie is never enough, even from the pages themselves.
    let cookie = signed_in(&app);
    let (status, _, _) = rpc(
        &app,
        &[("Cookie", &cookie), ("Origin", &app.base), ("X-Molecule-UI", "1")],
        "tools/list",
        json!({}),
    );
    assert_eq!(status, 403);
    // A revoked key: refused on its very next call.
    let key = app.mint(json!({"name": "agent"}));
    let token = key["auth_token"].as_str().unwrap();
    assert!(!tools(&app, token).is_empty());
    app.delete(&format!("/org/tokens/{}", key["id"].as_str().unwrap()), &app.admin);
    let auth = format!("Bearer {token}");
    assert_eq!(rpc(&app, &[("Authorization", &auth)], "tools/list", json!({})).0, 401);
}

#[test]
fn a_page_on_another_site_or_a_rebound_name_is_refused() {
    let app = spawn_app();
    let auth = format!("Bearer {}", app.admin);
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let (status, body, _) = rpc(
        &app,
        &[("Authorization", &auth), ("Origin", "https://evil.example")],
        "tools/list",
        json!({}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("cors_origin_not_allowed")),
        "{body}"
    );
    let rebound = format!("evil.example:{port}");
    let (status, _, _) = rpc(
        &app,
        &[("Authorization", &auth), ("Host", &rebound)],
        "tools/list",
        json!({}),
    );
    assert_eq!(status, 403);
    let localhost = format!("localhost:{port}");
    let (status, _, _) = rpc(
        &app,
        &[("Authorization", &auth), ("Host", &localhost)],
        "tools/list",
        json!({}),
    );
    assert_eq!(status, 200);
}

#[test]
fn each_key_sees_the_tools_its_scope_allows() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    let all = tools(&app, &app.admin);
    let reader = tools(&app, &app.mint_role("read-only", &[]));
    let bound = tools(&app, &app.mint_role("admin", &[&ws]));
    assert!(all.len() >= 40, "{all:?}");
    for t in ["delete_workspace", "mint_org_key", "set_global_secret", "import_org"] {
        assert!(all.contains(&t.to_string()) && !reader.contains(&t.to_string()), "{t}");
    }
    assert!(reader.iter().all(|t| all.contains(t)));
    // Bound to a workspace: its workspace's tools, nothing org-wide.
    for t in ["delete_workspace", "set_secret", "decide_approval"] {
        assert!(bound.contains(&t.to_string()), "{t}");
    }
    for t in ["set_global_secret", "import_org", "list_org_templates", "verify_audit"] {
        assert!(!bound.contains(&t.to_string()), "{t}");
    }
    // Hints say what a tool does.
    let body = as_key(&app, &app.admin, "tools/list", json!({}));
    let hints = |name: &str| {
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["annotations"]
            .clone()
    };
    assert_eq!(hints("delete_workspace")["destructiveHint"], true);
    assert_eq!(hints("list_workspaces")["readOnlyHint"], true);
    assert_eq!(hints("create_workspace")["destructiveHint"], false);
}

#[test]
fn refusals_and_failures_are_tool_errors_and_unknown_tools_protocol_errors() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    let reader = app.mint_role("read-only", &[]);
    let (is_error, body) = tool(
        &app,
        &reader,
        "delete_workspace",
        json!({"workspace_id": ws, "confirm": true}),
    );
    assert!(is_error);
    assert_eq!(body["code"], "forbidden");
    assert_eq!(app.get(&format!("/workspaces/{ws}"), &app.admin).status, 200);
    let (is_error, body) = tool(&app, &app.admin, "delete_workspace", json!({"workspace_id": ws}));
    assert!(is_error && body["code"] == "confirmation_required", "{body}");
    let (is_error, body) = tool(&app, &app.admin, "get_workspace", json!({"workspace_id": "nope"}));
    assert!(is_error && body["code"] == "invalid_id", "{body}");
    let (is_error, body) = tool(
        &app,
        &app.admin,
        "create_workspace",
        json!({"name": "x", "colour": "red"}),
    );
    assert!(is_error && body["error"].as_str().unwrap().contains("colour"), "{body}");
    let (is_error, _) = tool(
        &app,
        &app.admin,
        "delete_workspace",
        json!({"workspace_id": ws, "confirm": true}),
    );
    assert!(!is_error);
    let body = as_key(
        &app,
        &app.admin,
        "tools/call",
        json!({"name": "no_such_tool", "arguments": {}}),
    );
    assert_eq!(body["error"]["code"], -32602, "{body}");
    // An org import is a dry run unless told otherwise.
    let yaml = "name: Tiny\nworkspaces:\n  - name: a\n";
    let (is_error, plan) = tool(&app, &app.admin, "import_org", json!({"yaml": yaml}));
    assert!(!is_error, "{plan}");
    assert_eq!(app.get("/workspaces", &app.admin).body.as_array().unwrap().len(), 0);
    let (_, done) = tool(&app, &app.admin, "import_org", json!({"yaml": yaml, "dry_run": false}));
    assert_eq!(done["count"], 1, "{done}");
}

#[test]
fn no_tool_hands_out_a_secret_value_or_a_whole_channel_credential() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    let key = app.admin.clone();
    let (is_error, _) = tool(
        &app,
        &key,
        "set_secret",
        json!({"workspace_id": ws, "key": "OPENAI_API_KEY", "value": "sk-never-shown-1234"}),
    );
    assert!(!is_error);
    tool(
        &app,
        &key,
        "set_global_secret",
        json!({"key": "GLOBAL_TOKEN", "value": "glob-never-shown"}),
    );
    let hook = "https://hooks.slack.com/services/T000/B000/never-shown-xyz";
    let (is_error, _) = tool(
        &app,
        &key,
        "add_channel",
        json!({"workspace_id": ws, "channel_type": "slack", "config": format!("{{\"webhook_url\": \"{hook}\"}}"), "allowed_users": "U1, U2"}),
    );
    assert!(!is_error);
    let mut seen = String::new();
    for (name, args) in [
        ("list_secrets", json!({"workspace_id": ws})),
        ("list_global_secrets", json!({})),
        ("list_channels", json!({"workspace_id": ws})),
        ("get_config", json!({"workspace_id": ws})),
        ("export_bundle", json!({"workspace_id": ws})),
        ("list_audit", json!({})),
        ("get_workspace", json!({"workspace_id": ws})),
    ] {
        let (is_error, body) = tool(&app, &key, name, args);
        assert!(!is_error, "{name}: {body}");
        seen.push_str(&body.to_string());
    }
    for secret in ["sk-never-shown-1234", "glob-never-shown", "never-shown-xyz"] {
        assert!(!seen.contains(secret), "{secret} leaked");
    }
    assert!(seen.contains("OPENAI_API_KEY") && seen.contains("hooks.slack.com"));
}

#[test]
fn tool_calls_are_limited_per_key_and_each_is_audited() {
    let app = spawn_with(|s| s.mcp_calls_per_minute = 3);
    let other = app.mint_role("admin", &[]);
    for _ in 0..3 {
        assert!(!tool(&app, &app.admin, "whoami", json!({})).0);
    }
    let (is_error, body) = tool(&app, &app.admin, "whoami", json!({}));
    assert!(
        is_error && body["code"] == "rate_limited" && body["retry_after_seconds"].as_u64().unwrap() > 0,
        "{body}"
    );
    assert!(
        !tool(&app, &other, "whoami", json!({})).0,
        "another key has its own limit"
    );
    let trail = app.get("/org/audit?limit=20", &app.admin).body;
    let calls: Vec<&Value> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "mcp.tool_call")
        .collect();
    assert_eq!(calls.len(), 4, "three by the first key, one by the other");
    assert!(calls
        .iter()
        .all(|e| e["detail"]["via"] == "mcp" && e["detail"]["tool"] == "whoami"));
}

#[test]
fn transport_refusals_keep_their_words_and_tools_know_where_they_were_reached() {
    let app = spawn_app();
    let auth = format!("Bearer {}", app.admin);
    // No Accept for both JSON and an event stream: rmcp's 406, in our shape.
    let r = call(
        &app,
        "POST",
        "/mcp",
        &[("Authorization", &auth)],
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
    );
    assert_eq!((r.status, r.code()), (406, "not_acceptable"), "{}", r.text);
    assert!(
        r.body["error"].as_str().unwrap().contains("text/event-stream"),
        "{}",
        r.text
    );
    // A paged list says where the next page starts.
    for i in 0..3 {
        app.workspace(&format!("w{i}"), None);
    }
    let (_, page) = tool(&app, &app.admin, "list_workspaces", json!({"limit": 2}));
    assert_eq!(page["workspaces"].as_array().unwrap().len(), 2, "{page}");
    let (_, rest) = tool(
        &app,
        &app.admin,
        "list_workspaces",
        json!({"limit": 2, "cursor": page["next_cursor"]}),
    );
    assert_eq!(rest["workspaces"].as_array().unwrap().len(), 1, "{rest}");
    // An external workspace's connection block names the address the agent
    // used (upper-case loopback names are loopback too).
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let host = format!("LOCALHOST:{port}");
    let (status, body, _) = rpc(
        &app,
        &[("Authorization", &auth), ("Host", &host)],
        "tools/call",
        json!({"name": "create_workspace", "arguments": {"name": "remote", "external": true}}),
    );
    assert_eq!(status, 200, "{body}");
    let made: Value = serde_json::from_str(body["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(made["connection"]["platform_url"], format!("http://{host}"), "{made}");
}

#[test]
fn a_call_that_revokes_its_own_key_is_still_on_record() {
    let app = spawn_app();
    let key = app.mint(json!({"name": "self"}));
    let (token, id) = (key["auth_token"].as_str().unwrap(), key["id"].as_str().unwrap());
    let (is_error, _) = tool(&app, token, "revoke_org_key", json!({"key_id": id}));
    assert!(!is_error);
    let trail = app.get("/org/audit?limit=5", &app.admin).body;
    let last = &trail["entries"][0];
    assert_eq!(
        (last["action"].as_str(), last["detail"]["tool"].as_str()),
        (Some("mcp.tool_call"), Some("revoke_org_key")),
        "{trail}"
    );
    assert_eq!(trail["entries"][1]["action"], "org_key.revoke");
    assert_eq!(trail["entries"][1]["detail"]["via"], "mcp");
    let auth = format!("Bearer {token}");
    assert_eq!(rpc(&app, &[("Authorization", &auth)], "tools/list", json!({})).0, 401);
}
