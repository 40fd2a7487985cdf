use molecule_tenant::domain::token::{generate, TokenKind};
use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn metrics_count_requests_by_route_and_show_the_state_of_the_org() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    app.post(&format!("/workspaces/{ws}/heartbeat"), &tok, json!({"active_tasks": 1}));
    app.post(
        &format!("/workspaces/{ws}/approvals"),
        &tok,
        json!({"action": "deploy"}),
    );
    app.workspace("quiet", None);
    app.get(&format!("/workspaces/{ws}"), &app.admin);
    let bogus = generate(TokenKind::Org).unwrap().plaintext;
    app.get("/workspaces", &bogus);
    app.get("/workspaces", "not-a-token");

    let r = app.get("/metrics", &app.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.headers["content-type"].starts_with("text/plain"));
    let m = &r.text;
    assert!(
        m.contains(r#"molecule_http_requests_total{method="GET",route="/workspaces/{id}",status="200"} 1"#),
        "{m}"
    );
    assert!(m.contains(r#"molecule_http_request_duration_seconds_count{method="POST",route="/workspaces"}"#));
    assert!(m.contains(r#"molecule_auth_failures_total{reason="unknown_or_revoked"} 1"#));
    assert!(m.contains(r#"molecule_auth_failures_total{reason="malformed"} 1"#));
    assert!(m.contains(r#"molecule_live_credentials{kind="org_key"} 1"#));
    assert!(m.contains(r#"molecule_live_credentials{kind="workspace_token"} 2"#));
    assert!(m.contains(r#"molecule_workspaces{status="online"} 1"#));
    assert!(m.contains(r#"molecule_workspaces{status="awaiting_agent"} 1"#));
    assert!(m.contains("molecule_approvals_pending 1"));
    for secret in [app.admin.as_str(), tok.as_str(), bogus.as_str(), ws.as_str()] {
        assert!(!m.contains(secret), "metrics leak {secret}");
    }
    assert_eq!(app.get("/metrics", "").status, 401);
    assert_eq!(app.get("/metrics", &tok).status, 403);
    assert_eq!(app.get("/metrics", &app.mint_role("read-only", &[])).status, 200);
    assert_eq!(app.get("/metrics", &app.mint_role("admin", &[&ws])).status, 403);
}
