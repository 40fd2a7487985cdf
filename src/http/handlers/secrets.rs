//! Secrets: `/workspaces/{id}/secrets` and the global `/settings/secrets`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::body::Json;
use crate::http::error::ApiResult;
use crate::http::gate::{AdminWide, Gated, ReaderWide, WsAgent, WsReadOrAgent, WsWrite};
use crate::service::secrets::{self, PutSecret};
use crate::service::App;

pub async fn list_for_workspace(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(secrets::list_for_workspace(&app, who, &id).await?))
}

pub async fn put_for_workspace(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
    body: Json<PutSecret>,
) -> ApiResult<HttpResponse> {
    let key = secrets::put_for_workspace(&app, who, &id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "saved", "key": key })))
}

pub async fn delete_for_workspace(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, key) = path.into_inner();
    let key = secrets::delete_for_workspace(&app, who, &id, key).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "deleted", "key": key })))
}

/// The agent's route: every value its workspace sees, decrypted, in one
/// piece or not at all.
pub async fn values(
    app: web::Data<App>,
    Gated(who, _): Gated<WsAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(secrets::values(&app, who, &id).await?))
}

pub async fn list_global(app: web::Data<App>, Gated(who, _): Gated<ReaderWide>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(secrets::list_global(&app, who).await?))
}

pub async fn put_global(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    body: Json<PutSecret>,
) -> ApiResult<HttpResponse> {
    let key = secrets::put_global(&app, who, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "saved", "key": key, "scope": "global" })))
}

pub async fn delete_global(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    key: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let key = secrets::delete_global(&app, who, key.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "deleted", "key": key, "scope": "global" })))
}
