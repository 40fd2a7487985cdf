//! Browser sessions over plain HTTP, continued: the pages' headers,
//! sessions opened with keys, throttled codes, the Secure cookie, and
//! background refreshes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, TestApp};
use crate::sessions::{call, open_link, signed_in, ui_write};

#[test]
fn the_pages_are_served_with_strict_security_headers() {
    let app = spawn_app();
    let root = call(&app, "GET", "/", &[], None);
    assert_eq!(root.status, 303);
    assert_eq!(root.headers["location"], "/ui/");
    for (path, kind) in [
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/keys.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let r = call(&app, "GET", path, &[], None);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.headers["content-type"].starts_with(kind), "{path}");
        let csp = &r.headers["content-security-policy"];
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.headers["referrer-policy"], "no-referrer");
        assert_eq!(r.headers["x-frame-options"], "DENY");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
    }
    // The page carries no inline script or style for the CSP to block.
    let html = call(&app, "GET", "/ui/", &[], None).text;
    assert!(!html.contains("<script>") && !html.contains("style=") && !html.contains(" onclick"));
    assert_eq!(call(&app, "GET", "/ui/nope.js", &[], None).status, 404);
}

fn key_session(app: &TestApp, token: &str) -> String {
    let r = app.post_empty("/org/sessions", token);
    assert_eq!(r.status, 201, "{}", r.text);
    r.headers["set-cookie"].split(';').next().unwrap().to_string()
}

#[test]
fn revoking_or_rotating_a_key_ends_the_sessions_it_opened() {
    let app = spawn_app();
    let whoami = |c: &str| call(&app, "GET", "/org/whoami", &[("Cookie", c)], None).status;
    let k = app.mint(json!({"name": "person"}));
    let (id, token) = (k["id"].as_str().unwrap(), k["auth_token"].as_str().unwrap());
    let by_key = key_session(&app, token);
    let by_link = signed_in(&app);
    assert_eq!(app.delete(&format!("/org/tokens/{id}"), &app.admin).status, 200);
    assert_eq!(whoami(&by_key), 401, "the leaked key's session ends with it");
    assert_eq!(whoami(&by_link), 200, "other sessions go on");

    // Rotation with a grace period: the session ends with the old key.
    let k = app.mint(json!({"name": "rotated"}));
    let (id, token) = (k["id"].as_str().unwrap(), k["auth_token"].as_str().unwrap());
    let session = key_session(&app, token);
    let r = app.post(
        &format!("/org/tokens/{id}/rotate"),
        &app.admin,
        json!({"grace_seconds": 60}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(whoami(&session), 200);
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(whoami(&session), 401);
    // Without one: at once.
    let k = app.mint(json!({"name": "rotated-now"}));
    let (id, token) = (k["id"].as_str().unwrap(), k["auth_token"].as_str().unwrap());
    let session = key_session(&app, token);
    assert_eq!(
        app.post_empty(&format!("/org/tokens/{id}/rotate"), &app.admin).status,
        201
    );
    assert_eq!(whoami(&session), 401);
}

#[test]
fn a_session_opened_with_an_expiring_key_cannot_mint_past_that_key() {
    let app = spawn_app();
    let short = app.mint(json!({"name": "short", "expires_in": 3600}));
    let cookie = key_session(&app, short["auth_token"].as_str().unwrap());
    let r = ui_write(&app, &cookie, "POST", "/org/tokens", Some(json!({"name": "forever"})));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["expires_at"], short["expires_at"],
        "inherits the opener's expiry"
    );
    let r = ui_write(
        &app,
        &cookie,
        "POST",
        "/org/tokens",
        Some(json!({"name": "later", "expires_in": 7200})),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    // A login-link session mints as the CLI does.
    let link_session = signed_in(&app);
    let r = ui_write(&app, &link_session, "POST", "/org/tokens", Some(json!({"name": "n"})));
    assert_eq!(r.body["expires_at"], Value::Null);
}

#[test]
fn bad_login_codes_are_throttled_like_bad_keys() {
    let app = spawn_with(|s| s.failures_per_address = 5);
    for i in 0..5 {
        let (r, _) = open_link(&app, "nope");
        assert_eq!(r.status, 400, "attempt {i}");
    }
    let (r, _) = open_link(&app, "nope");
    assert_eq!(r.status, 429);
    assert!(r.headers.contains_key("retry-after"));
}

#[test]
fn the_cookie_is_secure_only_when_the_operator_says_https() {
    let plain = spawn_app();
    let r = call(
        &plain,
        "POST",
        "/org/sessions",
        &[
            ("Authorization", &format!("Bearer {}", plain.admin)),
            ("X-Forwarded-Proto", "https"),
            ("Forwarded", "proto=https"),
        ],
        None,
    );
    assert!(
        !r.headers["set-cookie"].lines().next().unwrap().contains("Secure"),
        "client headers are not trusted"
    );
    let tls = spawn_with(|s| s.public_url = Some("https://tenant.example.com".into()));
    let r = tls.post_empty("/org/sessions", &tls.admin);
    let set = r.headers["set-cookie"].lines().next().unwrap();
    assert!(
        set.starts_with("__Host-molecule_session=") && set.contains("Secure"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    assert_eq!(
        call(&tls, "GET", "/org/whoami", &[("Cookie", &cookie)], None).status,
        200
    );
    // Behind a proxy that rewrites Host, the public URL is the pages' origin.
    let r = call(
        &tls,
        "POST",
        "/org/tokens",
        &[
            ("Cookie", &cookie),
            ("X-Molecule-UI", "1"),
            ("Origin", "https://tenant.example.com"),
            ("Host", "127.0.0.1:8080"),
        ],
        Some(json!({"name": "via-proxy"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let out = ui_write(&tls, &cookie, "DELETE", "/org/sessions/current", None);
    // Both names are cleared, whichever the browser holds.
    let cleared: Vec<_> = out.headers["set-cookie"].lines().collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-molecule_session=;") && c.contains("Secure")),
        "{cleared:?}"
    );
    assert!(
        cleared.iter().any(|c| c.starts_with("molecule_session=;")),
        "{cleared:?}"
    );
}

#[test]
fn background_refreshes_do_not_keep_a_session_alive() {
    let app = spawn_with(|s| s.session_idle = Duration::from_secs(600));
    let cookie = signed_in(&app);
    let poll = || {
        call(
            &app,
            "GET",
            "/approvals/pending",
            &[("Cookie", &cookie), ("X-Molecule-Poll", "1")],
            None,
        )
    };
    for _ in 0..5 {
        app.clock.advance(Duration::from_secs(110));
        assert_eq!(poll().status, 200, "a poll still works while the session lives");
    }
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(poll().status, 401, "polls alone let it go idle");
}
