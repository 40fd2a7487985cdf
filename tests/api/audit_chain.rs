//! The keyed, anchored audit chain against someone who holds only the
//! database file: edits, truncation and a rewrite as the old unkeyed kind
//! are all caught by `audit verify` (the real binary), naming the first bad
//! entry; a trail from before the chain was keyed is sealed on first start.

use std::path::Path;

use rusqlite::{params, Connection};
use tempfile::TempDir;

use crate::cli::{run, stderr, stdout};

fn verify(d: &Path) -> (Option<i32>, String) {
    let o = run(&["audit", "verify"], d);
    (o.status.code(), stdout(&o) + &stderr(&o))
}

/// What an attacker with the database file can do: edit an entry and
/// recompute every hash after it (plain blake3, as the trail used to be).
fn rechain_plain(conn: &Connection, from: i64) {
    let mut prev: Vec<u8> = if from == 1 {
        vec![0; 32]
    } else {
        conn.query_row("SELECT hash FROM audit_log WHERE id = ?1", [from - 1], |r| r.get(0))
            .unwrap()
    };
    let mut stmt = conn
        .prepare("SELECT id, at, actor, action, target, detail, client FROM audit_log WHERE id >= ?1 ORDER BY id")
        .unwrap();
    type Row = (i64, i64, String, String, Option<String>, String, Option<String>);
    let rows: Vec<Row> = stmt
        .query_map([from], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, at, actor, action, target, detail, client) in rows {
        let mut h = blake3::Hasher::new();
        h.update(&prev);
        h.update(&id.to_le_bytes());
        h.update(&at.to_le_bytes());
        for f in [
            Some(&actor),
            Some(&action),
            target.as_ref(),
            Some(&detail),
            client.as_ref(),
        ] {
            match f {
                Some(s) => {
                    h.update(&[1]);
                    h.update(&(s.len() as u64).to_le_bytes());
                    h.update(s.as_bytes());
                }
                None => {
                    h.update(&[0]);
                }
            }
        }
        let hash = h.finalize().as_bytes().to_vec();
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE id = ?1",
            params![id, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
}

fn three_entries() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    for label in ["a", "b", "c"] {
        assert!(run(&["mint-key", "--label", label], &d).status.success());
    }
    (dir, d)
}

#[test]
fn an_edited_and_rechained_entry_is_caught() {
    let (_t, d) = three_entries();
    let (code, out) = verify(&d);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("intact: 3 entries") && out.contains("the anchor witnessed #3"),
        "{out}"
    );
    let conn = Connection::open(d.join("molecule.db")).unwrap();
    conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2", [])
        .unwrap();
    rechain_plain(&conn, 2);
    drop(conn);
    let (code, out) = verify(&d);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("BROKEN at entry #2"), "{out}");
}

#[test]
fn dropping_the_newest_entries_or_all_of_them_is_caught() {
    let (_t, d) = three_entries();
    let conn = Connection::open(d.join("molecule.db")).unwrap();
    conn.execute("DELETE FROM audit_log WHERE id = 3", []).unwrap();
    let (code, out) = verify(&d);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("BROKEN at entry #3") && out.contains("anchor witnessed #3"),
        "{out}"
    );
    // A command that writes after the cut does not move the anchor past it.
    assert!(run(&["mint-key", "--label", "d"], &d).status.success());
    let (code, out) = verify(&d);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("BROKEN at entry #3"), "{out}");
    conn.execute("DELETE FROM audit_log", []).unwrap();
    let (code, out) = verify(&d);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("BROKEN at entry #1"), "{out}");
}

#[test]
fn a_trail_rewritten_as_the_old_unkeyed_kind_is_caught_even_without_the_anchor() {
    let (_t, d) = three_entries();
    let conn = Connection::open(d.join("molecule.db")).unwrap();
    conn.execute(
        "UPDATE audit_log SET key_id = NULL, actor = 'someone-else' WHERE id = 1",
        [],
    )
    .unwrap();
    conn.execute("UPDATE audit_log SET key_id = NULL", []).unwrap();
    rechain_plain(&conn, 1);
    drop(conn);
    std::fs::remove_file(d.join("audit.anchor")).unwrap();
    let (code, out) = verify(&d);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("BROKEN at entry #1") && out.contains("no entry is sealed"),
        "{out}"
    );
}

#[test]
fn a_database_from_before_the_keyed_chain_is_sealed_once_on_first_start() {
    let (_t, d) = three_entries();
    // Make it as version 3 left it: plain hashes, no key column, no key.
    let conn = Connection::open(d.join("molecule.db")).unwrap();
    conn.execute("DELETE FROM audit_log WHERE id > 2", []).unwrap();
    for idx in [
        "approvals_ended",
        "org_keys_ended",
        "workspace_tokens_ended",
        "sessions_ended",
    ] {
        conn.execute(&format!("DROP INDEX {idx}"), []).unwrap();
    }
    conn.execute_batch(
        "DROP INDEX login_links_ended; DROP INDEX workspaces_deleted;
         ALTER TABLE audit_log DROP COLUMN key_id;
         DROP INDEX workspaces_live; DROP INDEX approvals_pending_by_workspace; DROP INDEX sessions_open;
         DROP TABLE org_policy; DROP TABLE expiry_notices; DROP TABLE cred_activity;
         ALTER TABLE org_keys DROP COLUMN description; ALTER TABLE org_keys DROP COLUMN disabled_at;
         ALTER TABLE org_keys DROP COLUMN allowed_cidrs; ALTER TABLE org_keys DROP COLUMN rate_limit_requests;
         ALTER TABLE org_keys DROP COLUMN rate_limit_seconds; ALTER TABLE org_keys DROP COLUMN last_used_ip;
         ALTER TABLE org_keys DROP COLUMN last_used_user_agent;
         ALTER TABLE workspace_tokens DROP COLUMN last_used_ip;
         ALTER TABLE workspace_tokens DROP COLUMN last_used_user_agent;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    rechain_plain(&conn, 1);
    drop(conn);
    for f in ["audit.key", "audit.anchor"] {
        std::fs::remove_file(d.join(f)).unwrap();
    }
    let (code, out) = verify(&d);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact: 3 entries"), "{out}");
    let conn = Connection::open(d.join("molecule.db")).unwrap();
    let (action, detail): (String, String) = conn
        .query_row("SELECT action, detail FROM audit_log WHERE id = 3", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(action, "audit.seal");
    assert!(detail.contains(r#""legacy_chain":"intact""#), "{detail}");
    // Sealed once: editing a sealed entry now shows.
    conn.execute("UPDATE audit_log SET actor = 'x' WHERE id = 1", [])
        .unwrap();
    rechain_plain(&conn, 1);
    drop(conn);
    let (code, out) = verify(&d);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("BROKEN at entry #"), "{out}");
}

#[test]
fn the_audit_key_file_is_private_rotates_and_a_lost_one_is_not_replaced() {
    let (_t, d) = three_entries();
    let key = d.join("audit.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let o = run(&["rotate-audit-key"], &d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&key).unwrap().lines().count(), 2);
    assert!(run(&["mint-key", "--label", "after"], &d).status.success());
    let (code, out) = verify(&d);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact: 5 entries"), "{out}");
    std::fs::remove_file(&key).unwrap();
    let o = run(&["list-keys"], &d);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("audit key file") && stderr(&o).contains("missing"),
        "{}",
        stderr(&o)
    );
    assert!(!key.exists(), "a lost key is never silently replaced");
}

#[test]
fn the_server_keeps_the_anchor_and_shows_the_head_and_the_verdict() {
    let app = crate::helpers::spawn_app();
    app.mint(serde_json::json!({"name": "k"}));
    let list = app.get("/org/audit", &app.admin);
    let head = list.body["head"].clone();
    assert_eq!(head["seq"], 1, "{}", list.text);
    let hash = head["hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    let metrics = app.get("/metrics", &app.admin).text;
    let hash48 = i64::from_str_radix(&hash[..12], 16).unwrap();
    assert!(metrics.contains("molecule_audit_head_seq 1"), "{metrics}");
    assert!(
        metrics.contains(&format!("molecule_audit_head_hash48 {hash48}")),
        "{metrics}"
    );
    // The anchor follows within the flush interval.
    let anchor = app.dir.path().join("data").join("audit.anchor");
    let mut seen = String::new();
    for _ in 0..50 {
        seen = std::fs::read_to_string(&anchor).unwrap_or_default();
        if seen.contains(&hash) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(seen.contains(&hash), "{seen}");
    let v = app.get("/org/audit/verify", &app.admin);
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["intact"], true);
    assert_eq!(v.body["entries"], 1);
    assert_eq!(v.body["anchor"]["seq"], 1);
    assert_eq!(
        app.get("/org/audit/verify", &app.mint_role("read-only", &[])).status,
        403
    );
    assert_eq!(app.get("/org/audit/verify", "").status, 401);
    // Someone with the database file edits the entry: the server says so.
    let conn = Connection::open(app.dir.path().join("data").join("molecule.db")).unwrap();
    conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 1", [])
        .unwrap();
    rechain_plain(&conn, 1);
    let v = app.get("/org/audit/verify", &app.admin);
    assert_eq!(
        (v.body["intact"].clone(), v.body["broken_at"].clone()),
        (false.into(), 1.into()),
        "{}",
        v.text
    );
}
