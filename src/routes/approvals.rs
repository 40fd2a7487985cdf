//! Approvals: the agent asks with its workspace token and polls; a person
//! decides with an org key (workspace-write or admin). A workspace never
//! decides its own approvals, and `decided_by` always comes from the
//! deciding credential.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::workspaces::workspace_id;
use crate::auth::{Need, Principal};
use crate::db::approvals::{self, ApprovalRow, NewApproval};
use crate::db::audit;
use crate::error::{ApiError, ApiResult};
use crate::model::{check_name, is_uuid, opt_rfc3339, rfc3339, Role};
use crate::state::AppState;

const MAX_ACTION: usize = 200;
const MAX_REASON: usize = 4000;
const MAX_TASK_ID: usize = 200;
const MAX_NOTE: usize = 2000;
const LIST_LIMIT: i64 = 100;
const PENDING_LIMIT: i64 = 500;
/// The serialised `context` an approval may carry.
const MAX_CONTEXT_BYTES: usize = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/approvals/pending").get(list_pending))
        .service(
            web::resource("/workspaces/{id}/approvals")
                .get(list_approvals)
                .post(request_approval),
        )
        .service(web::resource("/workspaces/{id}/approvals/{approval_id}").get(get_approval))
        .service(web::resource("/workspaces/{id}/approvals/{approval_id}/decide").post(decide));
}

fn approval_json(a: &ApprovalRow, now: i64) -> Value {
    let (status, decided_by, decided_at) = a.effective(now);
    json!({
        "id": a.id, "approval_id": a.id, "workspace_id": a.workspace_id, "workspace_name": a.workspace_name,
        "task_id": a.task_id, "action": a.action, "reason": a.reason,
        "context": serde_json::from_str::<Value>(&a.context).unwrap_or(Value::Null),
        "status": status, "decided_by": decided_by, "decided_at": opt_rfc3339(decided_at), "note": a.note,
        "created_at": rfc3339(a.created_at), "expires_at": rfc3339(a.expires_at),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RequestApproval {
    action: String,
    reason: Option<String>,
    task_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    context: Map<String, Value>,
}

/// An optional free-text field: absent or empty is None; otherwise bounded
/// and free of control characters (newlines and tabs are fine in prose).
fn optional_text(field: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > max => {
            Err(ApiError::invalid(format!("{field} must be at most {max} characters")))
        }
        Some(v) if v.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) => Err(ApiError::invalid(
            format!("{field} must not contain control characters"),
        )),
        Some(v) => Ok(Some(v)),
    }
}
async fn request_approval(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<RequestApproval>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let b = body.into_inner();
    check_name("action", &b.action, MAX_ACTION).map_err(ApiError::invalid)?;
    let new = NewApproval {
        action: b.action,
        reason: optional_text("reason", b.reason, MAX_REASON)?,
        task_id: optional_text("task_id", b.task_id, MAX_TASK_ID)?,
        context: Value::Object(b.context).to_string(),
    };
    if new.context.len() > MAX_CONTEXT_BYTES {
        return Err(ApiError::invalid(format!(
            "context must be at most {MAX_CONTEXT_BYTES} bytes as JSON"
        )));
    }
    let ttl = i64::try_from(state.settings.approval_ttl.as_millis()).unwrap_or(i64::MAX);
    let row = state
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, &id, Need::Agent)?;
            let row = approvals::insert(ctx, &id, new, ttl)?;
            let detail = json!({"workspace_id": id, "action": row.action, "task_id": row.task_id});
            audit::append(ctx, &who.actor(), "approval.request", Some(&row.id), detail)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "approval_id": row.id, "status": "pending", "expires_at": rfc3339(row.expires_at),
    })))
}

async fn list_approvals(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let rows = state
        .read(move |conn| {
            who.workspace(conn, &id, Need::ReadOrAgent)?;
            approvals::list_for_workspace(conn, &id, LIST_LIMIT)
        })
        .await?;
    let now = state.now();
    // Lists leave each context out; GET one approval to read it.
    let out: Vec<Value> = rows
        .iter()
        .map(|a| {
            let mut j = approval_json(a, now);
            j.as_object_mut().map(|o| o.remove("context"));
            j
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

async fn get_approval(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (raw, approval_id) = path.into_inner();
    let id = workspace_id(&raw)?;
    let row = state
        .read(move |conn| {
            who.check_workspace(conn, &id, Need::ReadOrAgent)?;
            let found = if is_uuid(&approval_id) {
                approvals::get(conn, &id, &approval_id)?
            } else {
                None
            };
            found.ok_or_else(|| ApiError::not_found("approval").into())
        })
        .await?;
    Ok(HttpResponse::Ok().json(approval_json(&row, state.now())))
}

/// Pending approvals across the org (within the key's bindings), newest
/// first. Expired ones are simply not pending; nothing is written.
async fn list_pending(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    let (_, bindings) = who.org_role(Role::ReadOnly)?;
    let roots = (!bindings.is_empty()).then(|| bindings.to_vec());
    let now = state.now();
    let rows = state
        .read(move |conn| approvals::list_pending(conn, now, roots.as_deref(), PENDING_LIMIT))
        .await?;
    let out: Vec<Value> = rows
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "workspace_id": a.workspace_id, "workspace_name": a.workspace_name,
                "action": a.action, "reason": a.reason, "task_id": a.task_id, "status": "pending",
                "created_at": rfc3339(a.created_at), "expires_at": rfc3339(a.expires_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Decision {
    decision: String,
    note: Option<String>,
}

async fn decide(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<Decision>,
) -> ApiResult<HttpResponse> {
    let (raw, approval_id) = path.into_inner();
    let id = workspace_id(&raw)?;
    let Decision { decision, note } = body.into_inner();
    if decision != "approved" && decision != "denied" {
        return Err(ApiError::invalid("decision must be \"approved\" or \"denied\""));
    }
    let note = optional_text("note", note, MAX_NOTE)?;
    let row = state
        .write(who, move |ctx, who| {
            // Need::Write: org keys with workspace-write or admin only; a
            // workspace token (the asker) and read-only keys get 403.
            who.check_workspace(ctx, &id, Need::Write)?;
            let decided_by = who.actor().name;
            let row = match is_uuid(&approval_id) {
                true => approvals::decide(ctx, &id, &approval_id, &decision, &decided_by, note.as_deref())?,
                false => None,
            }
            .ok_or_else(|| ApiError::not_found("pending approval"))?;
            let detail = json!({"workspace_id": id, "decision": decision, "action": row.action});
            audit::append(ctx, &who.actor(), "approval.decide", Some(&row.id), detail)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(approval_json(&row, state.now())))
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<RequestApproval>(out);
    crate::openapi::add::<Decision>(out);
}
