//! The routes that need no credential, and the ones that answer no one.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::domain::{Code, Error};
use crate::http::error::{ApiError, ApiResult};
use crate::service::App;

/// Up, and following changes made on the box, with the binary's and the
/// schema's versions. A server that cannot see a `revoke-key` would keep
/// honouring the key: that is not healthy.
pub async fn health(app: web::Data<App>) -> HttpResponse {
    let h = crate::service::health::health(&app);
    if h.following {
        HttpResponse::Ok().json(h)
    } else {
        let mut body = serde_json::to_value(&h).unwrap_or_default();
        body["error"] = json!("the server cannot follow changes made on the box (see its log); restart it");
        body["code"] = json!("not_following_changes");
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::http::openapi::document())
}

/// The control plane's API is not reachable through a tenant, with any
/// credential or none.
pub async fn control_plane() -> ApiResult<HttpResponse> {
    Err(ApiError(Error::new(
        Code::ControlPlaneForbidden,
        "the control plane's API is not reachable with tenant credentials",
    )))
}

pub async fn no_route() -> ApiResult<HttpResponse> {
    Err(ApiError(Error::new(Code::NotFound, "no such route")))
}
