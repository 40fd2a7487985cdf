//! Org API keys.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{placeholders, StoreResult, WriteCtx};
use crate::creds::{CredChange, CredKind, Credential};
use crate::error::ApiError;
use crate::model::{new_id, Role};
use crate::token::{self, TokenKind};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub prefix: String,
    pub name: String,
    pub role: Role,
    pub workspaces: Vec<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub token_hash: [u8; 32],
    /// The key that replaced this one, once rotated.
    pub rotated_to: Option<String>,
}

pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub workspaces: Vec<String>,
    pub expires_at: Option<i64>,
    pub created_by: String,
}

const COLUMNS: &str = "k.id, k.prefix, k.name, k.role, k.created_by, k.created_at, k.expires_at, \
     k.last_used_at, k.token_hash, \
     (SELECT group_concat(workspace_id, ',') FROM org_key_workspaces b WHERE b.key_id = k.id), k.rotated_to";

fn key_row(r: &Row) -> rusqlite::Result<KeyRow> {
    let role: String = r.get(3)?;
    let bindings: Option<String> = r.get(9)?;
    Ok(KeyRow {
        id: r.get(0)?,
        prefix: r.get(1)?,
        name: r.get(2)?,
        role: Role::parse(&role).unwrap_or(Role::ReadOnly),
        created_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        last_used_at: r.get(7)?,
        token_hash: r.get(8)?,
        workspaces: split_ids(bindings),
        rotated_to: r.get(10)?,
    })
}

fn split_ids(list: Option<String>) -> Vec<String> {
    let mut ids: Vec<String> = list
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    ids.sort();
    ids
}

/// Mints a key. Returns the stored row and the plaintext token, which the
/// caller hands out once and drops.
pub fn insert(ctx: &mut WriteCtx, new: NewKey) -> StoreResult<(KeyRow, String)> {
    let mut bindings = new.workspaces;
    bindings.sort();
    bindings.dedup();
    if !bindings.is_empty() {
        let sql = format!(
            "SELECT count(*) FROM workspaces WHERE deleted_at IS NULL AND id IN ({})",
            placeholders(bindings.len())
        );
        let found: i64 = ctx.query_row(&sql, rusqlite::params_from_iter(&bindings), |r| r.get(0))?;
        if usize::try_from(found).ok() != Some(bindings.len()) {
            return Err(ApiError::invalid("workspaces: every id must be an existing workspace").into());
        }
    }
    let minted = token::generate(TokenKind::Org).map_err(|e| super::StoreError::Other(format!("OS RNG: {e}")))?;
    let seq = ctx.cred_seq()?;
    let id = new_id();
    ctx.execute(
        "INSERT INTO org_keys (id, token_hash, prefix, name, role, created_by, created_at, expires_at, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            minted.hash,
            minted.prefix,
            new.name,
            new.role.as_str(),
            new.created_by,
            ctx.now,
            new.expires_at,
            seq
        ],
    )?;
    for ws in &bindings {
        ctx.execute(
            "INSERT INTO org_key_workspaces (key_id, workspace_id) VALUES (?1, ?2)",
            params![id, ws],
        )?;
    }
    let row = KeyRow {
        id,
        prefix: minted.prefix,
        name: new.name,
        role: new.role,
        workspaces: bindings,
        created_by: new.created_by,
        created_at: ctx.now,
        expires_at: new.expires_at,
        last_used_at: None,
        token_hash: minted.hash,
        rotated_to: None,
    };
    Ok((row, minted.plaintext))
}

/// Live keys (not revoked, not expired at `now`), newest first.
pub fn list_live(conn: &Connection, now: i64) -> StoreResult<Vec<KeyRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_keys k
         WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?1)
         ORDER BY k.created_at DESC, k.rowid DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([now], key_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn find_live(conn: &Connection, id: &str, now: i64) -> StoreResult<Option<KeyRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_keys k
         WHERE k.id = ?1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?2)"
    );
    Ok(conn.query_row(&sql, params![id, now], key_row).optional()?)
}

/// Whether an org key is live right now, read inside the caller's
/// transaction (the cheap check every authenticated write makes).
pub fn is_live(conn: &Connection, id: &str, now: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM org_keys WHERE id = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .exists(params![id, now])?)
}

/// Live keys with exactly this display prefix (for the CLI's break-glass
/// revoke). Prefixes are not unique, so this may find several.
pub fn find_live_by_prefix(conn: &Connection, prefix: &str, now: i64) -> StoreResult<Vec<KeyRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_keys k
         WHERE k.prefix = ?1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?2)
         ORDER BY k.created_at DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![prefix, now], key_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn find_live_by_hash(conn: &Connection, hash: &[u8; 32], now: i64) -> StoreResult<Option<KeyRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM org_keys k
         WHERE k.token_hash = ?1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?2)"
    );
    Ok(conn.query_row(&sql, params![hash, now], key_row).optional()?)
}
/// Revokes a live key. False when it is unknown, revoked or expired.
pub fn revoke(ctx: &mut WriteCtx, id: &str) -> StoreResult<bool> {
    let seq = ctx.cred_seq()?;
    let n = ctx.execute(
        "UPDATE org_keys SET revoked_at = ?2, seq = ?3
         WHERE id = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
        params![id, ctx.now, seq],
    )?;
    // Sessions opened with the key end with it.
    ctx.execute(
        "UPDATE sessions SET revoked_at = ?2, seq = ?3 WHERE key_id = ?1 AND revoked_at IS NULL",
        params![id, ctx.now, seq],
    )?;
    Ok(n == 1)
}

/// Ends a rotated key at `until` (never later than its own expiry), or at
/// once when `until` is now.
pub fn retire(ctx: &mut WriteCtx, id: &str, until: i64, successor: &str) -> StoreResult<()> {
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

pub fn changed_since(conn: &Connection, seen: i64) -> StoreResult<Vec<CredChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.id, k.prefix, k.role, k.expires_at, k.last_used_at, k.token_hash, k.revoked_at,
                (SELECT group_concat(workspace_id, ',') FROM org_key_workspaces b WHERE b.key_id = k.id)
         FROM org_keys k WHERE k.seq > ?1 AND (?1 >= 0 OR k.revoked_at IS NULL)",
    )?;
    let rows = stmt.query_map([seen], |r| {
        let hash: [u8; 32] = r.get(5)?;
        if r.get::<_, Option<i64>>(6)?.is_some() {
            return Ok(CredChange::Gone(hash));
        }
        let role = Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::ReadOnly);
        let kind = CredKind::Org {
            role,
            workspaces: split_ids(r.get(7)?).into(),
        };
        let (id, prefix) = (r.get_ref(0)?.as_str()?, r.get_ref(1)?.as_str()?);
        Ok(CredChange::live(
            hash,
            Credential::new(id, prefix, kind, r.get(3)?, r.get(4)?),
        ))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn touch(ctx: &WriteCtx, id: &str, at: i64) -> StoreResult<()> {
    ctx.execute(
        "UPDATE org_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}
