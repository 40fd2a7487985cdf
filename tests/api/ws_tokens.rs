use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn a_workspace_manages_its_own_tokens_with_its_own_token() {
    let app = spawn_app();
    let (id, tok) = app.workspace("agent", None);
    let path = format!("/workspaces/{id}/tokens");
    let list = app.get(&path, &tok);
    assert_eq!(list.status, 200);
    assert_eq!(list.body["count"], 1);
    assert!(!list.text.contains(&tok));

    let minted = app.post_empty(&path, &tok);
    assert_eq!(minted.status, 201);
    let second = minted.body["auth_token"].as_str().unwrap().to_string();
    assert!(second.starts_with("mol_ws_"));
    assert_eq!(minted.body["workspace_id"], id);
    assert_eq!(
        app.post_empty(&format!("/workspaces/{id}/heartbeat"), &second)
            .status,
        200
    );

    let second_id = minted.body["id"].as_str().unwrap();
    let r = app.delete(&format!("{path}/{second_id}"), &tok);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "revoked");
    assert_eq!(
        app.post_empty(&format!("/workspaces/{id}/heartbeat"), &second)
            .status,
        401
    );
    assert_eq!(app.delete(&format!("{path}/{second_id}"), &tok).status, 404);
    assert_eq!(app.delete(&format!("{path}/not-a-uuid"), &tok).status, 404);
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
        app.delete(&format!("/workspaces/{b}/tokens/{b_token_id}"), &a_tok),
        app.post_empty(&format!("/workspaces/{b}/heartbeat"), &a_tok),
        app.patch(
            &format!("/workspaces/{a}"),
            &a_tok,
            json!({"name": "renamed"}),
        ),
        app.delete(&format!("/workspaces/{a}"), &a_tok),
        app.post_empty(&format!("/workspaces/{a}/pause"), &a_tok),
        app.get("/org/tokens", &a_tok),
        app.post("/org/tokens", &a_tok, json!({"name": "x"})),
        app.get("/org/audit", &a_tok),
    ];
    for r in forbidden {
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(
            r.body.as_object().unwrap().len(),
            2,
            "only error and code: {}",
            r.text
        );
    }
    assert_eq!(
        app.get(&format!("/workspaces/{a}"), &a_tok).status,
        200,
        "it may read its own workspace"
    );
    assert_eq!(
        app.post_empty(&format!("/workspaces/{b}/heartbeat"), &b_tok)
            .status,
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
    assert!(minted.body["created_by"]
        .as_str()
        .unwrap()
        .starts_with("org-token:"));
    assert_eq!(
        app.delete(&format!("{path}/{first_id}"), &app.admin).status,
        200
    );
    assert_eq!(
        app.post_empty(&format!("/workspaces/{id}/heartbeat"), &tok)
            .status,
        401
    );
    let (other, _) = app.workspace("other", None);
    assert_eq!(
        app.delete(
            &format!(
                "/workspaces/{other}/tokens/{}",
                minted.body["id"].as_str().unwrap()
            ),
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
    let (id, tok) = app.workspace("agent", None);
    let path = format!("/workspaces/{id}/tokens");
    for _ in 1..50 {
        assert_eq!(app.post_empty(&path, &app.admin).status, 201);
    }
    let r = app.post_empty(&path, &tok);
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "too_many_tokens");
    assert_eq!(app.get(&path, &app.admin).body["count"], 50);
    let some = app.get(&path, &app.admin).body["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.delete(&format!("{path}/{some}"), &app.admin).status,
        200
    );
    assert_eq!(app.post_empty(&path, &app.admin).status, 201);
}
