use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn a_workspace_token_lists_its_tokens_and_revokes_only_itself() {
    let app = spawn_app();
    let (id, tok) = app.workspace("agent", None);
    let path = format!("/workspaces/{id}/tokens");
    let list = app.get(&path, &tok);
    assert_eq!(list.status, 200);
    assert_eq!(list.body["count"], 1);
    assert!(!list.text.contains(&tok));
    let own_id = list.body["tokens"][0]["id"].as_str().unwrap().to_string();

    let minted = app.post_empty(&path, &app.admin);
    assert_eq!(minted.status, 201);
    let second = minted.body["auth_token"].as_str().unwrap().to_string();
    assert!(second.starts_with("mol_ws_"));
    assert_eq!(minted.body["workspace_id"], id);
    let second_id = minted.body["id"].as_str().unwrap().to_string();

    let r = app.delete(&format!("{path}/{second_id}"), &tok);
    assert_eq!(r.status, 403, "a workspace token cannot revoke its siblings");
    assert_eq!(
        app.post_empty(&format!("/workspaces/{id}/heartbeat"), &second).status,
        200
    );

    let r = app.delete(&format!("{path}/{own_id}"), &tok);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "revoked");
    assert_eq!(app.post_empty(&format!("/workspaces/{id}/heartbeat"), &tok).status, 401);
    assert_eq!(app.delete(&format!("{path}/{second_id}"), &app.admin).status, 200);
    assert_eq!(app.delete(&format!("{path}/{second_id}"), &app.admin).status, 404);
    assert_eq!(app.delete(&format!("{path}/not-a-uuid"), &app.admin).status, 404);
}

#[test]
fn a_leaked_workspace_token_cannot_mint_a_sibling_that_outlives_it() {
    let app = spawn_app();
    let (id, tok) = app.workspace("agent", None);
    let r = app.post_empty(&format!("/workspaces/{id}/tokens"), &tok);
    assert_eq!(r.status, 403);
    assert_eq!(
        app.get(&format!("/workspaces/{id}/tokens"), &app.admin).body["count"],
        1
    );
}

#[test]
fn workspace_tokens_never_outlive_the_key_that_minted_them() {
    let app = spawn_app();
    let temp = app.mint(json!({"name": "temp", "role": "workspace-write", "expires_in": 60}));
    let temp = temp["auth_token"].as_str().unwrap();
    let r = app.post("/workspaces", temp, json!({"name": "short-lived"}));
    assert_eq!(r.status, 201);
    let (id, ws_tok) = (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["auth_token"].as_str().unwrap().to_string(),
    );
    let minted = app.post(&format!("/workspaces/{id}/tokens"), temp, json!({}));
    assert_eq!(minted.status, 201);
    assert!(minted.body["expires_at"].is_string());
    let longer = app.post(&format!("/workspaces/{id}/tokens"), temp, json!({"expires_in": 3600}));
    assert_eq!(longer.status, 403);
    let shorter = app.post(
        &format!("/workspaces/{id}/tokens"),
        &app.admin,
        json!({"expires_in": 30}),
    );
    assert_eq!(shorter.status, 201);
    assert_eq!(
        app.post_empty(&format!("/workspaces/{id}/heartbeat"), &ws_tok).status,
        200
    );
    app.clock.advance(std::time::Duration::from_secs(61));
    for t in [
        ws_tok.as_str(),
        minted.body["auth_token"].as_str().unwrap(),
        shorter.body["auth_token"].as_str().unwrap(),
    ] {
        assert_eq!(app.post_empty(&format!("/workspaces/{id}/heartbeat"), t).status, 401);
    }
    assert_eq!(
        app.get(&format!("/workspaces/{id}/tokens"), &app.admin).body["count"],
        0
    );
}

#[test]
fn a_workspace_token_gets_403_and_no_data_anywhere_else() {
    let app = spawn_app();
    let (a, a_tok) = app.workspace("a", None);
    let (b, b_tok) = app.workspace("b", None);
    let b_token_id = app.get(&format!("/workspaces/{b}/tokens"), &b_tok).body["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let forbidden = [
        app.get("/workspaces", &a_tok),
        app.post("/workspaces", &a_tok, json!({"name": "x"})),
        app.get(&format!("/workspaces/{b}"), &a_tok),
        app.get(&format!("/workspaces/{b}/tokens"), &a_tok),
        app.post_empty(&format!("/workspaces/{b}/tokens"), &a_tok),
        app.post_empty(&format!("/workspaces/{a}/tokens"), &a_tok),
        app.delete(&format!("/workspaces/{b}/tokens/{b_token_id}"), &a_tok),
        app.post_empty(&format!("/workspaces/{b}/heartbeat"), &a_tok),
        app.patch(&format!("/workspaces/{a}"), &a_tok, json!({"name": "renamed"})),
        app.delete(&format!("/workspaces/{a}"), &a_tok),
        app.post_empty(&format!("/workspaces/{a}/pause"), &a_tok),
        app.get("/org/tokens", &a_tok),
        app.post("/org/tokens", &a_tok, json!({"name": "x"})),
        app.get("/org/audit", &a_tok),
    ];
    for r in forbidden {
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(r.body.as_object().unwrap().len(), 2, "only error and code: {}", r.text);
    }
    assert_eq!(
        app.get(&format!("/workspaces/{a}"), &a_tok).status,
        200,
        "it may read its own workspace"
    );
    assert_eq!(
        app.post_empty(&format!("/workspaces/{b}/heartbeat"), &b_tok).status,
        200
    );
}

#[test]
fn org_keys_manage_workspace_tokens_too() {
    let app = spawn_app();
    let (id, tok) = app.workspace("agent", None);
    let path = format!("/workspaces/{id}/tokens");
    let first_id = app.get(&path, &app.admin).body["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let minted = app.post_empty(&path, &app.admin);
    assert_eq!(minted.status, 201);
    assert!(minted.body["created_by"].as_str().unwrap().starts_with("org-token:"));
    assert_eq!(app.delete(&format!("{path}/{first_id}"), &app.admin).status, 200);
    assert_eq!(app.post_empty(&format!("/workspaces/{id}/heartbeat"), &tok).status, 401);
    let (other, _) = app.workspace("other", None);
    assert_eq!(
        app.delete(
            &format!("/workspaces/{other}/tokens/{}", minted.body["id"].as_str().unwrap()),
            &app.admin
        )
        .status,
        404,
        "a token id under another workspace is unknown"
    );
}

#[test]
fn a_workspace_may_hold_at_most_fifty_live_tokens() {
    let app = spawn_app();
    let (id, _) = app.workspace("agent", None);
    let path = format!("/workspaces/{id}/tokens");
    for _ in 1..50 {
        assert_eq!(app.post_empty(&path, &app.admin).status, 201);
    }
    let r = app.post_empty(&path, &app.admin);
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "too_many_tokens");
    assert_eq!(app.get(&path, &app.admin).body["count"], 50);
    let some = app.get(&path, &app.admin).body["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.delete(&format!("{path}/{some}"), &app.admin).status, 200);
    assert_eq!(app.post_empty(&path, &app.admin).status, 201);
}
