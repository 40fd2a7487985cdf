//! A key's life beyond minting: its activity, expiry warnings (told to a
//! channel once per window), leak reports from anyone, and `scan`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::cli::{run, stderr, stdout};
use crate::helpers::{spawn_app, TestApp};
use crate::sessions::call;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_key_s_recent_requests_and_where_it_was_last_used_from() {
    let app = spawn_app();
    let k = app.mint(json!({"name": "agent"}));
    let (id, token) = (k["id"].as_str().unwrap(), k["auth_token"].as_str().unwrap());
    let auth = format!("Bearer {token}");
    call(
        &app,
        "GET",
        "/workspaces",
        &[("Authorization", &auth), ("User-Agent", "my-agent/1.0")],
        None,
    );
    call(
        &app,
        "POST",
        "/workspaces",
        &[("Authorization", &auth), ("User-Agent", "my-agent/1.0")],
        Some(json!({"name": "w"})),
    );
    call(
        &app,
        "GET",
        "/workspaces/not-an-id",
        &[("Authorization", &auth), ("User-Agent", "my-agent/1.0")],
        None,
    );
    let path = format!("/org/tokens/{id}/activity");
    let mut got = Value::Null;
    wait_for("the activity to be written", || {
        got = app.get(&path, &app.admin).body;
        got["count"].as_u64() == Some(3)
    });
    let routes: Vec<(String, String, u64)> = got["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().into(),
                r["route"].as_str().unwrap().into(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("GET".into(), "/workspaces/{id}".into(), 400),
            ("POST".into(), "/workspaces".into(), 201),
            ("GET".into(), "/workspaces".into(), 200)
        ]
    );
    assert_eq!(got["requests"][0]["client"], "127.0.0.1");
    assert!(got["requests"][0]["duration_ms"].as_f64().unwrap() >= 0.0);
    let listed = app.get("/org/tokens", &app.admin).body;
    let me = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(
        (me["last_used_ip"].as_str(), me["last_used_user_agent"].as_str()),
        (Some("127.0.0.1"), Some("my-agent/1.0"))
    );
    assert_eq!(app.get(&path, &app.mint_role("read-only", &[])).status, 403);
    assert_eq!(
        app.get("/org/tokens/00000000-0000-4000-8000-000000000000/activity", &app.admin)
            .status,
        404
    );
    // A workspace token's, too.
    let (ws, agent) = app.workspace("agent", None);
    app.post(&format!("/workspaces/{ws}/heartbeat"), &agent, json!({}));
    let tokens = app.get(&format!("/workspaces/{ws}/tokens"), &app.admin).body;
    let tid = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    wait_for("the token's activity", || {
        app.get(&format!("/workspaces/{ws}/tokens/{tid}/activity"), &app.admin)
            .body["count"]
            == 1
    });
}

#[test]
fn the_activity_log_keeps_a_key_s_newest_thousand_requests() {
    let app = spawn_app();
    let k = app.mint(json!({"name": "busy"}));
    let token = k["auth_token"].as_str().unwrap().to_string();
    let path = format!("/org/tokens/{}/activity", k["id"].as_str().unwrap());
    // In two batches at least, so the second is trimmed in the table.
    for i in 0..1040 {
        assert_eq!(app.get("/org/whoami", &token).status, 200);
        if i == 600 {
            wait_for("a first batch", || {
                app.get(&path, &app.admin).body["count"].as_u64() > Some(0)
            });
        }
    }
    // The newest comes after the 1,040 whoamis: it must be listed first,
    // and the oldest 41 gone.
    app.get("/workspaces", &token);
    let mut got = Value::Null;
    wait_for("the activity to be written", || {
        got = app.get(&path, &app.admin).body;
        got["requests"][0]["route"] == "/workspaces"
    });
    assert_eq!(got["count"], 1000);
    assert!(got["requests"].as_array().unwrap()[1..]
        .iter()
        .all(|r| r["route"] == "/org/whoami"));
    // Nor does the table hold more than is kept, between sweeps.
    let conn = rusqlite::Connection::open(app.dir.path().join("data").join("molecule.db")).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM cred_activity WHERE cred_id = ?1",
            [k["id"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1000);
}

fn report(app: &TestApp, tokens: Vec<String>) -> (u16, Value) {
    let r = call(
        app,
        "POST",
        "/org/tokens/leaked",
        &[],
        Some(json!({ "tokens": tokens })),
    );
    (r.status, r.body)
}

#[test]
fn anyone_may_report_a_leaked_token_and_learns_nothing_from_the_answer() {
    let app = spawn_app();
    let key = app.mint(json!({"name": "leaky"}))["auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, agent) = app.workspace("w", None);
    let garbage = vec!["mol_org_nope".to_string(), "hello".into(), "x".repeat(60)];
    let (status, for_garbage) = report(&app, garbage.clone());
    let mut real = vec![key.clone(), agent.clone()];
    real.push("not a token".into());
    let (status2, for_real) = report(&app, real.clone());
    assert_eq!((status, status2), (202, 202));
    assert_eq!(for_garbage, for_real, "the same answer whatever the tokens were");
    assert_eq!(app.get("/org/whoami", &key).status, 401);
    assert_eq!(app.get("/org/whoami", &agent).status, 401);
    // Again: nothing left to revoke, the same answer.
    assert_eq!(report(&app, real).1, for_real);
    let trail = app.get("/org/audit?limit=10", &app.admin).body;
    let leaked: Vec<&Value> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "org_key.leaked" || e["action"] == "workspace_token.leaked")
        .collect();
    assert_eq!(leaked.len(), 2);
    assert!(leaked
        .iter()
        .all(|e| e["actor"] == "leak-report" && e["client"] == "127.0.0.1"));
    assert!(!trail.to_string().contains(&key), "the token itself is never recorded");
    // Only the report that revoked something is on the record: dead or
    // made-up tokens cannot fill the trail.
    let reports: Vec<&Value> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "leak.report")
        .collect();
    assert_eq!(reports.len(), 1, "{trail}");
    assert_eq!(reports[0]["detail"]["revoked"], 2);
    assert_eq!(report(&app, vec!["t".into(); 101]).0, 400);
    // Throttled per address: ten a minute.
    let statuses: Vec<u16> = (0..10).map(|_| report(&app, garbage.clone()).0).collect();
    assert_eq!(statuses.last(), Some(&429));
    let r = report(&app, garbage);
    assert_eq!(r.1["code"], "rate_limited");
    assert!(r.1["error"].as_str().unwrap().contains("leak reports"), "{}", r.1);
}

#[test]
fn scan_finds_tokens_offline_and_revokes_the_live_ones_on_the_box() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let live = stdout(&run(&["mint-key", "--label", "live"], &d)).trim().to_string();
    let gone = stdout(&run(&["mint-key", "--label", "gone"], &d)).trim().to_string();
    let keep = stdout(&run(&["mint-key", "--label", "keep"], &d)).trim().to_string();
    assert!(run(&["revoke-key", &gone], &d).status.success());
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("config")).unwrap();
    std::fs::write(repo.join("config/.env"), format!("A=1\nMOLECULE_ORG_TOKEN={live}\n")).unwrap();
    std::fs::write(
        repo.join("notes.md"),
        format!("old: {gone}\nnot one: mol_org_{}\n", "a".repeat(49)),
    )
    .unwrap();
    std::fs::write(repo.join("clean.txt"), "nothing here").unwrap();
    let o = run(&["scan", repo.to_str().unwrap()], &d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("config/.env:2: org key mol_org_") && out.contains("notes.md:1"),
        "{out}"
    );
    assert!(!out.contains(&live[20..]), "only display prefixes are printed");
    assert_eq!(out.lines().count(), 2);
    let o = run(&["scan", "--revoke", repo.to_str().unwrap()], &d);
    assert!(stderr(&o).contains("2 found, 1 live and now revoked"), "{}", stderr(&o));
    let listed = stdout(&run(&["list-keys", "--json"], &d));
    assert!(!listed.contains("\"live\"") && listed.contains("\"keep\""), "{listed}");
    assert!(!keep.is_empty());
    let o = run(&["scan", repo.join("clean.txt").to_str().unwrap()], &d);
    assert_eq!(o.status.code(), Some(0));
    // A sign-in code has no display prefix: none of it is printed.
    let link = stdout(&run(&["login-url", "--base-url", "http://box.example/"], &d));
    let code = link.trim().rsplit('=').next().unwrap().to_string();
    assert!(code.starts_with("mol_login_"), "{link}");
    std::fs::write(repo.join("clean.txt"), format!("link: {}", link.trim())).unwrap();
    let o = run(&["scan", repo.join("clean.txt").to_str().unwrap()], &d);
    let out = stdout(&o);
    assert!(out.contains("sign-in code mol_login_…"), "{out}");
    assert!(!out.contains(&code["mol_login_".len()..][..8]), "{out}");
    // An error is 2, not the 1 of "found".
    let o = run(&["scan", dir.path().join("nowhere").to_str().unwrap()], &d);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A local HTTP receiver: every body POSTed to it.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut r = BufReader::new(stream);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            seen.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            let _ = r
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (url, got)
}

#[test]
fn expiring_keys_are_counted_listed_and_told_to_the_org_s_channel_once_per_window() {
    let app = spawn_app();
    let (url, got) = receiver();
    let (ws, _) = app.workspace("ops", None);
    let ch = app.post(
        &format!("/workspaces/{ws}/channels"),
        &app.admin,
        json!({"channel_type": "webhook", "config": {"url": url}}),
    );
    assert_eq!(ch.status, 201, "{}", ch.text);
    let bad = app.put(
        "/org/policy",
        &app.admin,
        json!({"expiry_channel_id": "00000000-0000-4000-8000-000000000000"}),
    );
    assert_eq!(bad.status, 400);
    let r = app.put("/org/policy", &app.admin, json!({"expiry_channel_id": ch.body["id"]}));
    assert_eq!(r.status, 200, "{}", r.text);
    app.mint(json!({"name": "soon", "expires_in": 5 * 86400}));
    app.mint(json!({"name": "later", "expires_in": 20 * 86400}));
    let m = app.get("/metrics", &app.admin).text;
    assert!(
        m.contains(r#"molecule_keys_expiring{within="7d"} 1"#)
            && m.contains(r#"molecule_keys_expiring{within="30d"} 2"#),
        "{m}"
    );
    let notify = || molecule_tenant::service::expiry::notify(&app.state).unwrap();
    assert_eq!(notify(), 2);
    assert_eq!(notify(), 0, "once per key and window");
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\\\"soon\\\"") && b.contains("within 7 days")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\\\"later\\\"") && b.contains("within 30 days")),
        "{bodies:?}"
    );
    // A fortnight on, "later" is within 7 days: told once more.
    app.clock.advance(Duration::from_secs(14 * 86400));
    assert_eq!(notify(), 1);
    let trail = app.get("/org/audit?limit=1", &app.admin).body;
    assert_eq!(trail["entries"][0]["action"], "org_key.expiry_notice");
    assert_eq!(trail["entries"][0]["detail"]["window_days"], 7);
    // A key rotated with a grace period is replaced already: its end is
    // neither announced, nor counted, nor shown as coming.
    let old = app.mint(json!({"name": "rotating"}));
    let r = app.post(
        &format!("/org/tokens/{}/rotate", old["id"].as_str().unwrap()),
        &app.admin,
        json!({"grace_seconds": 86400}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(notify(), 0);
    let m = app.get("/metrics", &app.admin).text;
    assert!(m.contains(r#"molecule_keys_expiring{within="7d"} 1"#), "{m}");
    let listed = app.get("/org/tokens", &app.admin).body;
    let old_view = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old["id"])
        .unwrap()
        .clone();
    assert_eq!(old_view["expires_soon"], Value::Null, "{old_view}");
}
