//! `/workspaces`: the tree, its lifecycle, and the agent's heartbeat.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::http::body::{Json, OptionalJson};
use crate::http::error::ApiResult;
use crate::http::extract::client;
use crate::http::gate::{Gated, Reader, Writer, WsAgent, WsReadOrAgent, WsWrite};
use crate::service::agents::{self, HeartbeatBody};
use crate::service::workspaces::{self as ws, CreateWorkspace, ListQuery, Listed};
use crate::service::App;

/// Without `limit`, every workspace (the guide's plain array). With it, a
/// page; the next one is named by `X-Next-Cursor` and a `Link` header.
pub async fn list(
    app: web::Data<App>,
    Gated(who, _): Gated<Reader>,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
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

pub async fn create(
    req: HttpRequest,
    app: web::Data<App>,
    Gated(who, _): Gated<Writer>,
    body: Json<CreateWorkspace>,
) -> ApiResult<HttpResponse> {
    // The address this request came to names the server in an external
    // workspace's connection block when --public-url does not: its Host
    // header, with the scheme it came over (https only on this server's
    // own TLS or a trusted proxy's word).
    let scheme = if client(&req).https { "https" } else { "http" };
    let seen_at = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(|h| format!("{scheme}://{h}"));
    let created = ws::create(&app, who, body.into_inner(), seen_at.as_deref()).await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn get(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::get(&app, who, &id).await?))
}

pub async fn patch(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
    body: Json<Value>,
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
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::delete(&app, who, &id, q.confirm).await?))
}

pub async fn heartbeat(
    app: web::Data<App>,
    Gated(who, _): Gated<WsAgent>,
    id: web::Path<String>,
    body: OptionalJson<HeartbeatBody>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(agents::heartbeat_in_path(&app, who, &id, body.0).await?))
}

pub async fn pause(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::set_paused(&app, who, &id, true).await?))
}

pub async fn resume(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::set_paused(&app, who, &id, false).await?))
}

pub async fn config(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ws::config(&app, who, &id).await?))
}
