//! Walking the workspace tree: children, subtrees, ancestors. Every walk
//! skips removed workspaces and is bounded (`UNION` ends it even on a
//! corrupt, cyclic tree; ancestor walks stop at the maximum depth).

use rusqlite::{params, Connection};

use super::super::sql::placeholders;
use super::super::{StoreResult, WriteCtx};
use crate::domain::ids::WorkspaceId;
use crate::domain::workspace::MAX_DEPTH;

/// `down(id)`: the workspace `?1` and all its live descendants. `UNION`
/// (not `UNION ALL`) ends the walk even on a corrupt, cyclic tree.
///
/// The walks by parent name their index: `workspaces_live` (every live row,
/// for the list) also matches `deleted_at IS NULL`, and without statistics
/// SQLite may take it and visit every live workspace at each step.
pub const SUBTREE: &str = "WITH RECURSIVE down(id) AS (
    SELECT id FROM workspaces WHERE id = ?1 AND deleted_at IS NULL
    UNION SELECT w.id FROM workspaces w INDEXED BY workspaces_parent JOIN down ON w.parent_id = down.id WHERE w.deleted_at IS NULL)";

/// `down(id)`: every live workspace under `n` roots given as parameters.
pub fn subtrees(n: usize) -> String {
    format!(
        "WITH RECURSIVE down(id) AS (
            SELECT id FROM workspaces WHERE deleted_at IS NULL AND id IN ({})
            UNION SELECT w.id FROM workspaces w INDEXED BY workspaces_parent JOIN down ON w.parent_id = down.id WHERE w.deleted_at IS NULL)",
        placeholders(n)
    )
}

/// The live direct children, as (id, name), at most `limit` of them, and
/// how many there are in all.
pub fn children(conn: &Connection, id: WorkspaceId, limit: i64) -> StoreResult<(Vec<(WorkspaceId, String)>, i64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name FROM workspaces INDEXED BY workspaces_parent WHERE parent_id = ?1 AND deleted_at IS NULL
         ORDER BY rowid LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![id, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let total = conn.query_row(
        "SELECT count(*) FROM workspaces INDEXED BY workspaces_parent WHERE parent_id = ?1 AND deleted_at IS NULL",
        [id],
        |r| r.get(0),
    )?;
    Ok((rows, total))
}
/// The workspace and all its live descendants. `UNION` (not `UNION ALL`)
/// makes the walk terminate even on a corrupt, cyclic tree.
pub fn subtree(conn: &Connection, id: WorkspaceId) -> StoreResult<Vec<WorkspaceId>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SUBTREE}
         SELECT id FROM down"
    ))?;
    let ids = stmt.query_map([id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// The workspace and its live ancestors, nearest first.
pub fn ancestors(conn: &Connection, id: WorkspaceId) -> StoreResult<Vec<WorkspaceId>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE up(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM workspaces WHERE id = ?1 AND deleted_at IS NULL
            UNION SELECT w.id, w.parent_id, up.depth + 1 FROM workspaces w JOIN up ON w.id = up.parent_id
                  WHERE w.deleted_at IS NULL AND up.depth < ?2)
         SELECT id FROM up ORDER BY depth",
    )?;
    let ids = stmt
        .query_map(params![id, MAX_DEPTH], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}
/// Whether a live workspace lies in the subtree of any of `roots`.
pub fn within(conn: &Connection, id: WorkspaceId, roots: &[WorkspaceId]) -> StoreResult<bool> {
    Ok(ancestors(conn, id)?.iter().any(|a| roots.contains(a)))
}

/// Levels in the subtree under a workspace, itself included.
pub fn height(conn: &Connection, id: WorkspaceId) -> StoreResult<i64> {
    Ok(conn.query_row(
        "WITH RECURSIVE down(id, depth) AS (
            SELECT id, 1 FROM workspaces WHERE id = ?1 AND deleted_at IS NULL
            UNION SELECT w.id, down.depth + 1 FROM workspaces w INDEXED BY workspaces_parent JOIN down ON w.parent_id = down.id
                  WHERE w.deleted_at IS NULL AND down.depth <= ?2)
         SELECT coalesce(max(depth), 0) FROM down",
        params![id, MAX_DEPTH],
        |r| r.get(0),
    )?)
}
/// Marks a workspace and all its live descendants removed, in SQL (no
/// bound-variable list, so any tree size works). Returns their ids.
pub fn mark_subtree_deleted(ctx: &mut WriteCtx, root: WorkspaceId) -> StoreResult<Vec<WorkspaceId>> {
    let ids = subtree(ctx, root)?;
    ctx.execute(
        &format!(
            "{SUBTREE}
         UPDATE workspaces SET deleted_at = ?2 WHERE id IN (SELECT id FROM down)"
        ),
        params![root, ctx.now],
    )?;
    Ok(ids)
}
