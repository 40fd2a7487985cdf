//! Findings from an attacker's pass (issue 11), one test each: what was
//! possible before, refused or bounded now.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::json;
use tempfile::TempDir;

use crate::cli::{run, stdout, Serve};
use crate::helpers::spawn_app;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One raw request on its own connection; the answer's status line.
fn raw(base: &str, head: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// 10,000 requests with made-up methods (2 KiB each) and paths, with no
/// credential, add no series to /metrics and leave the server's memory
/// where it was: the body stays under 32 KiB and RSS grows by less than
/// 16 MiB (the methods alone are 20 MiB; before the fix each was a label).
#[test]
fn a_flood_of_made_up_methods_and_paths_leaves_metrics_and_memory_bounded() {
    let d = TempDir::new().unwrap();
    let admin = stdout(&run(&["mint-key", "--label", "scraper"], d.path()))
        .trim()
        .to_string();
    let serve = Serve::start(d.path());
    let scrape = || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = agent
            .get(format!("{}/metrics", serve.base))
            .header("Authorization", format!("Bearer {admin}"))
            .call()
            .unwrap();
        r.body_mut().read_to_string().unwrap()
    };
    let before_body = scrape();
    let before = rss_kib(serve.child.id());
    let pad = "X".repeat(2048);
    for i in 0..10_000 {
        let path = if i % 2 == 0 {
            "/health".to_string()
        } else {
            format!("/no/such/{i}")
        };
        let status = raw(
            &serve.base,
            &format!("M{i}{pad} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(status.starts_with("HTTP/1.1 4"), "{status}");
    }
    let body = scrape();
    let after = rss_kib(serve.child.id());
    assert!(body.len() < 32 * 1024, "{} bytes:\n{body}", body.len());
    assert!(body.len() < before_body.len() + 4096, "{body}");
    assert!(!body.contains(&pad) && !body.contains("/no/such/"), "{body}");
    assert!(body.contains(r#"method="other""#), "{body}");
    assert!(after < before + 16 * 1024, "RSS grew from {before} KiB to {after} KiB");
}

/// Every answer, API or page, says not to keep it: secrets, tokens and
/// import results must not sit in a browser's or a proxy's cache.
#[test]
fn every_answer_says_no_store() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("w", None);
    app.post(
        &format!("/workspaces/{ws}/secrets"),
        &app.admin,
        json!({"key": "K", "value": "v"}),
    );
    let minted = app.post("/org/tokens", &app.admin, json!({"name": "k"}));
    for r in [
        minted,
        app.get(&format!("/workspaces/{ws}/secrets/values"), &tok),
        app.get("/workspaces", &app.admin),
        app.get("/workspaces", "nope"),
        app.get("/no/such/route", ""),
        app.get("/health", ""),
        app.get("/ui/", ""),
    ] {
        assert_eq!(
            r.headers.get("cache-control").map(String::as_str),
            Some("no-store"),
            "{}",
            r.text
        );
        assert_eq!(
            r.headers.get("pragma").map(String::as_str),
            Some("no-cache"),
            "{}",
            r.text
        );
    }
}

/// A credential written into a registered template would be kept as
/// written and served to any read-only key: refused, pointing to ${NAME}.
#[test]
fn templates_never_keep_a_credential_in_clear() {
    let app = spawn_app();
    let literal = "name: Leaky\nworkspaces:\n  - name: a\n    channels:\n      - type: telegram\n        config:\n          bot_token: \"123456789:AAliteral-secret-value-xxxxxxxxxxxxx\"\n          chat_id: \"-100123\"\n";
    let r = app.post("/org/templates", &app.admin, json!({"yaml": literal}));
    assert_eq!((r.status, r.code()), (400, "invalid_template"), "{}", r.text);
    assert!(
        r.text.contains("config.bot_token") && r.text.contains("${NAME}"),
        "{}",
        r.text
    );
    assert!(!crate::helpers::contains(&app.db_bytes(), "AAliteral-secret-value"));
    // Named, it registers; a .env beside it is left out, never stored.
    let named = literal.replace("\"123456789:AAliteral-secret-value-xxxxxxxxxxxxx\"", "${TG_TOKEN}");
    let files = json!({"org.yaml": named, ".env": "TG_TOKEN=123456789:AAdotenv-secret", ".env.example": "TG_TOKEN="});
    let r = app.post("/org/templates", &app.admin, json!({"name": "ok", "files": files}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.text.contains(".env: a .env file holds secrets"), "{}", r.text);
    let got = app.get("/org/templates/ok", &app.mint_role("read-only", &[]));
    assert!(got.body["files"][".env.example"].is_string() && got.body["files"][".env"].is_null());
    assert!(!crate::helpers::contains(&app.db_bytes(), "AAdotenv-secret"));
    // One stored before the rule (written straight into the database) is
    // never shown.
    let conn = rusqlite::Connection::open(app.dir.path().join("data").join("molecule.db")).unwrap();
    conn.execute(
        "UPDATE org_templates SET files = json_set(files, '$.\"org.yaml\"', ?1) WHERE dir = 'ok'",
        [literal],
    )
    .unwrap();
    let got = app.get("/org/templates/ok", &app.admin);
    assert_eq!(got.status, 400, "{}", got.text);
    assert!(!got.text.contains("AAliteral-secret-value"));
}

/// Names that display as something else are refused; prose may hold
/// lines, not bidirectional overrides.
#[test]
fn names_cannot_disguise_themselves() {
    let app = spawn_app();
    for name in ["ad\u{200B}min", "key\u{202E}nimda", "a\u{2066}b"] {
        let r = app.post("/org/tokens", &app.admin, json!({"name": name}));
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{name:?}: {}", r.text);
        let r = app.post("/workspaces", &app.admin, json!({"name": name}));
        assert_eq!(r.status, 400, "{name:?}");
    }
    let r = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "w", "role": "line one\nline two"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app.post(
        "/workspaces",
        &app.admin,
        json!({"name": "x", "role": "safe\u{202E}txt.exe"}),
    );
    assert_eq!(r.status, 400);
}

/// The cookie is honoured only from this server's own origin: scheme, host
/// and port all count.
#[test]
fn an_origin_with_another_scheme_is_another_origin() {
    let app = spawn_app();
    let cookie = crate::sessions::signed_in(&app);
    let host = app.base.trim_start_matches("http://").to_string();
    for origin in [
        format!("evil://{host}"),
        format!("https://{host}"),
        app.base.replace("127.0.0.1", "localhost"),
    ] {
        let r = crate::sessions::call(
            &app,
            "GET",
            "/org/whoami",
            &[("Cookie", &cookie), ("Origin", &origin), ("Host", &host)],
            None,
        );
        assert_eq!((r.status, r.code()), (403, "cross_site_request"), "{origin}");
    }
    let r = crate::sessions::call(
        &app,
        "GET",
        "/org/whoami",
        &[("Cookie", &cookie), ("Origin", &app.base), ("Host", &host)],
        None,
    );
    assert_eq!(r.status, 200);
}

/// Decided and expired approvals, and other rows that ended, are deleted
/// after the retention period; what is live stays, and the audit trail
/// records each deletion.
#[test]
fn retention_deletes_what_ended_long_ago_and_nothing_live() {
    let app = spawn_app();
    let (ws, tok) = app.workspace("agent", None);
    let ask = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let r = app.post(
                    &format!("/workspaces/{ws}/approvals"),
                    &tok,
                    json!({"action": format!("a{i}")}),
                );
                r.body["approval_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}", r.text))
                    .to_string()
            })
            .collect()
    };
    let asked = ask(3);
    app.post(
        &format!("/workspaces/{ws}/approvals/{}/decide", asked[0]),
        &app.admin,
        json!({"decision": "approved"}),
    );
    let (gone, _) = app.workspace("gone", None);
    app.delete(&format!("/workspaces/{gone}"), &app.admin);
    let revoked = app.mint(json!({"name": "old"}));
    app.delete(&format!("/org/tokens/{}", revoked["id"].as_str().unwrap()), &app.admin);
    app.clock.advance(std::time::Duration::from_secs(31 * 24 * 3600));
    let fresh = ask(1);
    let before = app.count("approvals");
    let swept = molecule_tenant::service::retention::sweep(&app.state, 10).unwrap();
    assert!(swept.done);
    let purged = swept.purged;
    assert_eq!(purged.approvals, 3, "one decided, two expired: {purged:?}");
    assert_eq!((purged.workspaces, purged.org_keys), (1, 1), "{purged:?}");
    assert_eq!(app.count("approvals"), before - 3);
    let still = app.get(&format!("/workspaces/{ws}/approvals/{}", fresh[0]), &app.admin);
    assert_eq!(still.status, 200, "the pending one stays");
    assert_eq!(app.get(&format!("/workspaces/{ws}"), &app.admin).status, 200);
    let audit = app.get("/org/audit?limit=1", &app.admin);
    assert_eq!(audit.body["entries"][0]["action"], "retention.purge");
    assert_eq!(audit.body["entries"][0]["detail"]["deleted"]["approvals"], 3);
    // A second sweep finds nothing.
    let again = molecule_tenant::service::retention::sweep(&app.state, 10).unwrap();
    assert_eq!((again.purged.total(), again.done), (0, true));
}
