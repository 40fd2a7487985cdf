//! Browser sessions over plain HTTP: one-time links, the cookie, expiry,
//! listing and revoking, and the cross-site write checks. The browser
//! itself is driven in `browser.rs`.

use std::time::Duration;

use molecule_tenant::service::sessions;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, Resp, TestApp};

/// A client that shows redirects instead of following them, and sends
/// exactly the headers it is given.
pub(crate) fn call(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Resp {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = match body {
        Some(b) => agent.run(
            req.header("Content-Type", "application/json")
                .body(b.to_string())
                .unwrap(),
        ),
        None => agent.run(req.body(()).unwrap()),
    }
    .expect("request");
    crate::helpers::read_response(res)
}

pub(crate) fn link(app: &TestApp, ttl: Duration, secure: bool) -> String {
    let ms = ttl.as_millis() as i64;
    let base = if secure {
        "https://tenant.example"
    } else {
        "http://127.0.0.1"
    };
    sessions::login_link_on_box(&app.state.db, app.clock.now_ms(), ms, base).expect("link")
}

/// Spends a login link's code as the page behind it does; returns the
/// response and the cookie's `name=value`.
pub(crate) fn open_link(app: &TestApp, code: &str) -> (Resp, Option<String>) {
    let r = call(
        app,
        "POST",
        "/login",
        &[("X-Molecule-UI", "1")],
        Some(json!({ "code": code })),
    );
    let cookie = r
        .headers
        .get("set-cookie")
        .map(|c| c.split(';').next().unwrap().to_string());
    (r, cookie)
}

pub(crate) fn signed_in(app: &TestApp) -> String {
    let code = link(app, Duration::from_secs(600), false);
    let (r, cookie) = open_link(app, &code);
    assert_eq!(r.status, 200, "{}", r.text);
    cookie.expect("a session cookie")
}

pub(crate) fn ui_write(app: &TestApp, cookie: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let host = app.base.trim_start_matches("http://").to_string();
    let origin = app.base.clone();
    call(
        app,
        method,
        path,
        &[
            ("Cookie", cookie),
            ("X-Molecule-UI", "1"),
            ("Origin", &origin),
            ("Host", &host),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        body,
    )
}

#[test]
fn a_login_link_opens_a_session_once_and_sets_a_strict_http_only_cookie() {
    let app = spawn_app();
    let code = link(&app, Duration::from_secs(600), false);
    // Fetching the link (an unfurler, a scanner) gets the page and spends
    // nothing.
    let page = call(&app, "GET", &format!("/login?code={code}"), &[], None);
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].starts_with("text/html"));
    assert!(!page.headers.contains_key("set-cookie"));
    assert!(page.headers["content-security-policy"].contains("script-src 'self'"));
    // Spending it takes the pages' header.
    let bare = call(&app, "POST", "/login", &[], Some(json!({ "code": code })));
    assert_eq!((bare.status, bare.code()), (403, "cross_site_request"));
    let (r, cookie) = open_link(&app, &code);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["created_via"], "login-link");
    let set = r.headers["set-cookie"].lines().next().unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Secure"), "http link, no Secure: {set}");
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    let cookie = cookie.unwrap();
    assert!(cookie.starts_with("molecule_session=mol_sess_"));

    let me = call(&app, "GET", "/org/whoami", &[("Cookie", &cookie)], None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["kind"], "session");
    assert_eq!(me.body["role"], "admin");

    // The same link again: refused, no cookie.
    let (again, none) = open_link(&app, &code);
    assert_eq!((again.status, again.code()), (400, "invalid_login_link"));
    assert!(none.is_none());
    for bad in ["", "nope", "mol_org_x", &code.replace("mol_login_", "mol_sess_")] {
        let (r, _) = open_link(&app, bad);
        assert_eq!((r.status, r.code()), (400, "invalid_login_link"), "{bad}");
    }
}

#[test]
fn an_https_link_makes_a_secure_cookie_and_an_expired_link_is_refused() {
    let app = spawn_app();
    let code = link(&app, Duration::from_secs(600), true);
    let (r, _) = open_link(&app, &code);
    assert!(
        r.headers["set-cookie"].lines().next().unwrap().contains("Secure"),
        "{:?}",
        r.headers
    );

    let stale = link(&app, Duration::from_secs(60), false);
    app.clock.advance(Duration::from_secs(61));
    let (r, cookie) = open_link(&app, &stale);
    assert_eq!(r.status, 400);
    assert!(cookie.is_none());
}

#[test]
fn a_session_ends_when_idle_and_at_its_absolute_limit() {
    let app = spawn_with(|s| {
        s.session_idle = Duration::from_secs(600);
        s.session_lifetime = Duration::from_secs(3600);
    });
    let cookie = signed_in(&app);
    let whoami = |c: &str| call(&app, "GET", "/org/whoami", &[("Cookie", c)], None).status;
    // Used every 9 minutes, it stays alive past the idle limit…
    for _ in 0..6 {
        app.clock.advance(Duration::from_secs(540));
        assert_eq!(whoami(&cookie), 200);
    }
    // …but not past its absolute lifetime (54 + 9 > 60 minutes).
    app.clock.advance(Duration::from_secs(540));
    assert_eq!(whoami(&cookie), 401);

    let idle = signed_in(&app);
    app.clock.advance(Duration::from_secs(601));
    let r = call(&app, "GET", "/org/whoami", &[("Cookie", &idle)], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "unauthorized");
}

#[test]
fn sessions_are_listed_revoked_and_logged_out_at_once() {
    let app = spawn_app();
    let a = signed_in(&app);
    let b = signed_in(&app);
    let list = app.get("/org/sessions", &app.admin);
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["count"], 2);
    let s = &list.body["sessions"][0];
    for field in [
        "id",
        "prefix",
        "created_via",
        "created_at",
        "last_seen_at",
        "idle_expires_at",
        "expires_at",
        "current",
    ] {
        assert!(s.get(field).is_some(), "{field} missing: {s}");
    }
    assert!(!list.text.contains("mol_sess_"), "no session token is ever listed");

    // The session sees itself as current.
    let mine = call(&app, "GET", "/org/sessions", &[("Cookie", &a)], None);
    let current: Vec<_> = mine.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    let a_id = current[0]["id"].as_str().unwrap().to_string();

    // An admin key revokes session a: its next request fails.
    let r = app.delete(&format!("/org/sessions/{a_id}"), &app.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(call(&app, "GET", "/org/whoami", &[("Cookie", &a)], None).status, 401);
    assert_eq!(app.delete(&format!("/org/sessions/{a_id}"), &app.admin).status, 404);

    // Session b logs out: the cookie is cleared and dead.
    let out = ui_write(&app, &b, "DELETE", "/org/sessions/current", None);
    assert_eq!(out.status, 200, "{}", out.text);
    assert!(out.headers["set-cookie"].contains("Max-Age=0"), "{:?}", out.headers);
    assert_eq!(call(&app, "GET", "/org/whoami", &[("Cookie", &b)], None).status, 401);
    // A key cannot "log out".
    assert_eq!(app.delete("/org/sessions/current", &app.admin).code(), "not_a_session");

    let audit = app.get("/org/audit?limit=10", &app.admin);
    let actions: Vec<_> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in ["session.create", "session.revoke", "session.logout"] {
        assert!(actions.iter().any(|x| x == a), "{a} not audited: {actions:?}");
    }
}

#[test]
fn a_session_mints_keys_as_session_prefix_and_they_work() {
    let app = spawn_app();
    let cookie = signed_in(&app);
    let me = call(&app, "GET", "/org/whoami", &[("Cookie", &cookie)], None);
    let prefix = me.body["prefix"].as_str().unwrap().to_string();
    assert_eq!(prefix.len(), sessions::ID_PREFIX_CHARS);
    let r = ui_write(&app, &cookie, "POST", "/org/tokens", Some(json!({"name": "from-ui"})));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["created_by"], format!("session:{prefix}"));
    let token = r.body["auth_token"].as_str().unwrap();
    assert_eq!(app.get("/workspaces", token).status, 200);
}

#[test]
fn cookie_writes_from_another_site_are_refused_and_bearer_keys_need_nothing() {
    let app = spawn_app();
    let cookie = signed_in(&app);
    let body = || Some(json!({"name": "evil"}));
    let host = app.base.trim_start_matches("http://").to_string();
    let refusals: Vec<Vec<(&str, &str)>> = vec![
        // No UI header at all (a plain form post, say).
        vec![("Cookie", &cookie)],
        // The header, but from another origin.
        vec![
            ("Cookie", &cookie),
            ("X-Molecule-UI", "1"),
            ("Origin", "http://evil.example"),
            ("Host", &host),
        ],
        // The header and no Origin, but the browser says cross-site.
        vec![
            ("Cookie", &cookie),
            ("X-Molecule-UI", "1"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    ];
    for headers in refusals {
        let r = call(&app, "POST", "/org/tokens", &headers, body());
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text);
        assert_eq!(r.code(), "cross_site_request");
    }
    // Reads with the cookie need no header; the same write from the page works.
    assert_eq!(
        call(&app, "GET", "/org/tokens", &[("Cookie", &cookie)], None).status,
        200
    );
    assert_eq!(ui_write(&app, &cookie, "POST", "/org/tokens", body()).status, 201);
    // Keys never need the header, even with a stray Origin.
    let r = call(
        &app,
        "POST",
        "/org/tokens",
        &[
            ("Authorization", &format!("Bearer {}", app.admin)),
            ("Origin", "http://elsewhere.example"),
        ],
        body(),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let evil = app.get("/org/tokens", &app.admin).body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] == "evil")
        .count();
    assert_eq!(evil, 2, "exactly the two allowed writes happened");
}

#[test]
fn session_tokens_and_keys_only_work_in_their_own_place() {
    let app = spawn_app();
    let cookie = signed_in(&app);
    let session_token = cookie.trim_start_matches("molecule_session=");
    // A session token as a bearer key, and a key as the cookie: the same 401.
    let r = app.get("/org/whoami", session_token);
    assert_eq!(r.status, 401);
    let as_cookie = format!("molecule_session={}", app.admin);
    let r2 = call(&app, "GET", "/org/whoami", &[("Cookie", &as_cookie)], None);
    assert_eq!((r2.status, &r2.text), (401, &r.text));
    // A bearer key wins over a cookie.
    let ro = app.mint_role("read-only", &[]);
    let both = call(
        &app,
        "GET",
        "/org/whoami",
        &[("Cookie", &cookie), ("Authorization", &format!("Bearer {ro}"))],
        None,
    );
    assert_eq!(both.body["role"], "read-only");
}

#[test]
fn only_an_unbound_admin_key_can_open_a_session() {
    let app = spawn_app();
    let (ws, ws_token) = app.workspace("w", None);
    let bound = app.mint_role("admin", &[&ws]);
    for token in [
        app.mint_role("read-only", &[]),
        app.mint_role("workspace-write", &[]),
        bound,
        ws_token,
    ] {
        let r = app.post_empty("/org/sessions", &token);
        assert_eq!(r.status, 403, "{}", r.text);
    }
    let r = app.post_empty("/org/sessions", &app.admin);
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["created_via"]
        .as_str()
        .unwrap()
        .starts_with("org-token:mol_org_"));
    assert!(r.headers["set-cookie"].contains("HttpOnly"));
    // A session cannot open another.
    let cookie = r.headers["set-cookie"].split(';').next().unwrap().to_string();
    assert_eq!(ui_write(&app, &cookie, "POST", "/org/sessions", None).status, 403);

    // A key that expires in an hour opens a session that ends with it.
    let short = app.mint(json!({"name": "short", "expires_in": 3600}));
    let r = app.post_empty("/org/sessions", short["auth_token"].as_str().unwrap());
    assert_eq!(r.status, 201);
    assert_eq!(r.body["expires_at"], short["expires_at"]);
}
