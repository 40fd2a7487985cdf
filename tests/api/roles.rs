//! Roles and workspace bindings: every boundary, both sides of it.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

fn names(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.get("/workspaces", token);
    assert_eq!(r.status, 200, "{}", r.text);
    let mut v: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_read_only_key_reads_but_cannot_write_anything() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    let ro = app.mint_role("read-only", &[]);
    assert_eq!(names(&app, &ro), vec!["w"]);
    assert_eq!(app.get(&format!("/workspaces/{ws}"), &ro).status, 200);
    assert_eq!(app.get(&format!("/workspaces/{ws}/tokens"), &ro).status, 200);
    assert_eq!(app.get("/org/audit", &ro).status, 200);
    let writes = [
        app.post("/workspaces", &ro, json!({"name": "x"})),
        app.patch(&format!("/workspaces/{ws}"), &ro, json!({"name": "y"})),
        app.delete(&format!("/workspaces/{ws}"), &ro),
        app.post_empty(&format!("/workspaces/{ws}/pause"), &ro),
        app.post_empty(&format!("/workspaces/{ws}/tokens"), &ro),
        app.post("/org/tokens", &ro, json!({"name": "x", "role": "read-only"})),
        app.get("/org/tokens", &ro),
    ];
    for r in writes {
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(r.code(), "forbidden");
    }
    assert_eq!(names(&app, &ro), vec!["w"], "nothing changed");
}

#[test]
fn a_workspace_write_key_manages_workspaces_but_not_keys() {
    let app = spawn_app();
    let ww = app.mint_role("workspace-write", &[]);
    let r = app.post("/workspaces", &ww, json!({"name": "made-by-ww"}));
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(
        app.patch(&format!("/workspaces/{id}"), &ww, json!({"tier": 3})).status,
        200
    );
    assert_eq!(app.post_empty(&format!("/workspaces/{id}/tokens"), &ww).status, 201);
    let other = app.mint(json!({"name": "other"}));
    let other_id = other["id"].as_str().unwrap();
    for r in [
        app.post("/org/tokens", &ww, json!({"name": "x", "role": "read-only"})),
        app.get("/org/tokens", &ww),
        app.delete(&format!("/org/tokens/{other_id}"), &ww),
        app.post(&format!("/org/tokens/{other_id}/rotate"), &ww, json!({})),
        app.get("/org/audit", &ww),
    ] {
        assert_eq!(r.status, 403, "{}", r.text);
    }
    assert_eq!(
        app.get("/org/whoami", other["auth_token"].as_str().unwrap()).status,
        200
    );
    assert_eq!(app.delete(&format!("/workspaces/{id}"), &ww).status, 200);
}

#[test]
fn a_bound_key_sees_and_touches_only_its_subtree() {
    let app = spawn_app();
    let (a, _) = app.workspace("a", None);
    let (a1, _) = app.workspace("a1", Some(&a));
    let (a11, _) = app.workspace("a11", Some(&a1));
    let (b, _) = app.workspace("b", None);
    let key = app.mint_role("workspace-write", &[&a1]);

    assert_eq!(names(&app, &key), vec!["a1", "a11"]);
    assert_eq!(app.get(&format!("/workspaces/{a11}"), &key).status, 200);
    for path in [
        format!("/workspaces/{a}"),
        format!("/workspaces/{b}"),
        format!("/workspaces/{b}/tokens"),
    ] {
        let r = app.get(&path, &key);
        assert_eq!(r.status, 403, "{path}");
        assert!(r.body.get("name").is_none(), "no data leaks");
    }
    let ghost = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        app.get(&format!("/workspaces/{ghost}"), &key).status,
        403,
        "existence is not revealed"
    );

    let root = app.post("/workspaces", &key, json!({"name": "root"}));
    assert_eq!(root.status, 403);
    assert_eq!(
        app.post("/workspaces", &key, json!({"name": "under-b", "parent_id": b}))
            .status,
        403
    );
    assert_eq!(
        app.post("/workspaces", &key, json!({"name": "under-a1", "parent_id": a1}))
            .status,
        201
    );
    assert_eq!(
        app.patch(&format!("/workspaces/{a11}"), &key, json!({"parent_id": b}))
            .status,
        403
    );
    assert_eq!(
        app.patch(&format!("/workspaces/{a11}"), &key, json!({"parent_id": null}))
            .status,
        403
    );
    assert_eq!(app.delete(&format!("/workspaces/{b}"), &key).status, 403);
    assert_eq!(names(&app, &app.admin), vec!["a", "a1", "a11", "b", "under-a1"]);
}

#[test]
fn a_key_bound_to_a_deleted_workspace_sees_nothing_rather_than_everything() {
    let app = spawn_app();
    let (a, _) = app.workspace("a", None);
    app.workspace("b", None);
    let key = app.mint_role("read-only", &[&a]);
    assert_eq!(names(&app, &key), vec!["a"]);
    assert_eq!(app.delete(&format!("/workspaces/{a}"), &app.admin).status, 200);
    assert_eq!(names(&app, &key), Vec::<String>::new());
}

#[test]
fn no_key_can_mint_a_key_broader_than_itself() {
    let app = spawn_app();
    let (a, _) = app.workspace("a", None);
    let (a1, _) = app.workspace("a1", Some(&a));
    let (b, _) = app.workspace("b", None);
    let bound_admin = app.mint_role("admin", &[&a]);
    let refused = [
        json!({"name": "x"}),
        json!({"name": "x", "workspaces": [b]}),
        json!({"name": "x", "workspaces": [a, b]}),
    ];
    for body in refused {
        let r = app.post("/org/tokens", &bound_admin, body.clone());
        assert_eq!(r.status, 403, "{body}");
    }
    let ok = app.post(
        "/org/tokens",
        &bound_admin,
        json!({"name": "x", "workspaces": [a1], "role": "admin"}),
    );
    assert_eq!(ok.status, 201);
    assert_eq!(ok.body["workspaces"], json!([a1]));

    let expiring = app.mint(json!({"name": "exp", "expires_in": 3600}))["auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let inherited = app.post("/org/tokens", &expiring, json!({"name": "child"}));
    assert_eq!(inherited.status, 201);
    assert!(inherited.body["expires_at"].is_string(), "inherits the minter's expiry");
    let longer = app.post("/org/tokens", &expiring, json!({"name": "child", "expires_in": 7200}));
    assert_eq!(longer.status, 403);
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        app.get("/org/whoami", inherited.body["auth_token"].as_str().unwrap())
            .status,
        401
    );
}

#[test]
fn a_bound_admin_manages_only_keys_within_its_bindings() {
    let app = spawn_app();
    let (a, _) = app.workspace("a", None);
    let (b, _) = app.workspace("b", None);
    let bound_admin = app.mint_role("admin", &[&a]);
    let inside = app.mint(json!({"name": "inside", "workspaces": [a]}));
    let outside = app.mint(json!({"name": "outside", "workspaces": [b]}));
    let list = app.get("/org/tokens", &bound_admin);
    assert_eq!(list.status, 200);
    let listed: Vec<_> = list.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect();
    assert!(listed.contains(&"inside".to_string()));
    assert!(!listed.contains(&"outside".to_string()));
    assert!(!listed.contains(&"seed-admin".to_string()));
    let out_id = outside["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/org/tokens/{out_id}"), &bound_admin).status, 404);
    assert_eq!(
        app.post(&format!("/org/tokens/{out_id}/rotate"), &bound_admin, json!({}))
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/org/tokens/{}", inside["id"].as_str().unwrap()), &bound_admin)
            .status,
        200
    );
    assert_eq!(
        app.get("/org/audit", &bound_admin).status,
        403,
        "the org-wide trail needs an unbound key"
    );
}
