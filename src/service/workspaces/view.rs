//! The workspace object as every route shows it, and the list, written
//! straight from SQLite's buffers.

use serde::Serialize;

use crate::domain::ids::WorkspaceId;
use crate::domain::time::Time;
use crate::domain::workspace::{Status, Thresholds};
use crate::store::workspaces::{WorkspaceRef, WorkspaceRow};

/// An id borrowed from a row being read, or one already parsed.
#[derive(Serialize, Clone, Copy)]
#[serde(untagged)]
enum IdRef<'a> {
    Text(&'a str),
    Id(WorkspaceId),
}

/// The workspace object, serialised straight from the row: a list of
/// thousands is written without building a JSON tree first.
#[derive(Serialize)]
pub struct WorkspaceView<'a> {
    id: IdRef<'a>,
    name: &'a str,
    role: Option<&'a str>,
    tier: i64,
    runtime: &'a str,
    status: Status,
    parent_id: Option<IdRef<'a>>,
    created_at: Time,
    updated_at: Time,
    last_heartbeat_at: Option<Time>,
    active_tasks: i64,
    current_task: Option<&'a str>,
    idle: bool,
    idle_since: Option<Time>,
}

impl<'a> WorkspaceView<'a> {
    /// A row borrowed from SQLite's buffers, as of `now`.
    pub fn of_ref(w: &WorkspaceRef<'a>, now: i64, t: Thresholds) -> Self {
        let (status, idle) = w.liveness().status(now, t);
        WorkspaceView {
            id: IdRef::Text(w.id),
            name: w.name,
            role: w.role,
            tier: w.tier,
            runtime: w.runtime,
            status,
            parent_id: w.parent_id.map(IdRef::Text),
            created_at: Time(w.created_at),
            updated_at: Time(w.updated_at),
            last_heartbeat_at: w.last_heartbeat_at.map(Time),
            active_tasks: w.active_tasks,
            current_task: w.current_task,
            idle,
            idle_since: w.idle_since.filter(|_| status == Status::Online).map(Time),
        }
    }

    /// A row read whole, as of `now`.
    pub fn of(w: &'a WorkspaceRow, now: i64, t: Thresholds) -> Self {
        let (status, idle) = w.liveness().status(now, t);
        WorkspaceView {
            id: IdRef::Id(w.id),
            name: &w.name,
            role: w.role.as_deref(),
            tier: w.tier,
            runtime: &w.runtime,
            status,
            parent_id: w.parent_id.map(IdRef::Id),
            created_at: Time(w.created_at),
            updated_at: Time(w.updated_at),
            last_heartbeat_at: w.last_heartbeat_at.map(Time),
            active_tasks: w.active_tasks,
            current_task: w.current_task.as_deref(),
            idle,
            idle_since: w.idle_since.filter(|_| status == Status::Online).map(Time),
        }
    }
}

/// A workspace just created, with its first token: the one time it is shown.
#[derive(Serialize)]
pub struct CreatedWorkspace {
    #[serde(flatten)]
    pub workspace: OwnedView,
    pub auth_token: String,
    pub warning: &'static str,
}

/// A workspace view that owns its row (for answers built after the
/// transaction that read it).
pub struct OwnedView {
    pub row: WorkspaceRow,
    pub now: i64,
    pub thresholds: Thresholds,
}

impl Serialize for OwnedView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WorkspaceView::of(&self.row, self.now, self.thresholds).serialize(s)
    }
}
