use std::time::Duration;

use molecule_tenant::domain::role::Role;
use molecule_tenant::domain::token::{generate, TokenKind};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_with};

#[test]
fn health_needs_no_credentials() {
    let app = spawn_app();
    let r = app.get("/health", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
}

#[test]
fn every_kind_of_bad_credential_gets_the_identical_401() {
    let app = spawn_app();
    let revoked = app.mint(json!({"name": "to-revoke"}));
    let id = revoked["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/org/tokens/{id}"), &app.admin).status, 200);
    let expired = app.seed_key("short", Role::Admin, &[], Some(app.clock.now_ms() + 1_000));
    app.clock.advance(Duration::from_secs(2));

    let good = generate(TokenKind::Org).unwrap().plaintext;
    let mut flipped = good.clone().into_bytes();
    flipped[20] = if flipped[20] == b'x' { b'y' } else { b'x' };
    let flipped = String::from_utf8(flipped).unwrap();

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("empty bearer", Some("Bearer ".into())),
        ("wrong scheme", Some(format!("Basic {good}"))),
        ("no scheme", Some(good.clone())),
        ("malformed", Some("Bearer hello".into())),
        ("bad checksum", Some(format!("Bearer {flipped}"))),
        ("unknown", Some(format!("Bearer {good}"))),
        (
            "revoked",
            Some(format!("Bearer {}", revoked["auth_token"].as_str().unwrap())),
        ),
        ("expired", Some(format!("Bearer {expired}"))),
    ];
    let mut first: Option<String> = None;
    for (what, header) in cases {
        let r = match header {
            None => app.get("/workspaces", ""),
            Some(h) => app.get_with_header("/workspaces", "Authorization", &h),
        };
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(r.www_authenticate.as_deref(), Some("Bearer"), "{what}");
        assert_eq!(r.code(), "unauthorized", "{what}");
        match &first {
            None => first = Some(r.text.clone()),
            Some(f) => assert_eq!(&r.text, f, "{what}: body differs"),
        }
    }
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app();
    let r = app.get_with_header("/org/whoami", "Authorization", &format!("bearer {}", app.admin));
    assert_eq!(r.status, 200);
}

#[test]
fn every_route_but_health_needs_a_credential() {
    let app = spawn_app();
    let (ws, _) = app.workspace("w", None);
    for path in [
        "/workspaces",
        "/org/tokens",
        "/org/whoami",
        "/org/audit",
        &format!("/workspaces/{ws}"),
        &format!("/workspaces/{ws}/tokens"),
    ] {
        assert_eq!(app.get(path, "").status, 401, "{path}");
    }
}

#[test]
fn the_control_plane_is_forbidden_to_every_credential() {
    let app = spawn_app();
    let (_, ws_token) = app.workspace("w", None);
    for path in ["/cp/admin/orgs", "/cp/admin/tenants/restart", "/cp/auth/me", "/cp"] {
        for token in [app.admin.as_str(), ws_token.as_str(), ""] {
            let r = app.get(path, token);
            assert_eq!(r.status, 403, "{path}");
            assert_eq!(r.code(), "control_plane_forbidden");
        }
        assert_eq!(app.post(path, &app.admin, json!({})).status, 403);
    }
}

#[test]
fn a_key_from_one_tenant_is_unknown_on_another() {
    let a = spawn_app();
    let b = spawn_app();
    assert_eq!(a.get("/org/whoami", &a.admin).status, 200);
    assert_eq!(b.get("/org/whoami", &a.admin).status, 401);
    assert_eq!(a.get("/org/whoami", &b.admin).status, 401);
}

#[test]
fn whoami_describes_the_calling_credential() {
    let app = spawn_app();
    let (ws, ws_token) = app.workspace("w", None);
    let minted = app.mint(json!({"name": "ro", "role": "read-only", "workspaces": [ws], "expires_in": 3600}));
    let r = app.get("/org/whoami", minted["auth_token"].as_str().unwrap());
    assert_eq!(r.status, 200);
    assert_eq!(r.body["kind"], "org");
    assert_eq!(r.body["id"], minted["id"]);
    assert_eq!(r.body["prefix"], minted["prefix"]);
    assert_eq!(r.body["role"], "read-only");
    assert_eq!(r.body["workspaces"], json!([ws]));
    assert_eq!(r.body["expires_at"], minted["expires_at"]);

    let r = app.get("/org/whoami", &ws_token);
    assert_eq!(r.body["kind"], "workspace");
    assert_eq!(r.body["workspace_id"], ws);
    assert!(r.body["prefix"].as_str().unwrap().starts_with("mol_ws_"));
}

#[test]
fn failed_authentications_are_counted_and_summarised_in_the_audit_trail() {
    let app = spawn_with(|s| {
        s.failure_audit_interval = Duration::ZERO;
        s.flush_interval = Duration::from_millis(50);
    });
    let bogus: Vec<String> = (0..25).map(|_| generate(TokenKind::Org).unwrap().plaintext).collect();
    for token in &bogus {
        assert_eq!(app.get("/workspaces", token).status, 401);
    }
    let mut found = None;
    for _ in 0..100 {
        let r = app.get("/org/audit", &app.admin);
        let entries = r.body["entries"].as_array().unwrap().clone();
        let failed: Vec<_> = entries.iter().filter(|e| e["action"] == "auth.failed").collect();
        if failed
            .iter()
            .map(|e| e["detail"]["count"].as_u64().unwrap())
            .sum::<u64>()
            >= 25
        {
            assert!(failed.len() < 25, "one summary per address, not one entry per failure");
            found = Some(r.text);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = found.expect("failed authentications were summarised");
    assert!(
        bogus.iter().all(|b| !text.contains(b.as_str())),
        "the presented tokens must not be recorded"
    );
    assert_eq!(
        app.state
            .failures
            .total(molecule_tenant::domain::authz::Failure::UnknownOrRevoked),
        25
    );
}

#[test]
fn repeated_failures_are_throttled_without_slowing_valid_keys() {
    let app = spawn_app();
    for _ in 0..30 {
        let token = generate(TokenKind::Org).unwrap().plaintext;
        assert_eq!(app.get("/workspaces", &token).status, 401);
    }
    let next = generate(TokenKind::Org).unwrap().plaintext;
    let r = app.get("/workspaces", &next);
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    let wait: u64 = r.headers["retry-after"].parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        app.get("/workspaces", "").status,
        429,
        "missing credentials count as failures too"
    );
    assert_eq!(
        app.get("/workspaces", &app.admin).status,
        200,
        "a valid key from the same address is served"
    );
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(
        app.get("/workspaces", &next).status,
        401,
        "the next minute starts clean"
    );
}

#[test]
fn one_token_failing_over_and_over_is_throttled() {
    let app = spawn_app();
    let stale = app.mint(json!({"name": "stale"}));
    let (id, token) = (stale["id"].as_str().unwrap(), stale["auth_token"].as_str().unwrap());
    assert_eq!(app.delete(&format!("/org/tokens/{id}"), &app.admin).status, 200);
    for _ in 0..10 {
        assert_eq!(app.get("/org/whoami", token).status, 401);
    }
    assert_eq!(app.get("/org/whoami", token).status, 429);
    let other = generate(TokenKind::Org).unwrap().plaintext;
    assert_eq!(
        app.get("/org/whoami", &other).status,
        401,
        "other tokens are judged on their own"
    );
}
