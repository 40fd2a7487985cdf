//! The route table, plus the JSON shape of errors raised by the framework
//! itself (bad JSON, unknown routes, oversized bodies).

pub mod approvals;
pub mod audit;
pub mod bundles;
pub mod catalog;
pub mod channels;
pub mod keys;
pub mod metrics;
pub mod org;
pub mod secrets;
pub mod sessions;
pub mod ui;
pub mod workspaces;
pub mod ws_tokens;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").get(health))
        .service(web::resource("/openapi.json").get(openapi))
        .service(web::scope("/cp").default_service(web::to(control_plane)))
        .configure(keys::configure)
        .configure(audit::configure)
        .configure(workspaces::configure)
        .configure(ws_tokens::configure)
        .configure(secrets::configure)
        .configure(approvals::configure)
        .configure(channels::configure)
        .configure(org::configure)
        .configure(catalog::configure)
        .configure(bundles::configure)
        .configure(metrics::configure)
        .configure(sessions::configure)
        .configure(ui::configure);
}

/// Up, and following changes made on the box. A server that cannot see
/// a `revoke-key` would keep honouring the key: that is not healthy.
async fn health(state: web::Data<crate::state::AppState>) -> HttpResponse {
    if state.following.load(std::sync::atomic::Ordering::Relaxed) && !state.db.creds.is_stale() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "degraded",
            "error": "the server cannot follow changes made on the box (see its log); restart it",
            "code": "not_following_changes",
        }))
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::document())
}

/// Every request body's schema, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    approvals::schemas(out);
    bundles::schemas(out);
    catalog::schemas(out);
    channels::schemas(out);
    keys::schemas(out);
    org::schemas(out);
    secrets::schemas(out);
    sessions::schemas(out);
    workspaces::schemas(out);
    ws_tokens::schemas(out);
}

/// The control plane's API is not reachable through a tenant, with any
/// credential or none.
async fn control_plane() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "control_plane_forbidden",
        "the control plane's API is not reachable with tenant credentials",
    ))
}

pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route"))
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req: &HttpRequest| {
            let e = match &err {
                JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body exceeds the {limit}-byte limit"),
                ),
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json",
                ),
                JsonPayloadError::Deserialize(d) => {
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("invalid body: {d}"))
                }
                _ => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    "the body could not be read as JSON",
                ),
            };
            e.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("invalid query string: {err}"),
        )
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("invalid path: {err}")).into()
    })
}

/// Framework-made errors (405, 408, 413, 431, …) arrive with a plain body;
/// give them the same JSON shape as ours.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            s if s.is_server_error() => "internal",
            _ => "bad_request",
        };
        let message = status.canonical_reason().unwrap_or("error").to_lowercase();
        let (req, _) = res.into_parts();
        let body: HttpResponse<BoxBody> = ApiError::new(status, code, message).error_response();
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, body).map_into_right_body(),
        ))
    })
}

/// A JSON body that may be left out entirely. Unlike `Option<Json<T>>`,
/// which silently treats a malformed body as absent, a body that is present
/// must parse, or the request gets a 400.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| {
                let status = e.as_response_error().status_code();
                ApiError::new(
                    status,
                    if status == StatusCode::PAYLOAD_TOO_LARGE {
                        "payload_too_large"
                    } else {
                        "bad_request"
                    },
                    e.to_string(),
                )
            })?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            serde_json::from_slice(&bytes)
                .map(|v| OptionalJson(Some(v)))
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("invalid body: {e}")))
        })
    }
}
