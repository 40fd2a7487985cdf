//! What an agent calls home on, with its workspace's own token: register,
//! heartbeat, and its workspace's state (upstream's `/registry/*` and
//! `/workspaces/:id/state`, as the workspace runtime, the Python SDK and
//! `molecule connect` send them).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::ws_tokens::workspace_id;
use super::{App, Principal};
use crate::domain::audit::Action;
use crate::domain::authz::Need;
use crate::domain::ids::WorkspaceId;
use crate::domain::text::{check_name, optional_prose};
use crate::domain::workspace::{
    Report, Status, MAX_ACTIVE_TASKS, MAX_AGENT_CARD_BYTES, MAX_SAMPLE_ERROR, MAX_SHORT_TEXT, MAX_TASK, MAX_URL,
};
use crate::domain::{Error, Result};
use crate::store::{audit, workspaces as ws};

/// `POST /registry/register`. `url` may be absent (`molecule connect`
/// polls) and of any scheme (the SDK's `remote://no-inbound`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    id: String,
    url: Option<String>,
    #[schema(value_type = Option<Object>)]
    agent_card: Option<Map<String, Value>>,
    delivery_mode: Option<String>,
}

/// `POST /registry/heartbeat` (and our own `/workspaces/:id/heartbeat`,
/// whose workspace is in the path).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    workspace_id: Option<String>,
    #[serde(default)]
    active_tasks: i64,
    current_task: Option<String>,
    error_rate: Option<f64>,
    sample_error: Option<String>,
    uptime_seconds: Option<i64>,
    /// `ok`, or `wedged` (upstream's runtime), kept and shown.
    runtime_state: Option<String>,
    /// Upstream's runtime reports its capabilities here; accepted, not kept.
    #[schema(value_type = Option<Object>)]
    #[allow(dead_code)]
    runtime_metadata: Option<Value>,
    /// US cents.
    monthly_spend: Option<i64>,
}

/// `POST /registry/update-card`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCard {
    workspace_id: String,
    #[schema(value_type = Object)]
    agent_card: Map<String, Value>,
}

/// `GET /workspaces/:id/state`: what the SDK's run loop polls.
#[derive(Serialize)]
pub struct State {
    workspace_id: WorkspaceId,
    status: Status,
    paused: bool,
    deleted: bool,
}

/// The workspace a body names must be the caller's own.
fn own_workspace(who: &Principal, raw: &str) -> Result<WorkspaceId> {
    let id = workspace_id(raw)?;
    match who.workspace_id() {
        Some(own) if own == id => Ok(id),
        _ => Err(Error::forbidden(
            "a workspace token can only use its own workspace's agent routes",
        )),
    }
}

fn card_text(card: Option<Map<String, Value>>) -> Result<Option<String>> {
    let Some(card) = card else { return Ok(None) };
    let text = Value::Object(card).to_string();
    if text.len() > MAX_AGENT_CARD_BYTES {
        return Err(Error::invalid(format!(
            "agent_card must be at most {MAX_AGENT_CARD_BYTES} bytes as JSON"
        )));
    }
    Ok(Some(text))
}

impl HeartbeatBody {
    /// The report, checked: counts in range, texts bounded.
    fn report(self) -> Result<Report> {
        if !(0..=MAX_ACTIVE_TASKS).contains(&self.active_tasks) {
            return Err(Error::invalid(format!(
                "active_tasks must be between 0 and {MAX_ACTIVE_TASKS}"
            )));
        }
        let task = self.current_task.filter(|t| !t.is_empty());
        if let Some(t) = &task {
            check_name("current_task", t, MAX_TASK).map_err(Error::invalid)?;
        }
        if self.error_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            return Err(Error::invalid("error_rate must be between 0 and 1"));
        }
        if self.uptime_seconds.is_some_and(|u| u < 0)
            || self
                .monthly_spend
                .is_some_and(|m| !(0..=1_000_000_000_000).contains(&m))
        {
            return Err(Error::invalid(
                "uptime_seconds and monthly_spend must not be negative (monthly_spend at most 10^12)",
            ));
        }
        let state = self.runtime_state.filter(|s| !s.is_empty());
        if let Some(s) = &state {
            check_name("runtime_state", s, MAX_SHORT_TEXT).map_err(Error::invalid)?;
        }
        Ok(Report {
            active_tasks: self.active_tasks,
            current_task: task,
            error_rate: self.error_rate,
            sample_error: optional_prose("sample_error", self.sample_error, MAX_SAMPLE_ERROR)
                .map_err(Error::invalid)?,
            uptime_seconds: self.uptime_seconds,
            runtime_state: state,
            monthly_spend: self.monthly_spend,
        })
    }
}

/// Records a heartbeat, in memory (see beats.rs). The workspace's last
/// written heartbeat is read only when none is held yet.
pub async fn beat(app: &App, who: &Principal, id: WorkspaceId, report: Report) -> Result<()> {
    let stored = match app.beats.last(id) {
        Some(held) => Some(held),
        None => {
            let who = who.clone();
            app.read(move |conn| Ok(who.workspace(conn, id, Need::Agent)?.last_beat()))
                .await?
        }
    };
    let offline_after = app.settings.thresholds().offline_after;
    app.beats.record(id, stored, app.now(), report, offline_after);
    // Cached lists show status: they must read again.
    app.db.bump_generation();
    Ok(())
}

/// `POST /registry/heartbeat`.
pub async fn heartbeat(app: &App, who: Principal, body: HeartbeatBody) -> Result<Value> {
    let raw = body
        .workspace_id
        .clone()
        .ok_or_else(|| Error::invalid("workspace_id is required"))?;
    let id = own_workspace(&who, &raw)?;
    let report = body.report()?;
    beat(app, &who, id, report).await?;
    Ok(json!({ "status": "ok" }))
}

/// Our own `POST /workspaces/:id/heartbeat`: the same, with the workspace
/// in the path and the workspace in the answer.
pub async fn heartbeat_in_path(
    app: &App,
    who: Principal,
    raw: &str,
    body: Option<HeartbeatBody>,
) -> Result<super::workspaces::OwnedView> {
    let id = workspace_id(raw)?;
    let body = body.unwrap_or_default();
    if body.workspace_id.as_deref().is_some_and(|w| w != raw) {
        return Err(Error::invalid("workspace_id differs from the workspace in the path"));
    }
    // The caller must be this workspace's own token before anything else.
    crate::domain::authz::workspace(&who.grant(), id, Need::Agent)?;
    let report = body.report()?;
    beat(app, &who, id, report).await?;
    super::workspaces::get_as(app, who, id, Need::Agent).await
}

/// `POST /registry/register`: what the agent is and where it listens;
/// counts as a heartbeat.
pub async fn register(app: &App, who: Principal, body: Register) -> Result<Value> {
    let id = own_workspace(&who, &body.id)?;
    if let Some(u) = &body.url {
        check_name("url", u, MAX_URL).map_err(Error::invalid)?;
    }
    if let Some(m) = &body.delivery_mode {
        check_name("delivery_mode", m, MAX_SHORT_TEXT).map_err(Error::invalid)?;
    }
    let card = card_text(body.agent_card)?;
    let (url, mode) = (body.url, body.delivery_mode);
    let beat_as = who.clone();
    app.write(who, move |ctx, who| {
        who.check_workspace(ctx, id, Need::Agent)?;
        if !ws::register(ctx, id, url.as_deref(), card.as_deref(), mode.as_deref())? {
            return Err(Error::not_found("workspace"));
        }
        let detail = json!({"url": url, "delivery_mode": mode, "agent_card": card.is_some()});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::WorkspaceRegister,
            Some(&id.to_string()),
            detail,
        )?)
    })
    .await?;
    beat(app, &beat_as, id, Report::default()).await?;
    Ok(json!({ "status": "registered" }))
}

/// `POST /registry/update-card`.
pub async fn update_card(app: &App, who: Principal, body: UpdateCard) -> Result<Value> {
    let id = own_workspace(&who, &body.workspace_id)?;
    let card = card_text(Some(body.agent_card))?;
    app.write(who, move |ctx, who| {
        who.check_workspace(ctx, id, Need::Agent)?;
        if !ws::register(ctx, id, None, card.as_deref(), None)? {
            return Err(Error::not_found("workspace"));
        }
        let detail = json!({"agent_card": true});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::WorkspaceRegister,
            Some(&id.to_string()),
            detail,
        )?)
    })
    .await?;
    Ok(json!({ "status": "updated" }))
}

/// `GET /workspaces/:id/state`.
pub async fn state(app: &App, who: Principal, raw: &str) -> Result<State> {
    let id = workspace_id(raw)?;
    let view = super::workspaces::get_as(app, who, id, Need::Agent).await?;
    let mut w = view.row.as_ref();
    if let Some(b) = &view.beat {
        w = w.with_beat(b);
    }
    let (status, _) = w.liveness().status(view.now, view.thresholds);
    Ok(State {
        workspace_id: id,
        status,
        paused: status == Status::Paused,
        deleted: false,
    })
}
