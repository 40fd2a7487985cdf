//! Secrets: `/workspaces/{id}/secrets` and the global `/settings/secrets`.
//!
//! Org keys see names and times, never values, whatever their role. The
//! only route that returns values is the agent's own:
//! `GET /workspaces/{id}/secrets/values`, with the workspace's token.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::workspaces::workspace_id;
use crate::auth::{Need, Principal};
use crate::crypto::Keyring;
use crate::db::secrets::{self, SecretMeta, GLOBAL};
use crate::db::{audit, StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};
use crate::model::{rfc3339, Role};
use crate::state::AppState;

pub const MAX_VALUE_BYTES: usize = 64 * 1024;
pub const NAME_RULE: &str = "^[A-Z][A-Z0-9_]{0,127}$";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/workspaces/{id}/secrets")
            .get(list_workspace_secrets)
            .put(put_workspace_secret)
            .post(put_workspace_secret),
    )
    .service(web::resource("/workspaces/{id}/secrets/values").get(secret_values))
    .service(web::resource("/workspaces/{id}/secrets/{key}").delete(delete_workspace_secret))
    .service(
        web::resource("/settings/secrets")
            .get(list_global_secrets)
            .put(put_global_secret)
            .post(put_global_secret),
    )
    .service(web::resource("/settings/secrets/{key}").delete(delete_global_secret));
}

/// Why a secret name or value is refused, naming the rule.
pub fn check_secret(name: &str, value: &str) -> ApiResult<()> {
    check_name(name)?;
    if value.is_empty() {
        return Err(ApiError::invalid(format!("{name}: the value must not be empty")));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid(format!(
            "{name}: the value must be at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<()> {
    if crate::model::is_env_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "key must match {NAME_RULE}: an upper-case letter, then upper-case letters, digits or _, at most 128 in all"
        )))
    }
}

/// Stores a set of secrets in the caller's transaction, with one audit
/// entry each (names, never values).
pub fn store(
    ctx: &WriteCtx,
    ring: &Keyring,
    who: &Principal,
    scope: &str,
    values: &BTreeMap<String, String>,
) -> StoreResult<()> {
    for (name, value) in values {
        let replaced = secrets::put(ctx, ring, scope, name, value)?;
        let detail =
            json!({"scope": if scope == GLOBAL { "global" } else { "workspace" }, "key": name, "replaced": replaced});
        audit::append(ctx, &who.actor(), "secret.set", Some(scope), detail)?;
    }
    Ok(())
}

fn meta_json(m: &SecretMeta, scope: &str) -> Value {
    json!({
        "key": m.name, "has_value": true, "scope": scope,
        "created_at": rfc3339(m.created_at), "updated_at": rfc3339(m.updated_at),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PutSecret {
    key: String,
    value: String,
}

async fn list_workspace_secrets(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let (own, global) = state
        .read(move |conn| {
            who.workspace(conn, &id, Need::ReadOrAgent)?;
            Ok((secrets::list(conn, &id)?, secrets::list(conn, GLOBAL)?))
        })
        .await?;
    let mut out: Vec<Value> = own.iter().map(|m| meta_json(m, "workspace")).collect();
    // Globals the workspace inherits: those it does not override.
    out.extend(
        global
            .iter()
            .filter(|g| !own.iter().any(|o| o.name == g.name))
            .map(|m| meta_json(m, "global")),
    );
    Ok(HttpResponse::Ok().json(out))
}

async fn put_workspace_secret(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<PutSecret>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let PutSecret { key, value } = body.into_inner();
    check_secret(&key, &value)?;
    let ring = state.keyring.clone();
    let name = key.clone();
    state
        .write(who, move |ctx, who| {
            who.workspace(ctx, &id, Need::Write)?;
            store(ctx, &ring, who, &id, &BTreeMap::from([(name, value)]))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "saved", "key": key })))
}

async fn delete_workspace_secret(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (raw, key) = path.into_inner();
    let id = workspace_id(&raw)?;
    let name = key.clone();
    state
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, &id, Need::Write)?;
            if !secrets::delete(ctx, &id, &name)? {
                return Err(ApiError::not_found("secret").into());
            }
            audit::append(
                ctx,
                &who.actor(),
                "secret.delete",
                Some(&id),
                json!({"scope": "workspace", "key": name}),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "deleted", "key": key })))
}

/// The agent's route: every value its workspace sees, decrypted, in one
/// piece or not at all.
async fn secret_values(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let ring = state.keyring.clone();
    let opened = state
        .read(move |conn| {
            who.check_workspace(conn, &id, Need::Agent)?;
            secrets::open_for_workspace(conn, &ring, &id)
        })
        .await?;
    match opened {
        Ok(values) => Ok(HttpResponse::Ok().json(values)),
        Err(failed) => {
            tracing::error!(keys = ?failed, "secret values failed to decrypt");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "decryption_failed",
                "one or more secrets failed to decrypt; refusing to return a partial set",
            )
            .with("failed_keys", json!(failed)))
        }
    }
}

async fn list_global_secrets(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    who.org_wide(Role::ReadOnly)?;
    let rows = state.read(|conn| secrets::list(conn, GLOBAL)).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(|m| meta_json(m, "global")).collect::<Vec<_>>()))
}

async fn put_global_secret(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<PutSecret>,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let PutSecret { key, value } = body.into_inner();
    check_secret(&key, &value)?;
    let ring = state.keyring.clone();
    let name = key.clone();
    state
        .write(who, move |ctx, who| {
            store(ctx, &ring, who, GLOBAL, &BTreeMap::from([(name, value)]))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "saved", "key": key, "scope": "global" })))
}

async fn delete_global_secret(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let key = path.into_inner();
    let name = key.clone();
    state
        .write(who, move |ctx, who| {
            if !secrets::delete(ctx, GLOBAL, &name)? {
                return Err(ApiError::not_found("secret").into());
            }
            audit::append(
                ctx,
                &who.actor(),
                "secret.delete",
                Some(GLOBAL),
                json!({"scope": "global", "key": name}),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "deleted", "key": key, "scope": "global" })))
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<PutSecret>(out);
}
