//! `/workspaces`: the tree, its lifecycle, and the agent's heartbeat.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::http::error::ApiResult;
use crate::http::extract::OptionalJson;
use crate::service::workspaces::{self as ws, CreateWorkspace, Heartbeat, ListQuery, Listed};
use crate::service::{App, Principal};

/// Without `limit`, every workspace (the guide's plain array). With it, a
/// page; the next one is named by `X-Next-Cursor` and a `Link` header.
pub async fn list(app: web::Data<App>, who: Principal, q: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let Listed { body, next } = ws::list(&app, &who, q.into_inner()).await?;
    let mut res = HttpResponse::Ok();
    if let Some((limit, cursor)) = next {
        res.insert_header(("X-Next-Cursor", cursor.to_string()));
        res.insert_header((
            "Link",
            format!("</workspaces?limit={limit}&cursor={cursor}>; rel=\"next\""),
        ));
    }
    Ok(res.content_type("application/json").body(body))
}

pub async fn create(app: web::Data<App>, who: Principal, body: web::Json<CreateWorkspace>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(ws::create(&app, who, body.into_inner()).await?))
}

pub async fn get(app: web::Data<App>, who: Principal, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::get(&app, who, &id).await?))
}

pub async fn patch(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::patch(&app, who, &id, body.into_inner()).await?))
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    confirm: bool,
}

pub async fn delete(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::delete(&app, who, &id, q.confirm).await?))
}

pub async fn heartbeat(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<String>,
    body: OptionalJson<Heartbeat>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::heartbeat(&app, who, &id, body.0).await?))
}

pub async fn pause(app: web::Data<App>, who: Principal, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::set_paused(&app, who, &id, true).await?))
}

pub async fn resume(app: web::Data<App>, who: Principal, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::set_paused(&app, who, &id, false).await?))
}

pub async fn config(app: web::Data<App>, who: Principal, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::config(&app, who, &id).await?))
}
