use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

fn ask(app: &TestApp, ws: &str, tok: &str, action: &str) -> String {
    let r = app.post(
        &format!("/workspaces/{ws}/approvals"),
        tok,
        json!({"action": action, "reason": "needs a human", "task_id": "t-1", "context": {"amount": 42}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "pending");
    r.body["approval_id"].as_str().unwrap().to_string()
}

#[test]
fn the_agent_asks_the_admin_decides_and_the_agent_sees_the_decision() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("deployer", None);
    let id = ask(&app, &ws, &tok, "deploy to production");

    let pending = app.get("/approvals/pending", &app.admin);
    assert_eq!(pending.status, 200);
    let item = &pending.body[0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["workspace_id"], ws.as_str());
    assert_eq!(item["workspace_name"], "deployer");
    assert_eq!(item["action"], "deploy to production");
    assert_eq!(item["reason"], "needs a human");
    assert_eq!(item["status"], "pending");
    assert!(item["created_at"].is_string() && item["expires_at"].is_string());

    let decide = format!("/workspaces/{ws}/approvals/{id}/decide");
    let r = app.post(&decide, &app.admin, json!({"decision": "approved", "note": "go ahead"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "approved");

    let seen = app.get(&format!("/workspaces/{ws}/approvals/{id}"), &tok);
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body["status"], "approved");
    assert_eq!(seen.body["note"], "go ahead");
    assert_eq!(seen.body["context"], json!({"amount": 42}));
    let admin_prefix = app.get("/org/whoami", &app.admin).body["prefix"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(seen.body["decided_by"], format!("org-token:{admin_prefix}"));

    assert_eq!(app.get("/approvals/pending", &app.admin).body, json!([]));
    let again = app.post(&decide, &app.admin, json!({"decision": "denied"}));
    assert_eq!(again.status, 404, "decided once, for good");
    let list = app.get(&format!("/workspaces/{ws}/approvals"), &tok);
    assert_eq!(list.body.as_array().unwrap().len(), 1);

    let audit = app.get("/org/audit", &app.admin).text;
    assert!(audit.contains("approval.request") && audit.contains("approval.decide"));
}

#[test]
fn a_workspace_never_decides_its_own_approvals_and_read_only_keys_cannot_decide() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let id = ask(&app, &ws, &tok, "spend money");
    let decide = format!("/workspaces/{ws}/approvals/{id}/decide");
    assert_eq!(app.post(&decide, &tok, json!({"decision": "approved"})).status, 403);
    let ro = app.mint_role("read-only", &[]);
    assert_eq!(app.post(&decide, &ro, json!({"decision": "approved"})).status, 403);
    // Upstream's canvas and MCP server send decided_by: it is accepted, and
    // never believed: the decider is the credential.
    let ww = app.mint_role("workspace-write", &[]);
    let forged = app.post(&decide, &ww, json!({"decision": "denied", "decided_by": "the-ceo"}));
    assert_eq!(forged.status, 200, "{}", forged.text);
    let seen = app.get(&format!("/workspaces/{ws}/approvals/{id}"), &tok);
    assert_eq!(seen.body["status"], "denied");
    assert!(seen.body["decided_by"].as_str().unwrap().starts_with("org-token:"));
}

#[test]
fn only_the_agent_asks_and_bad_requests_get_4xx() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let (other, other_tok) = app.workspace("other", None);
    let path = format!("/workspaces/{ws}/approvals");
    assert_eq!(
        app.post(&path, &app.admin, json!({"action": "x"})).status,
        403,
        "org keys do not ask"
    );
    assert_eq!(app.post(&path, &other_tok, json!({"action": "x"})).status, 403);
    for (body, words) in [
        (json!({}), "missing field `action`"),
        (json!({"action": ""}), "must not be empty"),
        (json!({"action": "x".repeat(201)}), "at most 200"),
        (json!({"action": "x", "context": [1]}), "invalid type"),
        (json!({"action": "x", "reason": "r".repeat(4001)}), "at most 4000"),
        (json!({"action": "x", "decided_by": "me"}), "unknown field"),
    ] {
        let r = app.post(&path, &tok, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.body["error"].as_str().unwrap().contains(words), "{}", r.text);
    }
    let id = ask(&app, &ws, &tok, "x");
    let decide = format!("{path}/{id}/decide");
    for bad in [json!({"decision": "maybe"}), json!({"decision": "APPROVED"}), json!({})] {
        assert_eq!(app.post(&decide, &app.admin, bad).status, 400);
    }
    let ghost = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        app.post(
            &format!("{path}/{ghost}/decide"),
            &app.admin,
            json!({"decision": "approved"})
        )
        .status,
        404
    );
    assert_eq!(
        app.post(
            &format!("{path}/nope/decide"),
            &app.admin,
            json!({"decision": "approved"})
        )
        .status,
        404
    );
    let elsewhere = format!("/workspaces/{other}/approvals/{id}");
    assert_eq!(app.get(&elsewhere, &app.admin).status, 404, "scoped by workspace");
    assert_eq!(
        app.post(
            &format!("{elsewhere}/decide"),
            &app.admin,
            json!({"decision": "approved"})
        )
        .status,
        404
    );
}

#[test]
fn an_undecided_approval_expires_to_denied_without_a_write_on_read() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let id = ask(&app, &ws, &tok, "x");
    app.clock.advance(Duration::from_secs(599));
    assert_eq!(
        app.get(&format!("/workspaces/{ws}/approvals/{id}"), &tok).body["status"],
        "pending"
    );
    app.clock.advance(Duration::from_secs(2));
    let seen = app.get(&format!("/workspaces/{ws}/approvals/{id}"), &tok);
    assert_eq!(seen.body["status"], "denied");
    assert_eq!(seen.body["decided_by"], "expired");
    assert_eq!(seen.body["decided_at"], seen.body["expires_at"]);
    assert_eq!(app.get("/approvals/pending", &app.admin).body, json!([]));
    let stored: String = app
        .state
        .db
        .read(move |c| Ok(c.query_row("SELECT status FROM approvals WHERE id = ?1", [&id], |r| r.get(0))?))
        .unwrap();
    assert_eq!(stored, "pending", "reading never wrote");
    let r = app.post(
        &format!(
            "/workspaces/{ws}/approvals/{}/decide",
            seen.body["id"].as_str().unwrap()
        ),
        &app.admin,
        json!({"decision": "approved"}),
    );
    assert_eq!(r.status, 404);
}

#[test]
fn of_racing_decisions_exactly_one_wins() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let id = ask(&app, &ws, &tok, "x");
    let url = app.url(&format!("/workspaces/{ws}/approvals/{id}/decide"));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (url, admin) = (url.clone(), app.admin.clone());
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let decision = if i % 2 == 0 { "approved" } else { "denied" };
                    agent
                        .post(&url)
                        .header("Authorization", format!("Bearer {admin}"))
                        .send_json(json!({"decision": decision}))
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 404).count(), 7, "{statuses:?}");
}

#[test]
fn the_pending_list_honours_bindings() {
    let app = spawn_app();
    let (a, a_tok) = app.workspace("a", None);
    let (b, b_tok) = app.workspace("b", None);
    ask(&app, &a, &a_tok, "in a");
    ask(&app, &b, &b_tok, "in b");
    let bound = app.mint_role("workspace-write", &[&a]);
    let pending = app.get("/approvals/pending", &bound);
    let actions: Vec<_> = pending
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["action"].clone())
        .collect();
    assert_eq!(actions, vec![json!("in a")]);
    assert_eq!(
        app.get("/approvals/pending", &app.admin).body.as_array().unwrap().len(),
        2
    );
    assert_eq!(
        app.get("/approvals/pending", &a_tok).status,
        403,
        "workspace tokens are not admins"
    );
}

#[test]
fn contexts_and_texts_are_bounded_and_lists_leave_contexts_out() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let path = format!("/workspaces/{ws}/approvals");
    let big = json!({"action": "x", "context": {"blob": "y".repeat(17 * 1024)}});
    assert_eq!(app.post(&path, &tok, big).status, 400);
    assert_eq!(
        app.post(&path, &tok, json!({"action": "x", "reason": "a\u{7}b"}))
            .status,
        400
    );
    assert_eq!(
        app.post(&path, &tok, json!({"action": "x", "reason": "line one\nline two"}))
            .status,
        201
    );
    ask(&app, &ws, &tok, "with context");
    let list = app.get(&path, &tok);
    assert!(list.body.as_array().unwrap().iter().all(|a| a.get("context").is_none()));
}

#[test]
fn approvals_of_a_deleted_workspace_are_gone() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    let id = ask(&app, &ws, &tok, "x");
    assert_eq!(app.delete(&format!("/workspaces/{ws}"), &app.admin).status, 200);
    assert_eq!(
        app.get(&format!("/workspaces/{ws}/approvals/{id}"), &app.admin).status,
        404
    );
    let r = app.post(
        &format!("/workspaces/{ws}/approvals/{id}/decide"),
        &app.admin,
        json!({"decision": "approved"}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(app.get("/approvals/pending", &app.admin).body, json!([]));
}
