//! `/workspaces/{id}/tokens`: the workspace's own credentials.
//!
//! Org keys with write access mint and revoke them. The workspace's own
//! token may list them and revoke itself, but not mint: a leaked token must
//! not be able to mint a sibling that survives its revocation.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::workspaces::workspace_id;
use super::OptionalJson;
use crate::auth::{Need, Principal};
use crate::db::{audit, tokens};
use crate::error::{ApiError, ApiResult};
use crate::model::{is_uuid, opt_rfc3339, rfc3339};
use crate::routes::keys::{cap_expiry, expiry};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/workspaces/{id}/tokens")
            .get(list_tokens)
            .post(mint_token),
    )
    .service(web::resource("/workspaces/{id}/tokens/{token_id}").delete(revoke_token));
}

async fn list_tokens(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let now = state.now();
    let rows = state
        .read(move |conn| {
            who.workspace(conn, &id, Need::ReadOrAgent)?;
            tokens::list_live(conn, &id, now)
        })
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "prefix": t.prefix, "created_by": t.created_by,
                "created_at": rfc3339(t.created_at), "expires_at": opt_rfc3339(t.expires_at),
                "last_used_at": opt_rfc3339(state.db.creds.last_used(&t.token_hash).max(t.last_used_at)),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "count": list.len(), "tokens": list })))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MintTokenRequest {
    expires_in: Option<i64>,
    expires_at: Option<String>,
}

async fn mint_token(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: OptionalJson<MintTokenRequest>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let req = body.0.unwrap_or_default();
    let asked = expiry(state.now(), req.expires_in, req.expires_at.as_deref())?;
    let (row, token) = state
        .write(who, move |ctx, who| {
            who.workspace(ctx, &id, Need::Write)?;
            let expires_at = cap_expiry(ctx, who, asked)?;
            let actor = who.actor();
            let (row, token) = tokens::insert(ctx, &id, &actor.name, expires_at)?;
            let detail = json!({"workspace_id": id, "prefix": row.prefix, "expires_at": opt_rfc3339(row.expires_at)});
            audit::append(ctx, &actor, "workspace_token.mint", Some(&row.id), detail)?;
            Ok((row, token))
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "id": row.id, "prefix": row.prefix, "workspace_id": row.workspace_id,
        "created_by": row.created_by, "created_at": rfc3339(row.created_at),
        "expires_at": opt_rfc3339(row.expires_at),
        "auth_token": token, "warning": "copy this token now; it will not be shown again",
    })))
}

async fn revoke_token(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (raw_ws, token_id) = path.into_inner();
    let id = workspace_id(&raw_ws)?;
    let revoked = token_id.clone();
    state
        .write(who, move |ctx, who| {
            // A workspace token may revoke itself (a leaked agent token can
            // end itself), never its siblings.
            let own = who.workspace_id().as_deref() == Some(id.as_str()) && who.cred.is(&token_id);
            if !own {
                who.check_workspace(ctx, &id, Need::Write)?;
            }
            if !is_uuid(&token_id) || !tokens::revoke(ctx, &id, &token_id)? {
                return Err(ApiError::not_found("token").into());
            }
            audit::append(
                ctx,
                &who.actor(),
                "workspace_token.revoke",
                Some(&token_id),
                json!({"workspace_id": id}),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "revoked", "id": revoked })))
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<MintTokenRequest>(out);
}
