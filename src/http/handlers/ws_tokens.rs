//! `/workspaces/{id}/tokens`: the workspace's own credentials.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::body::OptionalJson;
use crate::http::error::ApiResult;
use crate::http::gate::{Gated, WsRead, WsReadOrAgent, WsWrite};
use crate::service::ws_tokens::{self, MintTokenRequest};
use crate::service::App;

pub async fn list(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws_tokens::list(&app, who, &id).await?))
}

pub async fn mint(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
    body: OptionalJson<MintTokenRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(ws_tokens::mint_for(&app, who, &id, body.0).await?))
}

pub async fn revoke(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (ws, token) = path.into_inner();
    let id = ws_tokens::revoke(&app, who, &ws, &token).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "revoked", "id": id })))
}

pub async fn activity(
    app: web::Data<App>,
    Gated(who, _): Gated<WsRead>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, token) = path.into_inner();
    Ok(HttpResponse::Ok().json(crate::service::activity::for_token(&app, who, &id, &token).await?))
}
