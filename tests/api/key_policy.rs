//! What a key may carry beyond its role (where it may be used from, a
//! rate, a description), disabling it, and the org's key policy: each with
//! its refusals.

use serde_json::{json, Value};

use crate::cli::{run, stderr, stdout};
use crate::helpers::{spawn_app, spawn_with, TestApp};
use crate::sessions::call;

fn key(app: &TestApp, id: &str) -> Value {
    let list = app.get("/org/tokens", &app.admin).body;
    list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn a_key_with_allowed_ranges_is_refused_elsewhere_with_the_same_401() {
    let nets: Vec<ipnet::IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
    let app = spawn_with(move |s| s.trusted_proxies = nets);
    let k = app.mint(json!({"name": "office", "allowed_cidrs": ["10.0.0.0/8", "2001:db8::/32"]}));
    let token = k["auth_token"].as_str().unwrap();
    assert_eq!(k["allowed_cidrs"], json!(["10.0.0.0/8", "2001:db8::/32"]));
    let from = |ip: &str| {
        let auth = format!("Bearer {token}");
        call(
            &app,
            "GET",
            "/org/whoami",
            &[("Authorization", &auth), ("X-Forwarded-For", ip)],
            None,
        )
    };
    assert_eq!(from("10.9.8.7").status, 200);
    let outside = from("203.0.113.5");
    let bogus = app.get("/org/whoami", "mol_org_0000000000000000000000000000000000000000000");
    assert_eq!(
        (outside.status, outside.text.clone()),
        (401, bogus.text.clone()),
        "the same 401 as a bad key"
    );
    let m = app.get("/metrics", &app.admin).text;
    assert!(
        m.contains(r#"molecule_auth_failures_total{reason="address_not_allowed"} 1"#),
        "{m}"
    );
    // The refusal is in the key's activity, with where it came from: a
    // live key used from elsewhere is a sign it has leaked.
    let id = k["id"].as_str().unwrap();
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = app.get(&format!("/org/tokens/{id}/activity"), &app.admin).body;
        if seen["count"] == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        (&seen["requests"][0]["status"], &seen["requests"][0]["client"]),
        (&json!(401), &json!("203.0.113.5")),
        "{seen}"
    );
    // Editable: anywhere again.
    let r = app.patch(&format!("/org/tokens/{id}"), &app.admin, json!({"allowed_cidrs": []}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(from("203.0.113.5").status, 200);
    let bad = app.patch(
        &format!("/org/tokens/{id}"),
        &app.admin,
        json!({"allowed_cidrs": ["nowhere"]}),
    );
    assert_eq!((bad.status, bad.code()), (400, "invalid_request"));
}

#[test]
fn a_session_opened_with_a_limited_key_is_used_only_from_the_key_s_ranges() {
    let nets: Vec<ipnet::IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
    let app = spawn_with(move |s| s.trusted_proxies = nets);
    let k = app.mint(json!({"name": "office admin", "role": "admin", "allowed_cidrs": ["10.0.0.0/8"]}));
    let auth = format!("Bearer {}", k["auth_token"].as_str().unwrap());
    let opened = call(
        &app,
        "POST",
        "/org/sessions",
        &[("Authorization", &auth), ("X-Forwarded-For", "10.9.8.7")],
        None,
    );
    assert_eq!(opened.status, 201, "{}", opened.text);
    let cookie = opened.headers["set-cookie"].split(';').next().unwrap().to_string();
    let from = |ip: &str| {
        call(
            &app,
            "GET",
            "/org/tokens",
            &[("Cookie", &cookie), ("X-Forwarded-For", ip)],
            None,
        )
        .status
    };
    assert_eq!((from("10.1.1.1"), from("203.0.113.5")), (200, 401));
    // The key's new ranges hold for its sessions at once.
    let path = format!("/org/tokens/{}", k["id"].as_str().unwrap());
    let r = app.patch(&path, &app.admin, json!({"allowed_cidrs": ["203.0.113.0/24"]}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((from("10.1.1.1"), from("203.0.113.5")), (401, 200));
}

#[test]
fn a_disabled_key_is_refused_kept_and_enabled_again_and_rotation_keeps_its_settings() {
    let app = spawn_app();
    let k = app.mint(json!({"name": "ci", "description": "the nightly job", "allowed_cidrs": ["127.0.0.1"]}));
    let (id, token) = (k["id"].as_str().unwrap(), k["auth_token"].as_str().unwrap());
    let path = format!("/org/tokens/{id}");
    let r = app.patch(
        &path,
        &app.admin,
        json!({"name": "ci-2", "description": "nightly, renamed"}),
    );
    assert_eq!(
        (r.body["name"].as_str(), r.body["description"].as_str()),
        (Some("ci-2"), Some("nightly, renamed"))
    );
    let r = app.patch(&path, &app.admin, json!({"disabled": true}));
    assert_eq!(r.body["disabled"], true, "{}", r.text);
    assert_eq!(app.get("/org/whoami", token).status, 401);
    assert_eq!(key(&app, id)["disabled"], true, "kept, and listed");
    app.patch(&path, &app.admin, json!({"disabled": false}));
    assert_eq!(app.get("/org/whoami", token).status, 200);
    let audit = app.get("/org/audit?limit=3", &app.admin).body;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["org_key.enable", "org_key.disable", "org_key.update"]);
    let rotated = app.post(&format!("{path}/rotate"), &app.admin, json!({}));
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    assert_eq!(rotated.body["description"], "nightly, renamed");
    assert_eq!(rotated.body["allowed_cidrs"], json!(["127.0.0.1/32"]));
    let bad = app.patch(&path, &app.admin, json!({"colour": "red"}));
    assert_eq!(bad.status, 400);
    let reader = app.mint_role("read-only", &[]);
    assert_eq!(app.patch(&path, &reader, json!({"disabled": true})).status, 403);
}

#[test]
fn a_key_over_its_rate_gets_429_with_the_headers() {
    let app = spawn_app();
    let k = app.mint(json!({"name": "bursty", "rate_limit": {"requests": 3, "per_seconds": 3600}}));
    let token = k["auth_token"].as_str().unwrap();
    let remaining: Vec<String> = (0..3)
        .map(|_| {
            let r = app.get("/org/whoami", token);
            assert_eq!(r.status, 200);
            assert_eq!(r.headers["x-ratelimit-limit"], "3");
            r.headers["x-ratelimit-remaining"].clone()
        })
        .collect();
    assert_eq!(remaining, ["2", "1", "0"]);
    let over = app.get("/org/whoami", token);
    assert_eq!((over.status, over.code()), (429, "rate_limited"));
    let retry: u64 = over.headers["retry-after"].parse().unwrap();
    assert!(retry > 60, "{retry}");
    assert_eq!(over.headers["x-ratelimit-remaining"], "0");
    // Editing the key does not refill it; a new rate starts afresh.
    let path = format!("/org/tokens/{}", k["id"].as_str().unwrap());
    let r = app.patch(&path, &app.admin, json!({"description": "now described"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/org/whoami", token).status, 429);
    let r = app.patch(
        &path,
        &app.admin,
        json!({"rate_limit": {"requests": 5, "per_seconds": 3600}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/org/whoami", token).status, 200);
    // Others are not slowed, and carry no such headers.
    let other = app.get("/org/whoami", &app.admin);
    assert_eq!(other.status, 200);
    assert!(!other.headers.contains_key("x-ratelimit-limit"));
    let bad = app.post(
        "/org/tokens",
        &app.admin,
        json!({"rate_limit": {"requests": 0, "per_seconds": 1}}),
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn the_policy_refuses_keys_that_live_too_long_and_flags_the_old_ones() {
    let app = spawn_app();
    let reader = app.mint_role("read-only", &[]);
    let put = |body: Value| app.put("/org/policy", &app.admin, body);
    assert_eq!(
        put(json!({"max_key_lifetime_seconds": 60})).status,
        400,
        "at least an hour"
    );
    let r = put(json!({"max_key_lifetime_seconds": 30 * 86400, "require_expiry": true}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["keys_breaking_policy"], 2,
        "the seed key and the reader never expire"
    );
    assert_eq!(app.put("/org/policy", &reader, json!({})).status, 403);
    assert_eq!(
        app.get("/org/policy", &reader).body["max_key_lifetime_seconds"],
        30 * 86400
    );
    let refused = app.post("/org/tokens", &app.admin, json!({"name": "forever"}));
    assert_eq!(
        (refused.status, refused.code()),
        (422, "policy_violation"),
        "{}",
        refused.text
    );
    assert!(refused.body["error"].as_str().unwrap().contains("30 days"));
    let long = app.post(
        "/org/tokens",
        &app.admin,
        json!({"name": "long", "expires_in": 40 * 86400}),
    );
    assert_eq!(long.code(), "policy_violation");
    let ok = app.mint(json!({"name": "short", "expires_in": 10 * 86400}));
    assert_eq!(key(&app, ok["id"].as_str().unwrap())["expires_soon"], "30d");
    let list = app.get("/org/tokens", &app.admin).body;
    let flagged = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["breaks_policy"] == true)
        .count();
    assert_eq!(flagged, 2);
    // A rotation keeps the expiry unless given one; the policy applies.
    let reader_id = app.get("/org/whoami", &reader).body["id"].as_str().unwrap().to_string();
    let rot = app.post(&format!("/org/tokens/{reader_id}/rotate"), &app.admin, json!({}));
    assert_eq!(rot.code(), "policy_violation");
    let rot = app.post(
        &format!("/org/tokens/{reader_id}/rotate"),
        &app.admin,
        json!({"expires_in": 86400}),
    );
    assert_eq!(rot.status, 201, "{}", rot.text);
    assert_eq!(key(&app, rot.body["id"].as_str().unwrap())["expires_soon"], "7d");
}

#[test]
fn the_cli_bootstrap_obeys_the_policy_unless_overridden_on_the_record() {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path().join("d");
    let admin = stdout(&run(&["mint-key", "--label", "first"], &d)).trim().to_string();
    let serve = crate::cli::Serve::start(&d);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let r = agent
        .put(format!("{}/org/policy", serve.base))
        .header("Authorization", format!("Bearer {admin}"))
        .send_json(json!({"require_expiry": true}))
        .unwrap();
    assert_eq!(r.status(), 200);
    let o = run(&["mint-key", "--label", "forever"], &d);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--override-policy"), "{}", stderr(&o));
    let o = run(&["mint-key", "--label", "short", "--expires-in", "1d"], &d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["mint-key", "--label", "break-glass", "--override-policy"], &d);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut r = agent
        .get(format!("{}/org/audit?limit=1", serve.base))
        .header("Authorization", format!("Bearer {admin}"))
        .call()
        .unwrap();
    let trail: Value = r.body_mut().read_json().unwrap();
    assert!(
        trail["entries"][0]["detail"]["policy_overridden"].is_string(),
        "{trail}"
    );
    // Address ranges from the box, named as the operator wrote them.
    let o = run(
        &[
            "mint-key",
            "--label",
            "office",
            "--expires-in",
            "1d",
            "--allow-from",
            "10.0.0.0/8",
        ],
        &d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let listed: Value = serde_json::from_str(&stdout(&run(&["list-keys", "--json"], &d))).unwrap();
    let office = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "office")
        .unwrap();
    assert_eq!(office["allowed_cidrs"], json!(["10.0.0.0/8"]));
    // Listed from the box as the server lists it: the override shows.
    let glass = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "break-glass")
        .unwrap();
    assert_eq!(glass["breaks_policy"], true);
    let o = run(
        &[
            "mint-key",
            "--label",
            "x",
            "--expires-in",
            "1d",
            "--allow-from",
            "nowhere",
        ],
        &d,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--allow-from:"), "{}", stderr(&o));
}
