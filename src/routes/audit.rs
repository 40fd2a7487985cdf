//! `GET /org/audit`: the trail, newest first, paged by id.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::db::audit;
use crate::error::{ApiError, ApiResult};
use crate::model::{rfc3339, Role};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/org/audit").get(list_audit));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

async fn list_audit(state: web::Data<AppState>, who: Principal, q: web::Query<AuditQuery>) -> ApiResult<HttpResponse> {
    // Admin and read-only keys; the trail is org-wide, so bound keys and
    // workspace-write keys (which only manage workspaces) are refused.
    let role = who.org_wide(Role::ReadOnly)?;
    if role == Role::WorkspaceWrite {
        return Err(ApiError::forbidden("the audit trail is for admin and read-only keys"));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let before = q.before;
    let rows = state.read(move |conn| audit::list(conn, limit, before)).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "at": rfc3339(r.at), "actor": r.actor, "action": r.action,
                "target": r.target, "client": r.client,
                "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "entries": entries, "next_before": next })))
}
