//! What wraps every request: a tracing span and request metrics on the
//! way in and out, and a deadline on reading the body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, Method};
use actix_web::{web, HttpMessage, ResponseError};

use super::body_timeout;
use super::error::ApiError;
use super::extract::Caller;
use super::metrics::{route_label, MethodLabel, RequestMetrics};
use crate::domain::{Code, Error};
use crate::service::activity::Use;
use crate::service::App;

/// Numbers requests, for the span that follows each through the blocking
/// pool and the writer.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A request on its way through: when it started, and what it was.
pub struct Observed {
    method: Method,
    started: Instant,
    metrics: Option<web::Data<RequestMetrics>>,
    app: Option<web::Data<App>>,
    pub span: tracing::Span,
}

impl Observed {
    pub fn start(req: &ServiceRequest) -> Observed {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Observed {
            method: req.method().clone(),
            started: Instant::now(),
            metrics: req.app_data::<web::Data<RequestMetrics>>().cloned(),
            app: req.app_data::<web::Data<App>>().cloned(),
            span: tracing::debug_span!(
                "request",
                id,
                method = %req.method(),
                route = tracing::field::Empty,
                caller = tracing::field::Empty
            ),
        }
    }

    /// Counts the answer by route pattern (never the raw path), and logs
    /// failures (every request at debug level).
    pub fn finish<B>(self, res: &ServiceResponse<B>) {
        let status = res.status().as_u16();
        let elapsed = self.started.elapsed();
        let seconds = elapsed.as_secs_f64();
        let (method, route) = (
            MethodLabel::of(&self.method),
            route_label(res.request().match_pattern()),
        );
        if let Some(m) = &self.metrics {
            m.observe(method, route, status, seconds);
        }
        // The key's or token's activity log (off the request path: a push).
        if let (Some(app), Some(caller)) = (&self.app, res.request().extensions().get::<Caller>()) {
            let user_agent = res
                .request()
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok());
            let used = Use {
                at: app.now(),
                method: method.as_str(),
                route,
                status,
                duration_us: u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX),
                client: caller.client,
            };
            app.activity.note(&caller.cred, used, user_agent);
        }
        if status >= 500 || tracing::enabled!(tracing::Level::DEBUG) {
            let req = res.request();
            let caller = req.extensions().get::<Caller>().map(|c| c.cred.prefix());
            let (method, path, ms) = (&self.method, req.path(), seconds * 1000.0);
            let _in = self.span.enter();
            if status >= 500 {
                tracing::error!(%method, %path, status, ms, caller, "request failed");
            } else {
                tracing::debug!(%method, %path, status, ms, caller, "request");
            }
        }
    }
}

/// A rate-limited key's standing, on every answer it gets (upstream's
/// header names).
pub fn rate_headers<B>(res: &mut ServiceResponse<B>) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let Some(r) = res.request().extensions().get::<crate::creds::RateState>().copied() else {
        return;
    };
    let h = res.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", r.limit.to_string()),
        ("x-ratelimit-remaining", r.remaining.to_string()),
        ("x-ratelimit-reset", r.reset_secs.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
}

/// No answer is kept by a browser or a proxy: secrets, minted tokens and
/// import results come back on ordinary GETs and POSTs, and an error or a
/// page costs nothing to fetch again.
pub fn no_store(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{HeaderValue, CACHE_CONTROL, PRAGMA};
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Puts the body deadline on a request (see body_timeout.rs).
pub fn limit_body(req: &mut ServiceRequest, within: Duration) -> Option<body_timeout::Expired> {
    body_timeout::limit(req, within)
}

/// A request whose body ran out of time gets a 408 that closes the
/// connection, whatever the handler answered.
pub fn after_deadline<B: MessageBody>(
    res: ServiceResponse<B>,
    expired: Option<body_timeout::Expired>,
    within: Duration,
) -> ServiceResponse<EitherBody<B>> {
    if !expired.is_some_and(|e| e.hit()) {
        return res.map_into_left_body();
    }
    let err = ApiError(Error::new(
        Code::RequestTimeout,
        format!("the request body did not arrive within {} s", within.as_secs()),
    ));
    let (req, _) = res.into_parts();
    let mut body = err.error_response();
    body.head_mut().set_connection_type(ConnectionType::Close);
    ServiceResponse::new(req, body.map_into_right_body())
}
