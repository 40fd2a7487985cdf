//! Workspace tokens: the narrower credential an agent inside a workspace
//! uses to call home.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::workspaces::SUBTREE;
use super::{StoreResult, WriteCtx};
use crate::creds::{CredChange, CredKind, Credential};
use crate::error::ApiError;
use crate::model::new_id;
use crate::token::{self, TokenKind};

pub const MAX_LIVE_PER_WORKSPACE: i64 = 50;

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub workspace_id: String,
    pub prefix: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub token_hash: [u8; 32],
}

fn token_row(r: &Row) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        prefix: r.get(2)?,
        created_by: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        last_used_at: r.get(6)?,
        token_hash: r.get(7)?,
    })
}

/// Mints a token for a live workspace; 429 once it has the maximum.
pub fn insert(
    ctx: &mut WriteCtx,
    workspace_id: &str,
    created_by: &str,
    expires_at: Option<i64>,
) -> StoreResult<(TokenRow, String)> {
    let live: i64 = ctx.query_row(
        "SELECT count(*) FROM workspace_tokens WHERE workspace_id = ?1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?2)",
        params![workspace_id, ctx.now],
        |r| r.get(0),
    )?;
    if live >= MAX_LIVE_PER_WORKSPACE {
        return Err(ApiError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_tokens",
            format!("a workspace may have at most {MAX_LIVE_PER_WORKSPACE} live tokens; revoke one first"),
        )
        .into());
    }
    let minted = token::generate(TokenKind::Workspace).map_err(|e| super::StoreError::Other(format!("OS RNG: {e}")))?;
    let seq = ctx.cred_seq()?;
    let row = TokenRow {
        id: new_id(),
        workspace_id: workspace_id.to_string(),
        prefix: minted.prefix,
        created_by: created_by.to_string(),
        created_at: ctx.now,
        expires_at,
        last_used_at: None,
        token_hash: minted.hash,
    };
    ctx.execute(
        "INSERT INTO workspace_tokens (id, workspace_id, token_hash, prefix, created_by, created_at, expires_at, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            row.id,
            row.workspace_id,
            row.token_hash,
            row.prefix,
            row.created_by,
            row.created_at,
            row.expires_at,
            seq
        ],
    )?;
    Ok((row, minted.plaintext))
}

pub fn list_live(conn: &Connection, workspace_id: &str, now: i64) -> StoreResult<Vec<TokenRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, workspace_id, prefix, created_by, created_at, expires_at, last_used_at, token_hash
         FROM workspace_tokens WHERE workspace_id = ?1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?2)
         ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = stmt
        .query_map(params![workspace_id, now], token_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Whether a workspace token is live right now, read inside the caller's
/// transaction (not from the in-memory map).
pub fn is_live(conn: &Connection, id: &str, now: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM workspace_tokens t JOIN workspaces w ON w.id = t.workspace_id
             WHERE t.id = ?1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2)
               AND w.deleted_at IS NULL",
        )?
        .query_row(params![id, now], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Revokes one live token of one workspace. False when there is none.
pub fn revoke(ctx: &mut WriteCtx, workspace_id: &str, token_id: &str) -> StoreResult<bool> {
    let seq = ctx.cred_seq()?;
    let n = ctx.execute(
        "UPDATE workspace_tokens SET revoked_at = ?3, seq = ?4
         WHERE id = ?1 AND workspace_id = ?2 AND revoked_at IS NULL",
        params![token_id, workspace_id, ctx.now, seq],
    )?;
    Ok(n == 1)
}

/// Revokes every live token of a workspace and all its live descendants,
/// in SQL (no bound-variable list, so any tree size works); returns how many.
pub fn revoke_subtree(ctx: &mut WriteCtx, root: &str) -> StoreResult<usize> {
    let seq = ctx.cred_seq()?;
    Ok(ctx.execute(
        &format!(
            "{SUBTREE}
         UPDATE workspace_tokens SET revoked_at = ?2, seq = ?3
         WHERE revoked_at IS NULL AND workspace_id IN (SELECT id FROM down)"
        ),
        params![root, ctx.now, seq],
    )?)
}

pub fn changed_since(conn: &Connection, seen: i64) -> StoreResult<Vec<CredChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, workspace_id, prefix, expires_at, last_used_at, token_hash, revoked_at
         FROM workspace_tokens WHERE seq > ?1 AND (?1 >= 0 OR revoked_at IS NULL)",
    )?;
    let rows = stmt.query_map([seen], |r| {
        let hash: [u8; 32] = r.get(5)?;
        if r.get::<_, Option<i64>>(6)?.is_some() {
            return Ok(CredChange::Gone(hash));
        }
        let Some(workspace_id) = crate::creds::Id::new(r.get_ref(1)?.as_str()?) else {
            return Ok(CredChange::live(hash, None));
        };
        let kind = CredKind::Workspace { workspace_id };
        let (id, prefix) = (r.get_ref(0)?.as_str()?, r.get_ref(2)?.as_str()?);
        Ok(CredChange::live(
            hash,
            Credential::new(id, prefix, kind, r.get(3)?, r.get(4)?),
        ))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn touch(ctx: &WriteCtx, id: &str, at: i64) -> StoreResult<()> {
    ctx.execute(
        "UPDATE workspace_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}
