//! `/org/templates` and `POST /org/import`: a template arrives as JSON, or
//! as the org YAML itself.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::{Code, Error};
use crate::http::error::{invalid_json, ApiError, ApiResult};
use crate::http::gate::{AdminWide, Gated, ReaderWide};
use crate::service::import::{self, ImportJson, Options, Outcome, Source};
use crate::service::templates::{self, Registering, Upload};
use crate::service::App;

/// The body's media type, lower case, parameters dropped.
fn media_type(req: &HttpRequest) -> String {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn is_yaml(req: &HttpRequest) -> bool {
    matches!(
        media_type(req).as_str(),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml"
    )
}

/// A tarball of the template's directory, gzipped or not.
fn is_archive(req: &HttpRequest) -> bool {
    matches!(
        media_type(req).as_str(),
        "application/gzip"
            | "application/x-gzip"
            | "application/x-tar"
            | "application/x-gtar"
            | "application/x-compressed-tar"
            | "application/tar+gzip"
    )
}

fn utf8(body: web::Bytes) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec()).map_err(|_| ApiError(Error::invalid("the YAML body must be UTF-8")))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    crate::http::body::object_from_slice(body).map_err(invalid_json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceQuery {
    #[serde(default)]
    replace: bool,
    /// The registry name (else the template's own name).
    name: Option<String>,
}

pub async fn register(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    req: HttpRequest,
    query: web::Query<ReplaceQuery>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let upload = if is_yaml(&req) {
        Upload::Yaml(utf8(body)?)
    } else if is_archive(&req) {
        Upload::Archive(body.to_vec())
    } else {
        Upload::Json(json_body(&body)?)
    };
    let how = Registering {
        name: query.name,
        replace: query.replace,
    };
    Ok(HttpResponse::Created().json(templates::register(&app, who, upload, how).await?))
}

pub async fn list(app: web::Data<App>, Gated(who, _): Gated<ReaderWide>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(templates::list(&app, who).await?))
}

pub async fn get(
    app: web::Data<App>,
    Gated(who, _): Gated<ReaderWide>,
    dir: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(templates::get(&app, who, dir.into_inner()).await?))
}

pub async fn delete(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    dir: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(templates::delete(&app, who, dir.into_inner()).await?))
}

pub async fn import(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let source = if is_yaml(&req) {
        let opts = web::Query::<Options>::from_query(req.query_string())
            .map_err(|e| ApiError(Error::new(Code::InvalidQuery, format!("invalid query string: {e}"))))?
            .into_inner();
        Source::Yaml(utf8(body)?, opts)
    } else {
        if !req.query_string().is_empty() {
            // Ignoring ?dry_run=true here would run a real import.
            return Err(ApiError(Error::invalid(
                "with a JSON body, give mode, dry_run and force in the body, not the query string",
            )));
        }
        Source::Json(json_body::<ImportJson>(&body)?)
    };
    Ok(match import::run(&app, who, source).await? {
        Outcome::Planned(plan) => HttpResponse::Ok().json(plan),
        Outcome::Imported(result) => HttpResponse::Created().json(result),
    })
}
