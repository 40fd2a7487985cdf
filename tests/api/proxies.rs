//! Behind a reverse proxy: the client's address and scheme are taken from
//! the forwarding header only when the peer is a proxy the operator named
//! (`--trusted-proxy`), the rightmost untrusted hop being the client; and a
//! valid sign-in code is never refused by a throttle that others tripped.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, spawn_with, TestApp};
use crate::sessions::{call, link, open_link};

fn behind_proxy(nets: &[&str]) -> TestApp {
    let nets: Vec<ipnet::IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
    spawn_with(move |s| s.trusted_proxies = nets)
}

/// Mints a key with `X-Forwarded-For: xff`; the client the audit trail
/// recorded for it.
fn recorded_client(app: &TestApp, xff: &str) -> String {
    let auth = format!("Bearer {}", app.admin);
    let r = call(
        app,
        "POST",
        "/org/tokens",
        &[("Authorization", &auth), ("X-Forwarded-For", xff)],
        Some(json!({"name": "k"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let audit = app.get("/org/audit?limit=1", &app.admin);
    audit.body["entries"][0]["client"].as_str().unwrap().to_string()
}

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app();
    assert_eq!(recorded_client(&app, "203.0.113.7"), "127.0.0.1");
    // A trusted range that does not hold the peer changes nothing.
    let app = behind_proxy(&["10.0.0.0/8"]);
    assert_eq!(recorded_client(&app, "203.0.113.7"), "127.0.0.1");
}

#[test]
fn a_trusted_proxy_names_the_client_and_a_chain_is_walked_from_the_right() {
    let app = behind_proxy(&["127.0.0.1/32", "10.0.0.0/8"]);
    assert_eq!(recorded_client(&app, "203.0.113.7"), "203.0.113.7");
    // The client wrote its own header (6.6.6.6); the edge proxy appended the
    // address it saw, an inner proxy appended the edge's.
    assert_eq!(recorded_client(&app, "6.6.6.6, 203.0.113.9, 10.1.2.3"), "203.0.113.9");
}

#[test]
fn one_client_behind_the_proxy_cannot_lock_out_another() {
    let app = behind_proxy(&["127.0.0.1/32"]);
    let fail = |ip: &str| {
        call(
            &app,
            "GET",
            "/workspaces",
            &[("Authorization", "Bearer mol_org_nope"), ("X-Forwarded-For", ip)],
            None,
        )
        .status
    };
    let statuses: Vec<u16> = (0..35).map(|_| fail("203.0.113.66")).collect();
    assert_eq!(statuses.last(), Some(&429));
    // Another client through the same proxy: its failures are its own.
    assert_eq!(fail("198.51.100.2"), 401);
    let auth = format!("Bearer {}", app.admin);
    let ok = call(
        &app,
        "GET",
        "/workspaces",
        &[("Authorization", &auth), ("X-Forwarded-For", "198.51.100.2")],
        None,
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn a_valid_sign_in_code_is_never_refused_by_someone_elses_throttle() {
    let app = spawn_app();
    let code = link(&app, Duration::from_secs(600), false);
    let bad = |c: &str| open_link(&app, c).0.status;
    let statuses: Vec<u16> = (0..35).map(|i| bad(&format!("mol_login_{i:0>43}"))).collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let (r, cookie) = open_link(&app, &code);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(cookie.is_some());
    // Spent, it is a failure like any other (and this address is throttled).
    assert_eq!(bad(&code), 429);
}

#[test]
fn the_cookie_is_secure_when_a_trusted_proxy_says_https() {
    let auth = |app: &TestApp| format!("Bearer {}", app.admin);
    let app = behind_proxy(&["127.0.0.1/32"]);
    let r = call(
        &app,
        "POST",
        "/org/sessions",
        &[("Authorization", &auth(&app)), ("X-Forwarded-Proto", "https")],
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let set = r.headers["set-cookie"].lines().next().unwrap().to_string();
    assert!(
        set.starts_with("__Host-molecule_session=") && set.contains("Secure"),
        "{set}"
    );
    // The same header from an untrusted peer is a client's word: ignored.
    let app = spawn_app();
    let r = call(
        &app,
        "POST",
        "/org/sessions",
        &[("Authorization", &auth(&app)), ("X-Forwarded-Proto", "https")],
        None,
    );
    let set = r.headers["set-cookie"].lines().next().unwrap().to_string();
    assert!(set.starts_with("molecule_session=") && !set.contains("Secure"), "{set}");
}
