//! Counts for `/metrics` and for the secrets-key rotation.

use rusqlite::Connection;

use super::StoreResult;
use crate::domain::workspace::Liveness;

/// Approvals waiting for a decision at `now`, on live workspaces.
pub fn pending_approvals(conn: &Connection, now: i64) -> StoreResult<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM approvals a JOIN workspaces w ON w.id = a.workspace_id
         WHERE a.status = 'pending' AND a.expires_at > ?1 AND w.deleted_at IS NULL",
        [now],
        |r| r.get(0),
    )?)
}

/// Calls `f` with each live workspace's id and what its status is derived
/// from.
pub fn each_liveness(conn: &Connection, mut f: impl FnMut(&str, Liveness)) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, paused, last_heartbeat_at, active_tasks, idle_since FROM workspaces WHERE deleted_at IS NULL",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let live = Liveness {
            paused: r.get(1)?,
            last_heartbeat_at: r.get(2)?,
            active_tasks: r.get(3)?,
            idle_since: r.get(4)?,
        };
        f(r.get_ref(0)?.as_str()?, live);
    }
    Ok(())
}

/// Sealed values (secrets and channel credentials) in all, or under one key.
pub fn sealed_values(conn: &Connection, key_id: Option<&str>) -> StoreResult<i64> {
    Ok(match key_id {
        None => conn.query_row(
            "SELECT (SELECT count(*) FROM secrets) + (SELECT count(*) FROM channels)",
            [],
            |r| r.get(0),
        )?,
        Some(k) => conn.query_row(
            "SELECT (SELECT count(*) FROM secrets WHERE key_id = ?1) + (SELECT count(*) FROM channels WHERE key_id = ?1)",
            [k],
            |r| r.get(0),
        )?,
    })
}

/// The database file's size: its pages, as SQLite counts them.
pub fn database_bytes(conn: &Connection) -> StoreResult<i64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(pages * size)
}

/// Live, enabled org keys expiring within `within_ms` of `now` (not those
/// rotated and in their grace period: they are replaced already).
pub fn keys_expiring(conn: &Connection, now: i64, within_ms: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM org_keys WHERE revoked_at IS NULL AND disabled_at IS NULL
               AND rotated_to IS NULL AND expires_at > ?1 AND expires_at <= ?2",
        )?
        .query_row([now, now + within_ms], |r| r.get(0))?)
}
