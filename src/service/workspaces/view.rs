//! The workspace object as every route shows it: its fields, its status as
//! of now, what its agent reported and registered, and where the canvas
//! draws it (upstream's field names, so the canvas reads it as it reads
//! upstream's).

use serde::Serialize;
use serde_json::value::RawValue;

use crate::domain::time::Time;
use crate::domain::workspace::{Beat, Status, Thresholds};
use crate::store::workspaces::{IdRef, WorkspaceRef, WorkspaceRow};

/// Serialised straight from the row: a list of thousands is written
/// without building a JSON tree first.
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
    last_error_rate: Option<f64>,
    last_sample_error: Option<&'a str>,
    uptime_seconds: Option<i64>,
    runtime_state: Option<&'a str>,
    monthly_spend: i64,
    external: bool,
    url: Option<&'a str>,
    agent_card: Option<&'a RawValue>,
    delivery_mode: Option<&'a str>,
    registered_at: Option<Time>,
    x: f64,
    y: f64,
    collapsed: bool,
    budget_limit: Option<f64>,
    max_concurrent_tasks: i64,
}

impl<'a> WorkspaceView<'a> {
    /// A row (borrowed from SQLite's buffers or a `WorkspaceRow`), as of `now`.
    pub fn of(w: &WorkspaceRef<'a>, now: i64, t: Thresholds) -> Self {
        let (status, idle) = w.liveness().status(now, t);
        WorkspaceView {
            id: w.id,
            name: w.name,
            role: w.role,
            tier: w.tier,
            runtime: w.runtime,
            status,
            parent_id: w.parent_id,
            created_at: Time(w.created_at),
            updated_at: Time(w.updated_at),
            last_heartbeat_at: w.last_heartbeat_at.map(Time),
            active_tasks: w.active_tasks,
            current_task: w.current_task,
            idle,
            idle_since: w.idle_since.filter(|_| status == Status::Online).map(Time),
            last_error_rate: w.error_rate,
            last_sample_error: w.sample_error,
            uptime_seconds: w.uptime_seconds,
            runtime_state: w.runtime_state,
            monthly_spend: w.monthly_spend.unwrap_or(0),
            external: w.external,
            url: w.url,
            // Stored only after it parsed as a JSON object.
            agent_card: w.agent_card.and_then(|c| serde_json::from_str(c).ok()),
            delivery_mode: w.delivery_mode,
            registered_at: w.registered_at.map(Time),
            x: w.x.unwrap_or(0.0),
            y: w.y.unwrap_or(0.0),
            collapsed: w.collapsed,
            budget_limit: w.budget_limit,
            max_concurrent_tasks: w.max_concurrent_tasks.unwrap_or(1),
        }
    }
}

/// A workspace view that owns its row (for answers built after the
/// transaction that read it), with any newer heartbeat held in memory.
pub struct OwnedView {
    pub row: WorkspaceRow,
    pub beat: Option<Beat>,
    pub now: i64,
    pub thresholds: Thresholds,
}

impl Serialize for OwnedView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut w = self.row.as_ref();
        if let Some(b) = &self.beat {
            w = w.with_beat(b);
        }
        WorkspaceView::of(&w, self.now, self.thresholds).serialize(s)
    }
}

/// The external-agent connection block upstream's create answers with.
#[derive(Serialize)]
pub struct Connection {
    pub workspace_id: String,
    pub platform_url: String,
    pub auth_token: String,
    pub registry_endpoint: String,
    pub heartbeat_endpoint: String,
    pub state_endpoint: String,
    pub curl_register_template: String,
    pub python_snippet: String,
}

/// A workspace just created, with its first token: the one time it is shown.
#[derive(Serialize)]
pub struct CreatedWorkspace {
    #[serde(flatten)]
    pub workspace: OwnedView,
    pub auth_token: String,
    pub warning: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
}
