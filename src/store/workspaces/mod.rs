//! Workspaces: a tree (parent_id), soft-deleted.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::sql::placeholders;
use super::{StoreResult, WriteCtx};
use crate::domain::ids::WorkspaceId;
use crate::domain::workspace::Liveness;

#[derive(Debug, Clone)]
pub struct WorkspaceRow {
    pub id: WorkspaceId,
    pub name: String,
    pub role: Option<String>,
    pub tier: i64,
    pub runtime: String,
    pub parent_id: Option<WorkspaceId>,
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
    pub parent_id: Option<WorkspaceId>,
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Default)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    pub role: Option<Option<String>>,
    pub tier: Option<i64>,
    pub runtime: Option<String>,
    pub parent_id: Option<Option<WorkspaceId>>,
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

/// A row borrowed from SQLite's own buffers: long lists are read without an
/// allocation per field.
pub struct WorkspaceRef<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: Option<&'a str>,
    pub tier: i64,
    pub runtime: &'a str,
    pub parent_id: Option<&'a str>,
    pub paused: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_heartbeat_at: Option<i64>,
    pub active_tasks: i64,
    pub current_task: Option<&'a str>,
    pub idle_since: Option<i64>,
}

impl WorkspaceRow {
    pub fn liveness(&self) -> Liveness {
        Liveness {
            paused: self.paused,
            last_heartbeat_at: self.last_heartbeat_at,
            active_tasks: self.active_tasks,
            idle_since: self.idle_since,
        }
    }
}

impl WorkspaceRef<'_> {
    pub fn liveness(&self) -> Liveness {
        Liveness {
            paused: self.paused,
            last_heartbeat_at: self.last_heartbeat_at,
            active_tasks: self.active_tasks,
            idle_since: self.idle_since,
        }
    }
}

fn ws_ref<'a>(r: &'a Row) -> rusqlite::Result<WorkspaceRef<'a>> {
    let text = |i: usize| -> rusqlite::Result<&'a str> { Ok(r.get_ref(i)?.as_str()?) };
    let opt_text = |i: usize| -> rusqlite::Result<Option<&'a str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
    Ok(WorkspaceRef {
        id: text(0)?,
        name: text(1)?,
        role: opt_text(2)?,
        tier: r.get(3)?,
        runtime: text(4)?,
        parent_id: opt_text(5)?,
        paused: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        last_heartbeat_at: r.get(9)?,
        active_tasks: r.get(10)?,
        current_task: opt_text(11)?,
        idle_since: r.get(12)?,
    })
}

/// Stores a new workspace. Its parent, if any, must be live and not at
/// the maximum depth (see `get` and `ancestors`).
pub fn insert(ctx: &mut WriteCtx, new: NewWorkspace) -> StoreResult<WorkspaceRow> {
    let row = WorkspaceRow {
        id: WorkspaceId::generate(),
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

pub fn get(conn: &Connection, id: WorkspaceId) -> StoreResult<Option<WorkspaceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM workspaces WHERE id = ?1 AND deleted_at IS NULL");
    Ok(conn.prepare_cached(&sql)?.query_row([id], ws_row).optional()?)
}

/// Whether every one of `ids` is a live workspace.
pub fn all_live(conn: &Connection, ids: &[WorkspaceId]) -> StoreResult<bool> {
    if ids.is_empty() {
        return Ok(true);
    }
    let sql = format!(
        "SELECT count(*) FROM workspaces WHERE deleted_at IS NULL AND id IN ({})",
        placeholders(ids.len())
    );
    let found: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(ids), |r| r.get(0))?;
    Ok(usize::try_from(found).ok() == Some(ids.len()))
}

/// Live workspaces in creation order; with `roots`, only those roots and
/// their descendants.
pub fn list(conn: &Connection, roots: Option<&[WorkspaceId]>) -> StoreResult<Vec<WorkspaceRow>> {
    Ok(list_page(conn, roots, 0, i64::MAX)?
        .into_iter()
        .map(|(_, w)| w)
        .collect())
}

/// A page of `list`: at most `limit` rows after the `after` cursor (a
/// rowid), each with its own cursor.
pub fn list_page(
    conn: &Connection,
    roots: Option<&[WorkspaceId]>,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<(i64, WorkspaceRow)>> {
    let mut rows = Vec::new();
    each_in_page(conn, roots, after, limit, |cursor, r| {
        rows.push((cursor, ws_row_of(&r)?));
        Ok(())
    })?;
    Ok(rows)
}

fn ws_row_of(r: &WorkspaceRef) -> StoreResult<WorkspaceRow> {
    let id = |s: &str| WorkspaceId::parse(s).ok_or_else(|| super::StoreError::Other(format!("not an id: {s:?}")));
    Ok(WorkspaceRow {
        id: id(r.id)?,
        name: r.name.to_string(),
        role: r.role.map(String::from),
        tier: r.tier,
        runtime: r.runtime.to_string(),
        parent_id: r.parent_id.map(id).transpose()?,
        paused: r.paused,
        created_at: r.created_at,
        updated_at: r.updated_at,
        last_heartbeat_at: r.last_heartbeat_at,
        active_tasks: r.active_tasks,
        current_task: r.current_task.map(String::from),
        idle_since: r.idle_since,
    })
}

/// Calls `f` with each row of a page of `list` (see `list_page`) and its
/// cursor, borrowed from SQLite's buffers.
pub fn each_in_page(
    conn: &Connection,
    roots: Option<&[WorkspaceId]>,
    after: i64,
    limit: i64,
    mut f: impl FnMut(i64, WorkspaceRef<'_>) -> StoreResult<()>,
) -> StoreResult<()> {
    let (mut stmt, values): (_, Vec<rusqlite::types::Value>) = match roots {
        None => {
            let sql = format!(
                "SELECT {COLUMNS}, rowid FROM workspaces WHERE deleted_at IS NULL AND rowid > ?1 ORDER BY rowid LIMIT ?2"
            );
            (conn.prepare_cached(&sql)?, vec![after.into(), limit.into()])
        }
        Some([]) => return Ok(()),
        Some(roots) => {
            let sql = format!(
                "{} SELECT {COLUMNS}, rowid FROM workspaces WHERE id IN (SELECT id FROM down) AND rowid > ?
                 ORDER BY rowid LIMIT ?",
                subtrees(roots.len())
            );
            let mut values: Vec<rusqlite::types::Value> = roots.iter().map(|r| r.to_string().into()).collect();
            values.push(after.into());
            values.push(limit.into());
            (conn.prepare_cached(&sql)?, values)
        }
    };
    let mut rows = stmt.query(params_from_iter(values))?;
    while let Some(r) = rows.next()? {
        f(r.get(13)?, ws_ref(r)?)?;
    }
    Ok(())
}
/// Applies a patch to `before` (the row as it stands); returns the row
/// after it. The new parent, if any, must already be checked (live, no
/// cycle, depth: see `subtree`, `ancestors` and `height`).
pub fn update(ctx: &mut WriteCtx, before: &WorkspaceRow, patch: WorkspacePatch) -> StoreResult<WorkspaceRow> {
    let id = before.id;
    let mut row = before.clone();
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
        params![
            id,
            row.name,
            row.role,
            row.tier,
            row.runtime,
            row.parent_id,
            row.updated_at
        ],
    )?;
    Ok(row)
}

/// Records a heartbeat. `offline_before` is the time before which a last
/// heartbeat means the workspace had gone offline.
pub fn heartbeat(
    ctx: &mut WriteCtx,
    id: WorkspaceId,
    active_tasks: i64,
    current_task: Option<&str>,
    offline_before: i64,
) -> StoreResult<Option<WorkspaceRow>> {
    // idle_since marks the start of the current unbroken run of task-free
    // heartbeats (an offline gap breaks it), so `idle` is derived at read
    // time and never stale.
    ctx.execute(
        "UPDATE workspaces SET
             idle_since = CASE
                 WHEN ?3 > 0 THEN NULL
                 WHEN last_heartbeat_at IS NULL OR last_heartbeat_at < ?5 THEN ?2
                 ELSE coalesce(idle_since, ?2) END,
             last_heartbeat_at = ?2, active_tasks = ?3, current_task = ?4
         WHERE id = ?1 AND deleted_at IS NULL",
        params![id, ctx.now, active_tasks, current_task, offline_before],
    )?;
    get(ctx, id)
}

/// Pauses or resumes. Returns the row and whether anything changed, or
/// None when the workspace is unknown. Resuming restarts the idle clock.
pub fn set_paused(ctx: &mut WriteCtx, id: WorkspaceId, paused: bool) -> StoreResult<Option<(WorkspaceRow, bool)>> {
    let changed = ctx.execute(
        "UPDATE workspaces SET paused = ?2, updated_at = ?3, idle_since = NULL
         WHERE id = ?1 AND deleted_at IS NULL AND paused != ?2",
        params![id, paused, ctx.now],
    )?;
    Ok(get(ctx, id)?.map(|row| (row, changed == 1)))
}

mod tree;
pub use tree::*;

#[cfg(test)]
mod tests;
