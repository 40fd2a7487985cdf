//! Workspace tokens: the narrower credential an agent inside a workspace
//! uses to call home.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::workspaces::SUBTREE;
use super::{StoreResult, WriteCtx};
use crate::domain::ids::{TokenId, WorkspaceId};
use crate::domain::token::Minted;

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: TokenId,
    pub workspace_id: WorkspaceId,
    pub prefix: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub token_hash: [u8; 32],
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
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
        last_used_ip: r.get(8)?,
        last_used_user_agent: r.get(9)?,
    })
}

/// How many live tokens a workspace has.
pub fn count_live(conn: &Connection, workspace_id: WorkspaceId, now: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM workspace_tokens WHERE workspace_id = ?1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .query_row(params![workspace_id, now], |r| r.get(0))?)
}

/// Stores a token minted as `minted` for a live workspace.
pub fn insert(
    ctx: &mut WriteCtx,
    workspace_id: WorkspaceId,
    created_by: &str,
    expires_at: Option<i64>,
    minted: &Minted,
) -> StoreResult<TokenRow> {
    let seq = ctx.cred_seq()?;
    let row = TokenRow {
        id: TokenId::generate(),
        workspace_id,
        prefix: minted.prefix.clone(),
        created_by: created_by.to_string(),
        created_at: ctx.now,
        expires_at,
        last_used_at: None,
        token_hash: minted.hash,
        last_used_ip: None,
        last_used_user_agent: None,
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
    Ok(row)
}

pub fn list_live(conn: &Connection, workspace_id: WorkspaceId, now: i64) -> StoreResult<Vec<TokenRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, workspace_id, prefix, created_by, created_at, expires_at, last_used_at, token_hash,
                last_used_ip, last_used_user_agent
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
pub fn is_live(conn: &Connection, id: TokenId, now: i64) -> StoreResult<bool> {
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

/// A live token by its hash: (id, workspace, display prefix).
pub fn find_live_by_hash(
    conn: &Connection,
    hash: &[u8; 32],
    now: i64,
) -> StoreResult<Option<(TokenId, WorkspaceId, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, workspace_id, prefix FROM workspace_tokens
             WHERE token_hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .query_row(params![hash, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// Revokes one live token of one workspace. False when there is none.
pub fn revoke(ctx: &mut WriteCtx, workspace_id: WorkspaceId, token_id: TokenId) -> StoreResult<bool> {
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
pub fn revoke_subtree(ctx: &mut WriteCtx, root: WorkspaceId) -> StoreResult<usize> {
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

/// Whether a token (in any state) belongs to a workspace.
pub fn belongs(conn: &Connection, id: TokenId, workspace: WorkspaceId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM workspace_tokens WHERE id = ?1 AND workspace_id = ?2")?
        .exists(params![id, workspace])?)
}

/// Where a token was last used from (the newest of a batch of uses; what a request
/// did not tell leaves the last known value).
pub fn touch_from(ctx: &WriteCtx, id: &str, ip: Option<&str>, user_agent: Option<&str>) -> StoreResult<()> {
    ctx.execute(
        "UPDATE workspace_tokens SET last_used_ip = coalesce(?2, last_used_ip),
             last_used_user_agent = coalesce(?3, last_used_user_agent) WHERE id = ?1",
        params![id, ip, user_agent],
    )?;
    Ok(())
}

pub fn touch(ctx: &WriteCtx, id: TokenId, at: i64) -> StoreResult<()> {
    ctx.execute(
        "UPDATE workspace_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}
