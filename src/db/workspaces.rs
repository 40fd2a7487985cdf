//! Workspaces: a tree (parent_id), soft-deleted.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::{placeholders, StoreResult, WriteCtx};
use crate::error::ApiError;
use crate::model::new_id;

#[derive(Debug, Clone)]
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub role: Option<String>,
    pub tier: i64,
    pub runtime: String,
    pub parent_id: Option<String>,
    pub paused: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_heartbeat_at: Option<i64>,
    pub active_tasks: i64,
    pub current_task: Option<String>,
    pub idle_since: Option<i64>,
}

pub struct NewWorkspace {
    pub name: String,
    pub role: Option<String>,
    pub tier: i64,
    pub runtime: String,
    pub parent_id: Option<String>,
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Default)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    pub role: Option<Option<String>>,
    pub tier: Option<i64>,
    pub runtime: Option<String>,
    pub parent_id: Option<Option<String>>,
}

const COLUMNS: &str = "id, name, role, tier, runtime, parent_id, paused, created_at, updated_at, \
     last_heartbeat_at, active_tasks, current_task, idle_since";

fn ws_row(r: &Row) -> rusqlite::Result<WorkspaceRow> {
    Ok(WorkspaceRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        tier: r.get(3)?,
        runtime: r.get(4)?,
        parent_id: r.get(5)?,
        paused: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        last_heartbeat_at: r.get(9)?,
        active_tasks: r.get(10)?,
        current_task: r.get(11)?,
        idle_since: r.get(12)?,
    })
}

pub fn insert(ctx: &mut WriteCtx, new: NewWorkspace) -> StoreResult<WorkspaceRow> {
    if let Some(parent) = &new.parent_id {
        if get(ctx, parent)?.is_none() {
            return Err(ApiError::invalid("parent_id: no such workspace").into());
        }
    }
    let row = WorkspaceRow {
        id: new_id(),
        name: new.name,
        role: new.role,
        tier: new.tier,
        runtime: new.runtime,
        parent_id: new.parent_id,
        paused: false,
        created_at: ctx.now,
        updated_at: ctx.now,
        last_heartbeat_at: None,
        active_tasks: 0,
        current_task: None,
        idle_since: None,
    };
    ctx.execute(
        "INSERT INTO workspaces (id, name, role, tier, runtime, parent_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            row.id,
            row.name,
            row.role,
            row.tier,
            row.runtime,
            row.parent_id,
            row.created_at
        ],
    )?;
    Ok(row)
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<WorkspaceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM workspaces WHERE id = ?1 AND deleted_at IS NULL");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], ws_row)
        .optional()?)
}

/// Live workspaces in creation order; with `roots`, only those roots and
/// their descendants.
pub fn list(conn: &Connection, roots: Option<&[String]>) -> StoreResult<Vec<WorkspaceRow>> {
    let rows = match roots {
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM workspaces WHERE deleted_at IS NULL ORDER BY created_at, id"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map([], ws_row)?.collect::<Result<Vec<_>, _>>()?;
            rows
        }
        Some([]) => Vec::new(),
        Some(roots) => {
            let sql = format!(
                "WITH RECURSIVE down(id) AS (
                    SELECT id FROM workspaces WHERE deleted_at IS NULL AND id IN ({})
                    UNION SELECT w.id FROM workspaces w JOIN down ON w.parent_id = down.id
                          WHERE w.deleted_at IS NULL)
                 SELECT {COLUMNS} FROM workspaces WHERE id IN (SELECT id FROM down) ORDER BY created_at, id",
                placeholders(roots.len())
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt
                .query_map(params_from_iter(roots), ws_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        }
    };
    Ok(rows)
}

/// The live direct children, as (id, name).
pub fn children(conn: &Connection, id: &str) -> StoreResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name FROM workspaces WHERE parent_id = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The workspace and all its live descendants. `UNION` (not `UNION ALL`)
/// makes the walk terminate even on a corrupt, cyclic tree.
pub fn subtree(conn: &Connection, id: &str) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE down(id) AS (
            SELECT id FROM workspaces WHERE id = ?1 AND deleted_at IS NULL
            UNION SELECT w.id FROM workspaces w JOIN down ON w.parent_id = down.id WHERE w.deleted_at IS NULL)
         SELECT id FROM down",
    )?;
    let ids = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// The workspace and its ancestors, nearest first.
pub fn ancestors(conn: &Connection, id: &str) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE up(id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM workspaces WHERE id = ?1 AND deleted_at IS NULL
            UNION SELECT w.id, w.parent_id, up.depth + 1 FROM workspaces w JOIN up ON w.id = up.parent_id
                  WHERE up.depth < 10000)
         SELECT id FROM up ORDER BY depth",
    )?;
    let ids = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// Whether a live workspace lies in the subtree of any of `roots`.
pub fn within(conn: &Connection, id: &str, roots: &[String]) -> StoreResult<bool> {
    Ok(ancestors(conn, id)?.iter().any(|a| roots.contains(a)))
}

pub fn update(ctx: &mut WriteCtx, id: &str, patch: WorkspacePatch) -> StoreResult<WorkspaceRow> {
    let mut row = get(ctx, id)?.ok_or_else(|| ApiError::not_found("workspace"))?;
    if let Some(Some(parent)) = &patch.parent_id {
        if get(ctx, parent)?.is_none() {
            return Err(ApiError::invalid("parent_id: no such workspace").into());
        }
        if subtree(ctx, id)?.contains(parent) {
            return Err(ApiError::conflict(
                "parent_cycle",
                "parent_id: a workspace cannot be moved under itself or one of its descendants",
            )
            .into());
        }
    }
    if let Some(v) = patch.name {
        row.name = v;
    }
    if let Some(v) = patch.role {
        row.role = v;
    }
    if let Some(v) = patch.tier {
        row.tier = v;
    }
    if let Some(v) = patch.runtime {
        row.runtime = v;
    }
    if let Some(v) = patch.parent_id {
        row.parent_id = v;
    }
    row.updated_at = ctx.now;
    ctx.execute(
        "UPDATE workspaces SET name = ?2, role = ?3, tier = ?4, runtime = ?5, parent_id = ?6, updated_at = ?7
         WHERE id = ?1",
        params![id, row.name, row.role, row.tier, row.runtime, row.parent_id, row.updated_at],
    )?;
    Ok(row)
}

pub fn mark_deleted(ctx: &mut WriteCtx, ids: &[String]) -> StoreResult<()> {
    let mut stmt = ctx.prepare_cached(
        "UPDATE workspaces SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
    )?;
    for id in ids {
        stmt.execute(params![id, ctx.now])?;
    }
    Ok(())
}

pub fn heartbeat(
    ctx: &mut WriteCtx,
    id: &str,
    active_tasks: i64,
    current_task: Option<&str>,
) -> StoreResult<WorkspaceRow> {
    // idle_since marks the start of the current run of task-free
    // heartbeats, so `idle` can be derived at read time.
    ctx.execute(
        "UPDATE workspaces SET last_heartbeat_at = ?2, active_tasks = ?3, current_task = ?4,
             idle_since = CASE WHEN ?3 > 0 THEN NULL ELSE coalesce(idle_since, ?2) END
         WHERE id = ?1 AND deleted_at IS NULL",
        params![id, ctx.now, active_tasks, current_task],
    )?;
    get(ctx, id)?.ok_or_else(|| ApiError::not_found("workspace").into())
}

/// Returns the row after the change, or None when the workspace is unknown.
pub fn set_paused(ctx: &mut WriteCtx, id: &str, paused: bool) -> StoreResult<Option<WorkspaceRow>> {
    ctx.execute(
        "UPDATE workspaces SET paused = ?2, updated_at = ?3 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, paused, ctx.now],
    )?;
    get(ctx, id)
}
