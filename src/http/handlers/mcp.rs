//! `POST /mcp`: MCP's streamable HTTP transport, stateless, answering JSON.
//! The caller is checked here, as on every route (an org key as a bearer;
//! 401 with `WWW-Authenticate` without one; never the session cookie), and
//! so are `Origin` and `Host` against DNS rebinding; then the request is
//! handed to the official SDK's transport (rmcp), which speaks the
//! protocol and calls the tools in `mcp/`. rmcp is built on http 1.x and
//! actix on http 0.2, so the request and answer are copied across.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::domain::{Code, Error};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::client;
use crate::http::gate::{Gated, McpKey};
use crate::http::routes::BIG_BODY;
use crate::mcp::limit::CallLimiter;
use crate::mcp::{McpServer, SeenAt, VIA};
use crate::service::App;
use crate::settings::Settings;

pub struct Mcp(StreamableHttpService<McpServer, NeverSessionManager>);

/// The transport, built once: stateless (no `Mcp-Session-Id`; GET and
/// DELETE are refused), one JSON answer per request. Host and Origin are
/// checked by `post` before rmcp sees the request.
pub fn transport(app: Arc<App>, settings: &Settings) -> Mcp {
    let calls = Arc::new(CallLimiter::new(settings.mcp_calls_per_minute));
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(BIG_BODY);
    let server = McpServer::new(app, calls);
    Mcp(StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    ))
}

fn refused(message: &str) -> ApiError {
    ApiError(Error::new(Code::CorsOriginNotAllowed, message))
}

/// The host of an authority (`host`, `host:port`, `[v6]`, `[v6]:port`),
/// lower-cased.
fn host_of(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        },
    };
    host.to_ascii_lowercase()
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A page on another site must not drive the tools through a browser
/// (DNS rebinding, or a visit while a key sits in a local agent's config):
/// an `Origin` must be this server's own, its public URL or a listed CORS
/// origin. A server on a loopback address also answers only to loopback
/// host names (and its public URL's host): a rebound name is refused.
fn check_origin_and_host(req: &HttpRequest, s: &Settings) -> Result<(), ApiError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default().to_ascii_lowercase();
        let scheme = if client(req).https { "https" } else { "http" };
        let own = origin == format!("{scheme}://{}", host.to_ascii_lowercase());
        let listed = s.public_url.as_deref() == Some(origin.as_str()) || s.cors_origins.contains(&origin);
        if !own && !listed {
            return Err(refused("this origin may not call /mcp"));
        }
    }
    let listen = host_of(&s.listen);
    if is_loopback_name(&listen) {
        let name = host_of(host);
        let public = s
            .public_url
            .as_deref()
            .and_then(|u| u.split_once("://"))
            .map(|(_, a)| host_of(a));
        if !(is_loopback_name(&name) || name == listen || public.as_deref() == Some(name.as_str())) {
            return Err(refused(
                "this server listens on loopback and answers /mcp only to a loopback host name \
                 (or its --public-url)",
            ));
        }
    }
    Ok(())
}

/// An error rmcp answered in plain text (a missing `Accept`, a wrong
/// `Content-Type`), in our shape, keeping its words.
fn transport_error(status: actix_web::http::StatusCode, text: &[u8]) -> ApiError {
    use actix_web::http::StatusCode;
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::NOT_ACCEPTABLE => Code::NotAcceptable,
        s if s.is_server_error() => Code::Internal,
        _ => Code::BadRequest,
    };
    let message = String::from_utf8_lossy(text).trim().to_string();
    let mut e = Error::new(
        code,
        if code == Code::Internal {
            "internal error".into()
        } else {
            message.clone()
        },
    );
    if code == Code::Internal {
        e.cause = Some(message);
    }
    ApiError(e)
}

pub async fn post(
    req: HttpRequest,
    app: web::Data<App>,
    mcp: web::Data<Mcp>,
    Gated(mut who, _): Gated<McpKey>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    // Checked before the body is read, like every refusal.
    check_origin_and_host(&req, &app.settings)?;
    // A cookie is sent by the browser on its own: never enough to act.
    if who.cred.key_id().is_none() {
        return Err(ApiError(Error::forbidden(
            "/mcp takes an org API key as a bearer token",
        )));
    }
    let body = match payload.to_bytes_limited(BIG_BODY).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(ApiError(Error::new(Code::BadRequest, format!("reading the body: {e}")))),
        Err(_) => {
            return Err(ApiError(Error::new(
                Code::PayloadTooLarge,
                format!("the body is over {BIG_BODY} bytes"),
            )))
        }
    };
    who.via = Some(VIA);
    let scheme = if client(&req).https { "https" } else { "http" };
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    let seen_at = host.map(|h| SeenAt(format!("{scheme}://{h}")));
    let mut inner = http::Request::builder()
        .method(http::Method::POST)
        .uri(req.uri().to_string())
        .extension(who);
    if let Some(s) = seen_at {
        inner = inner.extension(s);
    }
    for (name, value) in req.headers() {
        if name != header::AUTHORIZATION && name != header::COOKIE {
            inner = inner.header(name.as_str(), value.as_bytes());
        }
    }
    let inner = inner.body(Full::new(body)).map_err(|e| ApiError(Error::internal(e)))?;
    let answer = mcp.0.handle(inner).await;
    let (parts, body) = answer.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let status =
        actix_web::http::StatusCode::from_u16(parts.status.as_u16()).map_err(|e| ApiError(Error::internal(e)))?;
    let json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_success() && !json {
        return Err(transport_error(status, &bytes));
    }
    let mut out = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    Ok(out.body(bytes))
}
