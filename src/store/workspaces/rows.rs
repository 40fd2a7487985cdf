//! A workspace's row: owned, or borrowed straight from SQLite's buffers.

use rusqlite::Row;

use crate::domain::ids::WorkspaceId;
use crate::domain::workspace::{Beat, Liveness, Report};

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
    pub idle_since: Option<i64>,
    pub report: Report,
    pub layout: Layout,
    pub settings: Settings,
    pub agent: Agent,
}

/// Where the canvas draws a workspace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub collapsed: bool,
}

/// What upstream clients set on a workspace beyond its fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub budget_limit: Option<f64>,
    pub max_concurrent_tasks: Option<i64>,
    /// Its agent runs elsewhere and calls home (upstream's `external`).
    pub external: bool,
}

/// What the agent registered (`POST /registry/register`), or an external
/// create gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agent {
    pub url: Option<String>,
    /// JSON text.
    pub card: Option<String>,
    pub delivery_mode: Option<String>,
    pub registered_at: Option<i64>,
}

pub struct NewWorkspace {
    pub name: String,
    pub role: Option<String>,
    pub tier: i64,
    pub runtime: String,
    pub parent_id: Option<WorkspaceId>,
    pub layout: Layout,
    pub settings: Settings,
    pub url: Option<String>,
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Default)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    pub role: Option<Option<String>>,
    pub tier: Option<i64>,
    pub runtime: Option<String>,
    pub parent_id: Option<Option<WorkspaceId>>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub collapsed: Option<bool>,
    pub budget_limit: Option<Option<f64>>,
    pub max_concurrent_tasks: Option<i64>,
}

pub(super) const COLUMNS: &str = "id, name, role, tier, runtime, parent_id, paused, created_at, updated_at, \
     last_heartbeat_at, active_tasks, current_task, idle_since, x, y, collapsed, budget_limit, \
     max_concurrent_tasks, external, url, agent_card, delivery_mode, registered_at, error_rate, \
     sample_error, uptime_seconds, runtime_state, monthly_spend";
/// The column after COLUMNS in list queries: the row's cursor.
pub(super) const CURSOR: usize = 28;

/// An id as a row holds it: text borrowed from SQLite, or already parsed.
#[derive(Clone, Copy, Debug)]
pub enum IdRef<'a> {
    Text(&'a str),
    Id(WorkspaceId),
}

impl IdRef<'_> {
    pub fn id(&self) -> Option<WorkspaceId> {
        match *self {
            IdRef::Text(s) => WorkspaceId::parse(s),
            IdRef::Id(id) => Some(id),
        }
    }
}

impl serde::Serialize for IdRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IdRef::Text(t) => s.serialize_str(t),
            IdRef::Id(id) => id.serialize(s),
        }
    }
}

/// A row borrowed (from SQLite's own buffers, or from a `WorkspaceRow`):
/// long lists are read without an allocation per field.
#[derive(Clone, Copy)]
pub struct WorkspaceRef<'a> {
    pub id: IdRef<'a>,
    pub name: &'a str,
    pub role: Option<&'a str>,
    pub tier: i64,
    pub runtime: &'a str,
    pub parent_id: Option<IdRef<'a>>,
    pub paused: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_heartbeat_at: Option<i64>,
    pub idle_since: Option<i64>,
    pub active_tasks: i64,
    pub current_task: Option<&'a str>,
    pub error_rate: Option<f64>,
    pub sample_error: Option<&'a str>,
    pub uptime_seconds: Option<i64>,
    pub runtime_state: Option<&'a str>,
    pub monthly_spend: Option<i64>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub collapsed: bool,
    pub budget_limit: Option<f64>,
    pub max_concurrent_tasks: Option<i64>,
    pub external: bool,
    pub url: Option<&'a str>,
    pub agent_card: Option<&'a str>,
    pub delivery_mode: Option<&'a str>,
    pub registered_at: Option<i64>,
}

impl<'a> WorkspaceRef<'a> {
    pub fn liveness(&self) -> Liveness {
        Liveness {
            paused: self.paused,
            last_heartbeat_at: self.last_heartbeat_at,
            active_tasks: self.active_tasks,
            idle_since: self.idle_since,
        }
    }

    /// The row as a newer heartbeat (held in memory, not yet written)
    /// leaves it.
    pub fn with_beat(mut self, b: &'a Beat) -> Self {
        self.last_heartbeat_at = Some(b.at);
        self.idle_since = b.idle_since;
        self.active_tasks = b.report.active_tasks;
        self.current_task = b.report.current_task.as_deref();
        self.error_rate = b.report.error_rate;
        self.sample_error = b.report.sample_error.as_deref();
        self.uptime_seconds = b.report.uptime_seconds;
        self.runtime_state = b.report.runtime_state.as_deref();
        self.monthly_spend = b.report.monthly_spend.or(self.monthly_spend);
        self
    }
}

impl WorkspaceRow {
    pub fn as_ref(&self) -> WorkspaceRef<'_> {
        WorkspaceRef {
            id: IdRef::Id(self.id),
            name: &self.name,
            role: self.role.as_deref(),
            tier: self.tier,
            runtime: &self.runtime,
            parent_id: self.parent_id.map(IdRef::Id),
            paused: self.paused,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_heartbeat_at: self.last_heartbeat_at,
            idle_since: self.idle_since,
            active_tasks: self.report.active_tasks,
            current_task: self.report.current_task.as_deref(),
            error_rate: self.report.error_rate,
            sample_error: self.report.sample_error.as_deref(),
            uptime_seconds: self.report.uptime_seconds,
            runtime_state: self.report.runtime_state.as_deref(),
            monthly_spend: self.report.monthly_spend,
            x: self.layout.x,
            y: self.layout.y,
            collapsed: self.layout.collapsed,
            budget_limit: self.settings.budget_limit,
            max_concurrent_tasks: self.settings.max_concurrent_tasks,
            external: self.settings.external,
            url: self.agent.url.as_deref(),
            agent_card: self.agent.card.as_deref(),
            delivery_mode: self.agent.delivery_mode.as_deref(),
            registered_at: self.agent.registered_at,
        }
    }

    pub fn liveness(&self) -> Liveness {
        self.as_ref().liveness()
    }

    /// The heartbeat state as stored (`None`: never heard from).
    pub fn last_beat(&self) -> Option<(i64, Option<i64>)> {
        self.last_heartbeat_at.map(|at| (at, self.idle_since))
    }
}

pub(super) fn ws_ref<'a>(r: &'a Row) -> rusqlite::Result<WorkspaceRef<'a>> {
    let text = |i: usize| -> rusqlite::Result<&'a str> { Ok(r.get_ref(i)?.as_str()?) };
    let opt_text = |i: usize| -> rusqlite::Result<Option<&'a str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
    Ok(WorkspaceRef {
        id: IdRef::Text(text(0)?),
        name: text(1)?,
        role: opt_text(2)?,
        tier: r.get(3)?,
        runtime: text(4)?,
        parent_id: opt_text(5)?.map(IdRef::Text),
        paused: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        last_heartbeat_at: r.get(9)?,
        active_tasks: r.get(10)?,
        current_task: opt_text(11)?,
        idle_since: r.get(12)?,
        x: r.get(13)?,
        y: r.get(14)?,
        collapsed: r.get(15)?,
        budget_limit: r.get(16)?,
        max_concurrent_tasks: r.get(17)?,
        external: r.get(18)?,
        url: opt_text(19)?,
        agent_card: opt_text(20)?,
        delivery_mode: opt_text(21)?,
        registered_at: r.get(22)?,
        error_rate: r.get(23)?,
        sample_error: opt_text(24)?,
        uptime_seconds: r.get(25)?,
        runtime_state: opt_text(26)?,
        monthly_spend: r.get(27)?,
    })
}

pub(super) fn ws_row(r: &Row) -> rusqlite::Result<WorkspaceRow> {
    let w = ws_ref(r)?;
    let bad = |i| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, "not an id".into());
    Ok(WorkspaceRow {
        id: w.id.id().ok_or_else(|| bad(0))?,
        parent_id: w.parent_id.map(|p| p.id().ok_or_else(|| bad(5))).transpose()?,
        ..owned(&w)
    })
}

/// A borrowed row made owned, ids aside (the caller parses them).
pub(super) fn owned(w: &WorkspaceRef) -> WorkspaceRow {
    let s = |v: Option<&str>| v.map(str::to_string);
    WorkspaceRow {
        id: WorkspaceId::from_bytes([0; 16]),
        name: w.name.to_string(),
        role: s(w.role),
        tier: w.tier,
        runtime: w.runtime.to_string(),
        parent_id: None,
        paused: w.paused,
        created_at: w.created_at,
        updated_at: w.updated_at,
        last_heartbeat_at: w.last_heartbeat_at,
        idle_since: w.idle_since,
        report: Report {
            active_tasks: w.active_tasks,
            current_task: s(w.current_task),
            error_rate: w.error_rate,
            sample_error: s(w.sample_error),
            uptime_seconds: w.uptime_seconds,
            runtime_state: s(w.runtime_state),
            monthly_spend: w.monthly_spend,
        },
        layout: Layout {
            x: w.x,
            y: w.y,
            collapsed: w.collapsed,
        },
        settings: Settings {
            budget_limit: w.budget_limit,
            max_concurrent_tasks: w.max_concurrent_tasks,
            external: w.external,
        },
        agent: Agent {
            url: s(w.url),
            card: s(w.agent_card),
            delivery_mode: s(w.delivery_mode),
            registered_at: w.registered_at,
        },
    }
}
