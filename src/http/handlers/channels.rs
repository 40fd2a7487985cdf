//! Channels: `/channels/adapters` and `/workspaces/{id}/channels`.

use actix_web::{web, HttpResponse};

use crate::http::body::Json;
use crate::http::error::ApiResult;
use crate::http::gate::{AnyCaller, Gated, WsReadOrAgent, WsWrite};
use crate::service::channels::{self, CreateChannel, PatchChannel};
use crate::service::App;

pub async fn adapters(Gated(who, _): Gated<AnyCaller>) -> HttpResponse {
    HttpResponse::Ok().json(channels::list_adapters(&who))
}

pub async fn list(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(channels::list(&app, who, &id).await?))
}

pub async fn create(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
    body: Json<CreateChannel>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(channels::create(&app, who, &id, body.into_inner()).await?))
}

pub async fn patch(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    path: web::Path<(String, String)>,
    body: Json<PatchChannel>,
) -> ApiResult<HttpResponse> {
    let (id, channel) = path.into_inner();
    Ok(HttpResponse::Ok().json(channels::patch(&app, who, &id, &channel, body.into_inner()).await?))
}

pub async fn delete(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, channel) = path.into_inner();
    Ok(HttpResponse::Ok().json(channels::delete(&app, who, &id, &channel).await?))
}
