//! Cross-origin calls, opt-in (`serve --cors-origin`): a page served from
//! a listed origin (a canvas elsewhere) may call the API with a bearer key.
//! A preflight from a listed origin is answered; from any other origin it
//! is refused, and other requests from it carry no CORS headers (the
//! browser then hides the answer). A request is never refused for its
//! `Origin` alone: non-browser clients (upstream's SDK) send one too.
//! The session cookie is never honoured cross-origin (extract.rs), so the
//! `Allow-Credentials` a `credentials: "include"` page needs opens nothing.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpResponse, ResponseError};

use super::error::ApiError;
use crate::domain::{Code, Error};

const METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const HEADERS: &str =
    "Authorization, Content-Type, Accept, X-Workspace-ID, X-Molecule-Org-Slug, X-Molecule-Org-Id, MCP-Protocol-Version";
const EXPOSE: &str = "X-Next-Cursor, Link, Retry-After, WWW-Authenticate, Content-Disposition, X-Plugin-Name, \
                      X-Plugin-Version, X-Plugin-Sha256, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset";
/// Browsers cap this (Chromium at 2 hours); ten minutes keeps a removed
/// origin from lingering.
const MAX_AGE: &str = "600";

/// The request's `Origin`, if it is one of `allowed`.
fn listed<'a>(req: &'a ServiceRequest, allowed: &[String]) -> Option<&'a str> {
    let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
    allowed.iter().any(|a| a == origin).then_some(origin)
}

/// The answer to a preflight, if this is one (an `OPTIONS` with
/// `Access-Control-Request-Method`); `None` lets the request through.
pub fn preflight(req: &ServiceRequest, allowed: &[String]) -> Option<HttpResponse> {
    if req.method() != Method::OPTIONS || !req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return None;
    }
    let Some(origin) = listed(req, allowed) else {
        return Some(
            ApiError(Error::new(
                Code::CorsOriginNotAllowed,
                "this origin may not call the API from a browser (see serve --cors-origin)",
            ))
            .error_response(),
        );
    };
    Some(
        HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, HEADERS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE))
            .insert_header((
                header::VARY,
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ))
            .finish(),
    )
}

/// The origin to allow on this request's answer, if it is listed.
pub fn allowed_origin(req: &ServiceRequest, allowed: &[String]) -> Option<HeaderValue> {
    listed(req, allowed).and_then(|o| HeaderValue::from_str(o).ok())
}

/// Marks an answer readable by the listed origin's page.
pub fn decorate(headers: &mut actix_web::http::header::HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE));
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}
