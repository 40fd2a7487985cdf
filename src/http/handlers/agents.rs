//! What an agent calls home on: `/registry/*` and its workspace's state.

use actix_web::{web, HttpResponse};

use crate::http::body::Json;
use crate::http::error::ApiResult;
use crate::http::gate::{Agent, Gated, WsAgent};
use crate::service::agents::{self, HeartbeatBody, Register, UpdateCard};
use crate::service::App;

pub async fn register(
    app: web::Data<App>,
    Gated(who, _): Gated<Agent>,
    body: Json<Register>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(agents::register(&app, who, body.into_inner()).await?))
}

pub async fn heartbeat(
    app: web::Data<App>,
    Gated(who, _): Gated<Agent>,
    body: Json<HeartbeatBody>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(agents::heartbeat(&app, who, body.into_inner()).await?))
}

pub async fn update_card(
    app: web::Data<App>,
    Gated(who, _): Gated<Agent>,
    body: Json<UpdateCard>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(agents::update_card(&app, who, body.into_inner()).await?))
}

pub async fn state(
    app: web::Data<App>,
    Gated(who, _): Gated<WsAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(agents::state(&app, who, &id).await?))
}
