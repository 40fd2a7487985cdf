//! Workspace templates, the plugin registry, the allowlist, and plugins
//! installed on workspaces.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::domain::catalog::pack;
use crate::domain::Error;
use crate::http::body::Json;
use crate::http::error::{ApiError, ApiResult};
use crate::http::gate::{AdminWide, Gated, Reader, ReaderWide, WsAgent, WsReadOrAgent, WsWrite};
use crate::service::catalog::{self, ImportTemplate, Install, PutAllowlist, RegisterPlugin};
use crate::service::App;

pub async fn import_template(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    body: Json<ImportTemplate>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(catalog::import_template(&app, who, body.into_inner()).await?))
}

pub async fn list_templates(app: web::Data<App>, Gated(who, _): Gated<Reader>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(catalog::list_templates(&app, who).await?))
}

pub async fn register_plugin(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    body: Json<RegisterPlugin>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(catalog::register_plugin(&app, who, body.into_inner()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeQuery {
    runtime: Option<String>,
}

pub async fn list_plugins(
    app: web::Data<App>,
    Gated(who, _): Gated<Reader>,
    q: web::Query<RuntimeQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(catalog::list_plugins(&app, who, q.into_inner().runtime).await?))
}

pub async fn plugin_sources(Gated(who, _): Gated<Reader>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(catalog::plugin_sources(&who)?))
}

pub async fn get_allowlist(app: web::Data<App>, Gated(who, _): Gated<ReaderWide>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(catalog::get_allowlist(&app, who).await?))
}

pub async fn put_allowlist(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    body: Json<PutAllowlist>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(catalog::put_allowlist(&app, who, body.into_inner()).await?))
}

pub async fn install(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    id: web::Path<String>,
    body: Json<Install>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(catalog::install(&app, who, &id, body.into_inner()).await?))
}

pub async fn list_installed(
    app: web::Data<App>,
    Gated(who, _): Gated<WsReadOrAgent>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(catalog::list_installed(&app, who, &id).await?))
}

pub async fn uninstall(
    app: web::Data<App>,
    Gated(who, _): Gated<WsWrite>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, name) = path.into_inner();
    Ok(HttpResponse::Ok().json(catalog::uninstall(&app, who, &id, name).await?))
}

/// Whether the client wants the archive: upstream's SDK unpacks the body as
/// a gzipped tar and sends `Accept: */*`; asking for JSON (or naming no
/// type) gets the JSON document.
fn wants_archive(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if accept.is_empty() || accept.contains("application/json") {
        return false;
    }
    [
        "*/*",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/octet-stream",
        "application/*",
    ]
    .iter()
    .any(|t| accept.contains(t))
}

/// The agent fetches an installed plugin's files with its own token.
pub async fn download(
    req: HttpRequest,
    app: web::Data<App>,
    Gated(who, _): Gated<WsAgent>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, name) = path.into_inner();
    let p = catalog::download(&app, who, &id, name).await?;
    if !wants_archive(&req) {
        return Ok(HttpResponse::Ok().json(json!({
            "name": p.name, "version": p.version, "sha256": p.sha256, "files": p.files,
        })));
    }
    let mtime = u64::try_from(p.created_at / 1000).unwrap_or(0);
    let archive = pack(&p.files, mtime).map_err(|e| ApiError(Error::internal(e)))?;
    Ok(HttpResponse::Ok()
        .content_type("application/gzip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.tar.gz\"", p.name),
        ))
        .insert_header(("X-Plugin-Name", p.name))
        .insert_header(("X-Plugin-Version", p.version))
        .insert_header(("X-Plugin-Sha256", p.sha256))
        .body(archive))
}
