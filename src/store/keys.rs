//! Org API keys.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::sql::split_ids;
use super::{StoreResult, WriteCtx};
use crate::domain::ids::{KeyId, WorkspaceId};
use ipnet::IpNet;

use crate::domain::key_policy::RateLimit;
use crate::domain::keys::{Limits, NewKey};
use crate::domain::role::Role;
use crate::domain::token::Minted;

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: KeyId,
    pub prefix: String,
    pub name: String,
    pub role: Role,
    pub workspaces: Vec<WorkspaceId>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub token_hash: [u8; 32],
    /// The key that replaced this one, once rotated.
    pub rotated_to: Option<KeyId>,
    pub limits: Limits,
    pub disabled_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
}

const COLUMNS: &str = "k.id, k.prefix, k.name, k.role, k.created_by, k.created_at, k.expires_at, \
     k.last_used_at, k.token_hash, \
     (SELECT group_concat(workspace_id, ',') FROM org_key_workspaces b WHERE b.key_id = k.id), k.rotated_to, \
     k.description, k.allowed_cidrs, k.rate_limit_requests, k.rate_limit_seconds, k.disabled_at, \
     k.last_used_ip, k.last_used_user_agent";

/// Ranges stored comma-separated, as `cidrs_text` wrote them.
pub fn parse_cidrs(text: Option<&str>) -> Option<Vec<IpNet>> {
    text.filter(|t| !t.is_empty())
        .map(|t| t.split(',').map(str::parse).collect::<Result<Vec<IpNet>, _>>().ok())
        .unwrap_or_else(|| Some(Vec::new()))
}

fn cidrs_text(nets: &[IpNet]) -> Option<String> {
    (!nets.is_empty()).then(|| nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
}

const LIVE: &str = "k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?2)";

fn key_row(r: &Row) -> rusqlite::Result<KeyRow> {
    let bindings: Option<String> = r.get(9)?;
    let workspaces = split_ids(bindings.as_deref()).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, "a binding is not an id".into())
    })?;
    Ok(KeyRow {
        id: r.get(0)?,
        prefix: r.get(1)?,
        name: r.get(2)?,
        role: r.get(3)?,
        created_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        last_used_at: r.get(7)?,
        token_hash: r.get(8)?,
        workspaces,
        rotated_to: r.get(10)?,
        limits: Limits {
            description: r.get(11)?,
            allowed_cidrs: parse_cidrs(r.get_ref(12)?.as_str_or_null()?).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(12, rusqlite::types::Type::Text, "not a range".into())
            })?,
            rate_limit: match (r.get::<_, Option<u32>>(13)?, r.get::<_, Option<u32>>(14)?) {
                (Some(requests), Some(per_seconds)) => Some(RateLimit { requests, per_seconds }),
                _ => None,
            },
        },
        disabled_at: r.get(15)?,
        last_used_ip: r.get(16)?,
        last_used_user_agent: r.get(17)?,
    })
}

/// Stores a key minted as `minted` (only its hash and display prefix).
/// The bindings must name live workspaces (see `workspaces::all_live`).
pub fn insert(ctx: &mut WriteCtx, new: &NewKey, minted: &Minted) -> StoreResult<KeyRow> {
    let seq = ctx.cred_seq()?;
    let id = KeyId::generate();
    let l = &new.limits;
    ctx.execute(
        "INSERT INTO org_keys (id, token_hash, prefix, name, role, created_by, created_at, expires_at, seq,
             description, allowed_cidrs, rate_limit_requests, rate_limit_seconds)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            id,
            minted.hash,
            minted.prefix,
            new.name,
            new.role,
            new.created_by,
            ctx.now,
            new.expires_at,
            seq,
            l.description,
            cidrs_text(&l.allowed_cidrs),
            l.rate_limit.map(|r| r.requests),
            l.rate_limit.map(|r| r.per_seconds)
        ],
    )?;
    for ws in &new.workspaces {
        ctx.execute(
            "INSERT INTO org_key_workspaces (key_id, workspace_id) VALUES (?1, ?2)",
            params![id, ws],
        )?;
    }
    Ok(KeyRow {
        id,
        prefix: minted.prefix.clone(),
        name: new.name.clone(),
        role: new.role,
        workspaces: new.workspaces.clone(),
        created_by: new.created_by.clone(),
        created_at: ctx.now,
        expires_at: new.expires_at,
        last_used_at: None,
        token_hash: minted.hash,
        rotated_to: None,
        limits: new.limits.clone(),
        disabled_at: None,
        last_used_ip: None,
        last_used_user_agent: None,
    })
}

/// Renames or re-describes a key; sets where it may be used from and its
/// rate. The credential map follows (the row's sequence number moves).
pub fn update(ctx: &mut WriteCtx, id: KeyId, name: &str, limits: &Limits) -> StoreResult<()> {
    let seq = ctx.cred_seq()?;
    ctx.execute(
        "UPDATE org_keys SET name = ?2, description = ?3, allowed_cidrs = ?4, rate_limit_requests = ?5,
             rate_limit_seconds = ?6, seq = ?7 WHERE id = ?1",
        params![
            id,
            name,
            limits.description,
            cidrs_text(&limits.allowed_cidrs),
            limits.rate_limit.map(|r| r.requests),
            limits.rate_limit.map(|r| r.per_seconds),
            seq
        ],
    )?;
    // Its sessions are reloaded with its new ranges.
    ctx.execute(
        "UPDATE sessions SET seq = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
        params![id, seq],
    )?;
    Ok(())
}

/// Disables a key (kept, and refused like a revoked one; the sessions it
/// opened end) or enables it again.
pub fn set_disabled(ctx: &mut WriteCtx, id: KeyId, disabled: bool) -> StoreResult<()> {
    let seq = ctx.cred_seq()?;
    let at = disabled.then_some(ctx.now);
    ctx.execute(
        "UPDATE org_keys SET disabled_at = ?2, seq = ?3 WHERE id = ?1",
        params![id, at, seq],
    )?;
    if disabled {
        ctx.execute(
            "UPDATE sessions SET revoked_at = ?2, seq = ?3 WHERE key_id = ?1 AND revoked_at IS NULL",
            params![id, ctx.now, seq],
        )?;
    }
    Ok(())
}

/// Live keys (not revoked, not expired at `now`), newest first.
pub fn list_live(conn: &Connection, now: i64) -> StoreResult<Vec<KeyRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_keys k
         WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?1)
         ORDER BY k.created_at DESC, k.rowid DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now], key_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn find_live(conn: &Connection, id: KeyId, now: i64) -> StoreResult<Option<KeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM org_keys k WHERE k.id = ?1 AND {LIVE}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, now], key_row)
        .optional()?)
}

/// A key in any state (revoked and expired ones too: their activity stays
/// readable).
pub fn find_any(conn: &Connection, id: KeyId) -> StoreResult<Option<KeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM org_keys k WHERE k.id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row(params![id], key_row).optional()?)
}

/// Whether an org key is live right now, read inside the caller's
/// transaction (the cheap check every authenticated write makes).
pub fn is_live(conn: &Connection, id: KeyId, now: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM org_keys WHERE id = ?1 AND revoked_at IS NULL AND disabled_at IS NULL
               AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .exists(params![id, now])?)
}

/// A live key's expiry (`Ok(None)`: it never expires, or is not live).
pub fn live_expiry(conn: &Connection, id: KeyId, now: i64) -> StoreResult<Option<i64>> {
    Ok(find_live(conn, id, now)?.and_then(|k| k.expires_at))
}

/// Live keys with exactly this display prefix (for the CLI's break-glass
/// revoke). Prefixes are not unique, so this may find several.
pub fn find_live_by_prefix(conn: &Connection, prefix: &str, now: i64) -> StoreResult<Vec<KeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM org_keys k WHERE k.prefix = ?1 AND {LIVE} ORDER BY k.created_at DESC");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![prefix, now], key_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn find_live_by_hash(conn: &Connection, hash: &[u8; 32], now: i64) -> StoreResult<Option<KeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM org_keys k WHERE k.token_hash = ?1 AND {LIVE}");
    Ok(conn.query_row(&sql, params![hash, now], key_row).optional()?)
}

/// Revokes a live key, and the sessions opened with it. False when it is
/// unknown, revoked or expired.
pub fn revoke(ctx: &mut WriteCtx, id: KeyId) -> StoreResult<bool> {
    let seq = ctx.cred_seq()?;
    let n = ctx.execute(
        "UPDATE org_keys SET revoked_at = ?2, seq = ?3
         WHERE id = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
        params![id, ctx.now, seq],
    )?;
    ctx.execute(
        "UPDATE sessions SET revoked_at = ?2, seq = ?3 WHERE key_id = ?1 AND revoked_at IS NULL",
        params![id, ctx.now, seq],
    )?;
    Ok(n == 1)
}

/// Ends a rotated key at `until` (never later than its own expiry), or at
/// once when `until` is now; its sessions end with it.
pub fn retire(ctx: &mut WriteCtx, id: KeyId, until: i64, successor: KeyId) -> StoreResult<()> {
    let seq = ctx.cred_seq()?;
    if until <= ctx.now {
        ctx.execute(
            "UPDATE org_keys SET revoked_at = ?2, rotated_to = ?3, seq = ?4 WHERE id = ?1",
            params![id, ctx.now, successor, seq],
        )?;
        ctx.execute(
            "UPDATE sessions SET revoked_at = ?2, seq = ?3 WHERE key_id = ?1 AND revoked_at IS NULL",
            params![id, ctx.now, seq],
        )?;
    } else {
        ctx.execute(
            "UPDATE org_keys SET expires_at = min(coalesce(expires_at, ?2), ?2), rotated_to = ?3, seq = ?4
             WHERE id = ?1",
            params![id, until, successor, seq],
        )?;
        ctx.execute(
            "UPDATE sessions SET expires_at = min(expires_at, ?2), seq = ?3
             WHERE key_id = ?1 AND revoked_at IS NULL",
            params![id, until, seq],
        )?;
    }
    Ok(())
}

pub fn touch(ctx: &WriteCtx, id: KeyId, at: i64) -> StoreResult<()> {
    ctx.execute(
        "UPDATE org_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

/// Where a key was last used from (the newest of a batch of uses; what a request
/// did not tell leaves the last known value).
pub fn touch_from(ctx: &WriteCtx, id: &str, ip: Option<&str>, user_agent: Option<&str>) -> StoreResult<()> {
    ctx.execute(
        "UPDATE org_keys SET last_used_ip = coalesce(?2, last_used_ip),
             last_used_user_agent = coalesce(?3, last_used_user_agent) WHERE id = ?1",
        params![id, ip, user_agent],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::{generate, TokenKind};

    use crate::store::test_db as db;

    fn new_key(name: &str, expires_at: Option<i64>) -> NewKey {
        NewKey {
            name: name.into(),
            role: Role::WorkspaceWrite,
            workspaces: vec![],
            expires_at,
            created_by: "cli".into(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn a_key_is_live_until_revoked_or_expired() {
        let (_dir, db) = db();
        let minted = generate(TokenKind::Org).unwrap();
        let row = db
            .write(1000, |ctx| insert(ctx, &new_key("k", Some(5000)), &minted))
            .unwrap();
        let found = db.read(|c| find_live_by_hash(c, &minted.hash, 1000)).unwrap().unwrap();
        assert_eq!(
            (found.id, found.role, found.name.as_str()),
            (row.id, Role::WorkspaceWrite, "k")
        );
        assert!(db.read(|c| is_live(c, row.id, 4999)).unwrap());
        assert!(!db.read(|c| is_live(c, row.id, 5000)).unwrap(), "expired");
        assert!(db.write(2000, |ctx| revoke(ctx, row.id)).unwrap());
        assert!(!db.write(2000, |ctx| revoke(ctx, row.id)).unwrap(), "once");
        assert!(db.read(|c| list_live(c, 2000)).unwrap().is_empty());
    }

    #[test]
    fn retiring_shortens_a_key_but_never_lengthens_it() {
        let (_dir, db) = db();
        let (ma, mb) = (generate(TokenKind::Org).unwrap(), generate(TokenKind::Org).unwrap());
        let a = db
            .write(0, |ctx| insert(ctx, &new_key("a", Some(10_000)), &ma))
            .unwrap();
        let b = db.write(0, |ctx| insert(ctx, &new_key("b", None), &mb)).unwrap();
        db.write(0, |ctx| retire(ctx, a.id, 20_000, b.id)).unwrap();
        let a2 = db.read(|c| find_live(c, a.id, 0)).unwrap().unwrap();
        assert_eq!((a2.expires_at, a2.rotated_to), (Some(10_000), Some(b.id)));
        db.write(0, |ctx| retire(ctx, b.id, 0, a.id)).unwrap();
        assert!(db.read(|c| find_live(c, b.id, 0)).unwrap().is_none());
    }
}
