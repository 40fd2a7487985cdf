//! Approvals: the agent asks with its workspace token and polls; a person
//! decides with an org key (workspace-write or admin). A workspace never
//! decides its own approvals, and `decided_by` always comes from the
//! deciding credential.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::ws_tokens::workspace_id;
use super::{App, Principal};
use crate::domain::approvals::{self as rules, Status};
use crate::domain::audit::Action;
use crate::domain::authz::Need;
use crate::domain::ids::{ApprovalId, WorkspaceId};
use crate::domain::role::Role;
use crate::domain::text::{check_name, optional_prose};
use crate::domain::time::{ms, Time};
use crate::domain::{Code, Error, Result};
use crate::store::approvals::{self, ApprovalRow, NewApproval};
use crate::store::audit;

const LIST_LIMIT: i64 = 100;
const PENDING_LIMIT: i64 = 500;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestApproval {
    action: String,
    reason: Option<String>,
    task_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    context: Map<String, Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    decision: String,
    note: Option<String>,
    /// Sent by upstream's canvas (`"human"`) and MCP server
    /// (`"mcp-client"`): accepted and ignored. The decider is always the
    /// credential that decides.
    #[allow(dead_code)]
    decided_by: Option<String>,
}

/// An approval as of `now`. Lists leave each context out; GET one approval
/// to read it.
#[derive(Serialize)]
pub struct ApprovalView {
    id: ApprovalId,
    approval_id: ApprovalId,
    workspace_id: WorkspaceId,
    workspace_name: String,
    task_id: Option<String>,
    action: String,
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Value>,
    status: Status,
    decided_by: Option<String>,
    decided_at: Option<Time>,
    note: Option<String>,
    created_at: Time,
    expires_at: Time,
}

impl ApprovalView {
    fn of(a: ApprovalRow, now: i64, with_context: bool) -> ApprovalView {
        let (status, decided_by, decided_at) = a.effective(now);
        let decided_by = decided_by.map(str::to_string);
        ApprovalView {
            id: a.id,
            approval_id: a.id,
            workspace_id: a.workspace_id,
            workspace_name: a.workspace_name,
            task_id: a.task_id,
            action: a.action,
            reason: a.reason,
            context: with_context.then(|| serde_json::from_str::<Value>(&a.context).unwrap_or(Value::Null)),
            status,
            decided_by,
            decided_at: decided_at.map(Time),
            note: a.note,
            created_at: Time(a.created_at),
            expires_at: Time(a.expires_at),
        }
    }
}

/// An approval waiting in the org-wide list.
#[derive(Serialize)]
pub struct PendingView {
    id: ApprovalId,
    workspace_id: WorkspaceId,
    workspace_name: String,
    action: String,
    reason: Option<String>,
    task_id: Option<String>,
    status: Status,
    created_at: Time,
    expires_at: Time,
}

fn approval_id(raw: &str) -> Option<ApprovalId> {
    ApprovalId::parse(raw)
}

pub async fn request(app: &App, who: Principal, raw: &str, b: RequestApproval) -> Result<Value> {
    let id = workspace_id(raw)?;
    check_name("action", &b.action, rules::MAX_ACTION).map_err(Error::invalid)?;
    let new = NewApproval {
        action: b.action,
        reason: optional_prose("reason", b.reason, rules::MAX_REASON).map_err(Error::invalid)?,
        task_id: optional_prose("task_id", b.task_id, rules::MAX_TASK_ID).map_err(Error::invalid)?,
        context: Value::Object(b.context).to_string(),
    };
    if new.context.len() > rules::MAX_CONTEXT_BYTES {
        return Err(Error::invalid(format!(
            "context must be at most {} bytes as JSON",
            rules::MAX_CONTEXT_BYTES
        )));
    }
    let ttl = ms(app.settings.approval_ttl);
    let row = app
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, id, Need::Agent)?;
            if approvals::count_pending(ctx, id, ctx.now)? >= rules::MAX_PENDING_PER_WORKSPACE {
                return Err(Error::new(
                    Code::TooManyPending,
                    format!(
                        "a workspace may have at most {} approvals waiting",
                        rules::MAX_PENDING_PER_WORKSPACE
                    ),
                ));
            }
            let row = approvals::insert(ctx, id, new, ttl)?;
            let detail = json!({"workspace_id": id, "action": row.action, "task_id": row.task_id});
            audit::append(
                ctx,
                &who.actor(),
                Action::ApprovalRequest,
                Some(&row.id.to_string()),
                detail,
            )?;
            Ok(row)
        })
        .await?;
    Ok(json!({
        "approval_id": row.id, "status": "pending", "expires_at": Time(row.expires_at),
    }))
}

pub async fn list_for_workspace(app: &App, who: Principal, raw: &str) -> Result<Vec<ApprovalView>> {
    let id = workspace_id(raw)?;
    let rows = app
        .read(move |conn| {
            who.workspace(conn, id, Need::ReadOrAgent)?;
            Ok(approvals::list_for_workspace(conn, id, LIST_LIMIT)?)
        })
        .await?;
    let now = app.now();
    Ok(rows.into_iter().map(|a| ApprovalView::of(a, now, false)).collect())
}

pub async fn get(app: &App, who: Principal, raw: &str, raw_approval: &str) -> Result<ApprovalView> {
    let id = workspace_id(raw)?;
    let approval = approval_id(raw_approval);
    let row = app
        .read(move |conn| {
            who.check_workspace(conn, id, Need::ReadOrAgent)?;
            let found = match approval {
                Some(a) => approvals::get(conn, id, a)?,
                None => None,
            };
            found.ok_or_else(|| Error::not_found("approval"))
        })
        .await?;
    Ok(ApprovalView::of(row, app.now(), true))
}

/// Pending approvals across the org (within the key's bindings), newest
/// first. Expired ones are simply not pending; nothing is written.
pub async fn list_pending(app: &App, who: Principal) -> Result<Vec<PendingView>> {
    let roots = who.roots(Role::ReadOnly)?;
    let now = app.now();
    let rows = app
        .read(move |conn| Ok(approvals::list_pending(conn, now, roots.as_deref(), PENDING_LIMIT)?))
        .await?;
    Ok(rows
        .into_iter()
        .map(|a| PendingView {
            id: a.id,
            workspace_id: a.workspace_id,
            workspace_name: a.workspace_name,
            action: a.action,
            reason: a.reason,
            task_id: a.task_id,
            status: Status::Pending,
            created_at: Time(a.created_at),
            expires_at: Time(a.expires_at),
        })
        .collect())
}

pub async fn decide(app: &App, who: Principal, raw: &str, raw_approval: &str, d: Decision) -> Result<ApprovalView> {
    let id = workspace_id(raw)?;
    let approval = approval_id(raw_approval);
    let decision = rules::decision(&d.decision)?;
    let note = optional_prose("note", d.note, rules::MAX_NOTE).map_err(Error::invalid)?;
    let row = app
        .write(who, move |ctx, who| {
            // Need::Write: org keys with workspace-write or admin only; a
            // workspace token (the asker) and read-only keys get 403.
            who.check_workspace(ctx, id, Need::Write)?;
            let decided_by = who.actor().name;
            let row = match approval {
                Some(a) => approvals::decide(ctx, id, a, decision, &decided_by, note.as_deref())?,
                None => None,
            }
            .ok_or_else(|| Error::not_found("pending approval"))?;
            let detail = json!({"workspace_id": id, "decision": decision, "action": row.action});
            audit::append(
                ctx,
                &who.actor(),
                Action::ApprovalDecide,
                Some(&row.id.to_string()),
                detail,
            )?;
            Ok(row)
        })
        .await?;
    Ok(ApprovalView::of(row, app.now(), true))
}
