//! `/org/tokens` and `/org/whoami`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::body::{Json, OptionalJson};
use crate::http::error::ApiResult;
use crate::http::gate::{Admin, AdminWide, AnyKey, Gated, ReaderWide};
use crate::service::activity;
use crate::service::keys::{self, LeakReport, MintKeyRequest, PatchKey, RotateRequest};
use crate::service::policy::{self, PutPolicy};
use crate::service::{App, Principal};

pub async fn whoami(who: Principal) -> HttpResponse {
    HttpResponse::Ok().json(keys::whoami(&who))
}

pub async fn list(app: web::Data<App>, Gated(who, _): Gated<Admin>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(keys::list(&app, who).await?))
}

pub async fn mint(
    app: web::Data<App>,
    Gated(who, _): Gated<Admin>,
    body: Json<MintKeyRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(keys::mint(&app, who, body.into_inner()).await?))
}

pub async fn revoke(
    app: web::Data<App>,
    Gated(who, _): Gated<AnyKey>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let revoked = keys::revoke(&app, who, &id).await?;
    Ok(HttpResponse::Ok().json(json!({ "revoked": revoked })))
}

pub async fn rotate(
    app: web::Data<App>,
    Gated(who, _): Gated<Admin>,
    id: web::Path<String>,
    body: OptionalJson<RotateRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(keys::rotate(&app, who, &id, body.0).await?))
}

pub async fn patch(
    app: web::Data<App>,
    Gated(who, _): Gated<Admin>,
    id: web::Path<String>,
    body: Json<PatchKey>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(keys::patch(&app, who, &id, body.into_inner()).await?))
}

pub async fn get_policy(app: web::Data<App>, Gated(who, _): Gated<ReaderWide>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(policy::get(&app, who).await?))
}

pub async fn put_policy(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    body: Json<PutPolicy>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(policy::put(&app, who, body.into_inner()).await?))
}

pub async fn activity(
    app: web::Data<App>,
    Gated(who, _): Gated<Admin>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(activity::for_key(&app, who, &id).await?))
}

/// `POST /org/tokens/leaked`: no credential needed (see service/keys/leaked.rs).
pub async fn leaked(
    req: actix_web::HttpRequest,
    app: web::Data<App>,
    body: Json<LeakReport>,
) -> ApiResult<HttpResponse> {
    let client = crate::http::extract::client(&req).addr;
    Ok(HttpResponse::Accepted().json(keys::report_leaked(&app, client, body.into_inner()).await?))
}
