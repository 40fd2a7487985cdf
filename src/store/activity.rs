//! Recent requests per credential (org keys and workspace tokens), written
//! in batches off the request path; the last 1,000 or 30 days are kept.

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{StoreResult, WriteCtx};

pub const KEEP_PER_CREDENTIAL: i64 = 1000;
pub const KEEP_MS: i64 = 30 * 24 * 3600 * 1000;

/// One request made with a credential.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    #[serde(skip)]
    pub cred_id: String,
    pub at: i64,
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
    pub duration_us: u32,
    pub client: Option<String>,
}

pub fn insert(ctx: &WriteCtx, r: &Request) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO cred_activity (cred_id, at, method, route, status, duration_us, client)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![r.cred_id, r.at, r.method, r.route, r.status, r.duration_us, r.client],
    )?;
    Ok(())
}

/// Drops a credential's requests beyond its newest `KEEP_PER_CREDENTIAL`,
/// after each batch: a flood from one key never grows the table past
/// what is kept (the rows past it sit at the far end of the index).
pub fn trim(ctx: &WriteCtx, cred_id: &str) -> StoreResult<usize> {
    Ok(ctx.execute(
        "DELETE FROM cred_activity WHERE rowid IN (
             SELECT rowid FROM cred_activity WHERE cred_id = ?1 ORDER BY at DESC, rowid DESC
             LIMIT -1 OFFSET ?2)",
        params![cred_id, KEEP_PER_CREDENTIAL],
    )?)
}

/// A credential's requests, newest first: the last `KEEP_PER_CREDENTIAL`
/// within `KEEP_MS` of `now`.
pub fn recent(conn: &Connection, cred_id: &str, now: i64) -> StoreResult<Vec<StoredRequest>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, method, route, status, duration_us, client FROM cred_activity
         WHERE cred_id = ?1 AND at > ?2 ORDER BY at DESC, rowid DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![cred_id, now - KEEP_MS, KEEP_PER_CREDENTIAL], |r| {
        Ok(StoredRequest {
            at: r.get(0)?,
            method: r.get(1)?,
            route: r.get(2)?,
            status: r.get(3)?,
            duration_us: r.get(4)?,
            client: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A request as read back.
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub at: i64,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub duration_us: u32,
    pub client: Option<String>,
}

/// Deletes requests older than 30 days, up to `limit` rows (the newest
/// 1,000 are kept by `trim` as they are written).
pub fn prune(ctx: &WriteCtx, limit: i64) -> StoreResult<usize> {
    Ok(ctx.execute(
        "DELETE FROM cred_activity WHERE rowid IN (SELECT rowid FROM cred_activity WHERE at < ?1 LIMIT ?2)",
        params![ctx.now - KEEP_MS, limit],
    )?)
}
