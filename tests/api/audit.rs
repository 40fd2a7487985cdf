use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

fn entries(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/org/audit{query}"), &app.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[test]
fn every_mutation_lands_in_the_audit_trail_without_secrets() {
    let app = spawn_app();
    let key = app.mint(json!({"name": "k"}));
    let key_id = key["id"].as_str().unwrap();
    let (ws, ws_tok) = app.workspace("w", None);
    app.patch(&format!("/workspaces/{ws}"), &app.admin, json!({"name": "w2"}));
    app.post_empty(&format!("/workspaces/{ws}/pause"), &app.admin);
    app.post_empty(&format!("/workspaces/{ws}/resume"), &app.admin);
    let t = app.post_empty(&format!("/workspaces/{ws}/tokens"), &app.admin);
    app.delete(
        &format!("/workspaces/{ws}/tokens/{}", t.body["id"].as_str().unwrap()),
        &app.admin,
    );
    // No-ops change nothing and record nothing.
    app.patch(&format!("/workspaces/{ws}"), &app.admin, json!({}));
    app.post_empty(&format!("/workspaces/{ws}/resume"), &app.admin);
    let rotated = app.post(&format!("/org/tokens/{key_id}/rotate"), &app.admin, json!({}));
    app.delete(
        &format!("/org/tokens/{}", rotated.body["id"].as_str().unwrap()),
        &app.admin,
    );
    app.delete(&format!("/workspaces/{ws}"), &app.admin);

    let body = entries(&app, "");
    let actions: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "workspace.delete",
            "org_key.revoke",
            "org_key.rotate",
            "workspace_token.revoke",
            "workspace_token.mint",
            "workspace.resume",
            "workspace.pause",
            "workspace.update",
            "workspace.create",
            "org_key.mint",
        ]
    );
    let update = &body["entries"][7];
    assert_eq!(
        update["detail"],
        json!({"fields": ["name"], "before": {"name": "w"}, "after": {"name": "w2"}})
    );
    let first = &body["entries"][9];
    assert!(first["actor"].as_str().unwrap().starts_with("org-token:mol_org_"));
    assert_eq!(first["target"], key_id);
    assert_eq!(first["client"], "127.0.0.1");
    assert!(first["at"].is_string());
    let text = body.to_string();
    for secret in [
        app.admin.as_str(),
        key["auth_token"].as_str().unwrap(),
        ws_tok.as_str(),
        t.body["auth_token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "a token leaked into the audit trail");
    }
}

#[test]
fn the_trail_pages_backwards_by_id() {
    let app = spawn_app();
    for i in 0..5 {
        app.mint(json!({"name": format!("k{i}")}));
    }
    let page1 = entries(&app, "?limit=2");
    let ids: Vec<i64> = page1["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![5, 4]);
    assert_eq!(page1["next_before"], 4);
    let page3 = entries(&app, "?limit=2&before=2");
    assert_eq!(page3["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page3["next_before"], Value::Null);
    for bad in ["?limit=0", "?limit=1001", "?limit=x", "?before=y", "?colour=red"] {
        assert_eq!(app.get(&format!("/org/audit{bad}"), &app.admin).status, 400, "{bad}");
    }
}
