//! Approvals: the agent asks and polls; a person decides.

use actix_web::{web, HttpResponse};

use crate::http::body::Json;
use crate::http::error::ApiResult;
use crate::http::gate::{Gated, Reader, WsAgent, WsReadOrAgent, WsWrite};
use crate::service::approvals::{self, Decision, RequestApproval};
use crate::service::App;

pub async fn request(
    app: web::Data<App>,
    Gated(who, _): Gated<WsAgent>,
    id: web::Path<String>,
    body: Json<RequestApproval>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(approvals::request(&app, who, &id, body.into_inner()).await?))
}

pub async fn list(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(approvals::list_for_workspace(&app, who, &id).await?))
}

pub async fn get(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, approval) = path.into_inner();
    Ok(HttpResponse::Ok().json(approvals::get(&app, who, &id, &approval).await?))
}

pub async fn pending(app: web::Data<App>, Gated(who, _): Gated<Reader>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(approvals::list_pending(&app, who).await?))
}

pub async fn decide(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    path: web::Path<(String, String)>,
    body: Json<Decision>,
) -> ApiResult<HttpResponse> {
    let (id, approval) = path.into_inner();
    Ok(HttpResponse::Ok().json(approvals::decide(&app, who, &id, &approval, body.into_inner()).await?))
}
