//! Changing workspaces: create, patch, pause, what an agent registers, and
//! the heartbeats held in memory, written in batches.

use rusqlite::params;

use super::super::{StoreResult, WriteCtx};
use super::{get, Agent, NewWorkspace, WorkspacePatch, WorkspaceRow};
use crate::domain::ids::WorkspaceId;
use crate::domain::workspace::{Beat, Report};

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
        idle_since: None,
        report: Report::default(),
        layout: new.layout,
        settings: new.settings,
        agent: Agent {
            url: new.url,
            ..Agent::default()
        },
    };
    ctx.execute(
        "INSERT INTO workspaces (id, name, role, tier, runtime, parent_id, created_at, updated_at,
                                 x, y, collapsed, budget_limit, max_concurrent_tasks, external, url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            row.id,
            row.name,
            row.role,
            row.tier,
            row.runtime,
            row.parent_id,
            row.created_at,
            row.layout.x,
            row.layout.y,
            row.layout.collapsed,
            row.settings.budget_limit,
            row.settings.max_concurrent_tasks,
            row.settings.external,
            row.agent.url,
        ],
    )?;
    Ok(row)
}

/// Applies a patch to `before` (the row as it stands); returns the row
/// after it. The new parent, if any, must already be checked (live, no
/// cycle, depth: see `subtree`, `ancestors` and `height`).
pub fn update(ctx: &mut WriteCtx, before: &WorkspaceRow, patch: WorkspacePatch) -> StoreResult<WorkspaceRow> {
    let mut row = before.clone();
    let p = patch;
    if let Some(v) = p.name {
        row.name = v;
    }
    if let Some(v) = p.role {
        row.role = v;
    }
    if let Some(v) = p.tier {
        row.tier = v;
    }
    if let Some(v) = p.runtime {
        row.runtime = v;
    }
    if let Some(v) = p.parent_id {
        row.parent_id = v;
    }
    row.layout.x = p.x.or(row.layout.x);
    row.layout.y = p.y.or(row.layout.y);
    row.layout.collapsed = p.collapsed.unwrap_or(row.layout.collapsed);
    if let Some(v) = p.budget_limit {
        row.settings.budget_limit = v;
    }
    if let Some(v) = p.max_concurrent_tasks {
        row.settings.max_concurrent_tasks = Some(v);
    }
    row.updated_at = ctx.now;
    ctx.execute(
        "UPDATE workspaces SET name = ?2, role = ?3, tier = ?4, runtime = ?5, parent_id = ?6, updated_at = ?7,
             x = ?8, y = ?9, collapsed = ?10, budget_limit = ?11, max_concurrent_tasks = ?12
         WHERE id = ?1",
        params![
            row.id,
            row.name,
            row.role,
            row.tier,
            row.runtime,
            row.parent_id,
            row.updated_at,
            row.layout.x,
            row.layout.y,
            row.layout.collapsed,
            row.settings.budget_limit,
            row.settings.max_concurrent_tasks,
        ],
    )?;
    Ok(row)
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

/// Records what an agent registered (`None` leaves a field as it was).
/// False when the workspace is gone.
pub fn register(
    ctx: &WriteCtx,
    id: WorkspaceId,
    url: Option<&str>,
    card: Option<&str>,
    delivery_mode: Option<&str>,
) -> StoreResult<bool> {
    Ok(ctx.execute(
        "UPDATE workspaces SET url = coalesce(?2, url), agent_card = coalesce(?3, agent_card),
             delivery_mode = coalesce(?4, delivery_mode), registered_at = ?5
         WHERE id = ?1 AND deleted_at IS NULL",
        params![id, url, card, delivery_mode, ctx.now],
    )? == 1)
}

/// Writes a workspace's heartbeat state (kept in memory until now). False
/// when the workspace is gone, or has a newer heartbeat written already.
pub fn record_beat(ctx: &WriteCtx, id: WorkspaceId, b: &Beat) -> StoreResult<bool> {
    let r = &b.report;
    Ok(ctx.execute(
        "UPDATE workspaces SET last_heartbeat_at = ?2, idle_since = ?3, active_tasks = ?4, current_task = ?5,
             error_rate = ?6, sample_error = ?7, uptime_seconds = ?8, runtime_state = ?9,
             monthly_spend = coalesce(?10, monthly_spend)
         WHERE id = ?1 AND deleted_at IS NULL AND coalesce(last_heartbeat_at, 0) <= ?2",
        params![
            id,
            b.at,
            b.idle_since,
            r.active_tasks,
            r.current_task,
            r.error_rate,
            r.sample_error,
            r.uptime_seconds,
            r.runtime_state,
            r.monthly_spend
        ],
    )? == 1)
}
