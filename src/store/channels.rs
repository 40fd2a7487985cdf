//! Channels: one per type per workspace. The sensitive half of a config is
//! sealed as one JSON object bound to the channel and its workspace.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::sql::to_json;
use super::workspaces::SUBTREE;
use super::{StoreResult, WriteCtx};
use crate::domain::channels::Config;
use crate::domain::ids::{ChannelId, WorkspaceId};
use crate::domain::secrets::Sealed;

#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: ChannelId,
    pub workspace_id: WorkspaceId,
    pub kind: String,
    pub enabled: bool,
    pub plain: Config,
    pub allowed_users: Vec<String>,
    pub sealed: Sealed,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, workspace_id, type, enabled, config, allowed_users, key_id, nonce, ciphertext, created_at, updated_at";

fn channel_row(r: &Row) -> rusqlite::Result<ChannelRow> {
    let plain: String = r.get(4)?;
    let users: String = r.get(5)?;
    Ok(ChannelRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        kind: r.get(2)?,
        enabled: r.get(3)?,
        plain: serde_json::from_str(&plain).unwrap_or_default(),
        allowed_users: serde_json::from_str(&users).unwrap_or_default(),
        sealed: Sealed {
            key_id: r.get(6)?,
            nonce: r.get(7)?,
            ciphertext: r.get(8)?,
        },
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// Whether the workspace already has a channel of this type (one each).
pub fn has_type(conn: &Connection, workspace_id: WorkspaceId, kind: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM channels WHERE workspace_id = ?1 AND type = ?2")?
        .exists(params![workspace_id, kind])?)
}

pub fn insert(ctx: &WriteCtx, row: &ChannelRow) -> StoreResult<()> {
    ctx.execute(
        &format!("INSERT INTO channels ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        params![
            row.id,
            row.workspace_id,
            row.kind,
            row.enabled,
            to_json(&row.plain)?,
            to_json(&row.allowed_users)?,
            row.sealed.key_id,
            row.sealed.nonce,
            row.sealed.ciphertext,
            row.created_at,
            row.updated_at
        ],
    )?;
    Ok(())
}

pub fn update(ctx: &WriteCtx, row: &ChannelRow) -> StoreResult<()> {
    ctx.execute(
        "UPDATE channels SET enabled = ?3, config = ?4, allowed_users = ?5, key_id = ?6, nonce = ?7,
             ciphertext = ?8, updated_at = ?9
         WHERE id = ?1 AND workspace_id = ?2",
        params![
            row.id,
            row.workspace_id,
            row.enabled,
            to_json(&row.plain)?,
            to_json(&row.allowed_users)?,
            row.sealed.key_id,
            row.sealed.nonce,
            row.sealed.ciphertext,
            row.updated_at
        ],
    )?;
    Ok(())
}

/// A channel, only under its own workspace.
pub fn get(conn: &Connection, workspace_id: WorkspaceId, id: ChannelId) -> StoreResult<Option<ChannelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE id = ?1 AND workspace_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, workspace_id], channel_row)
        .optional()?)
}

/// A channel by its id alone (the org's expiry-warning channel).
pub fn get_any(conn: &Connection, id: ChannelId) -> StoreResult<Option<ChannelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id], channel_row)
        .optional()?)
}

pub fn list(conn: &Connection, workspace_id: WorkspaceId) -> StoreResult<Vec<ChannelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE workspace_id = ?1 ORDER BY type");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([workspace_id], channel_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn delete(ctx: &WriteCtx, workspace_id: WorkspaceId, id: ChannelId) -> StoreResult<bool> {
    Ok(ctx.execute(
        "DELETE FROM channels WHERE id = ?1 AND workspace_id = ?2",
        params![id, workspace_id],
    )? == 1)
}

/// Removes the channels of a workspace and its live descendants.
pub fn delete_subtree(ctx: &WriteCtx, root: WorkspaceId) -> StoreResult<usize> {
    Ok(ctx.execute(
        &format!(
            "{SUBTREE}
         DELETE FROM channels WHERE workspace_id IN (SELECT id FROM down)"
        ),
        [root],
    )?)
}

/// Every channel: for a key rotation.
pub fn all(conn: &Connection) -> StoreResult<Vec<ChannelRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM channels"))?;
    let rows = stmt.query_map([], channel_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Replaces a channel's sealing (a key rotation).
pub fn reseal(ctx: &WriteCtx, id: ChannelId, sealed: &Sealed) -> StoreResult<()> {
    ctx.execute(
        "UPDATE channels SET key_id = ?2, nonce = ?3, ciphertext = ?4 WHERE id = ?1",
        params![id, sealed.key_id, sealed.nonce, sealed.ciphertext],
    )?;
    Ok(())
}
