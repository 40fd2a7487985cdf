//! What handlers take from a request: the authenticated caller (from a
//! bearer header or the session cookie), and JSON bodies that may be left
//! out.

use std::future::{ready, Ready};

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::client::Client;
use super::error::ApiError;
use crate::domain::token::{self, TokenKind};
use crate::domain::{Code, Error};
use crate::service::auth::{self, Presented};
use crate::service::{App, Principal};

/// The name of the browser session cookie: `__Host-` when it is Secure.
pub const SESSION_COOKIE: &str = "molecule_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-molecule_session";
/// The header the pages send with every cookie-authenticated write. A page
/// on another site cannot add a custom header to a cross-site request
/// without a CORS preflight, which this server never grants for cookies.
pub const CSRF_HEADER: &str = "x-molecule-ui";
/// The header the pages send on background refreshes.
const POLL_HEADER: &str = "x-molecule-poll";

/// The client's address and scheme, through the proxies the operator
/// trusts (client.rs).
pub fn client(req: &HttpRequest) -> Client {
    match app(req) {
        Ok(app) => super::client::of(req, &app.settings),
        Err(_) => Client::default(),
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The session cookie's value, if the request carries one.
fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(SECURE_SESSION_COOKIE)
        .or_else(|| req.cookie(SESSION_COOKIE))
        .map(|c| c.value().to_string())
}

fn app(req: &HttpRequest) -> Result<&App, ApiError> {
    req.app_data::<web::Data<App>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| ApiError(Error::internal("application state missing")))
}

/// Refuses a cookie-authenticated request that may come from another site.
/// A write must carry the pages' header. Any request whose `Origin`
/// (browsers send one on every cross-origin request, and on same-origin
/// writes) names another origin is refused, reads included: a page an
/// operator let call the API (`--cors-origin`) gets in with a bearer key,
/// never with the cookie. So is one whose `Sec-Fetch-Site` says it came
/// from elsewhere.
pub fn check_same_site(req: &HttpRequest) -> Result<(), ApiError> {
    let refused = || {
        ApiError(Error::new(
            Code::CrossSiteRequest,
            "a request with the session cookie must come from this server's own pages \
             (X-Molecule-UI header on writes, same Origin); scripts should use an org API key",
        ))
    };
    let write = !req.method().is_safe();
    if write && req.headers().get(CSRF_HEADER).is_none() {
        return Err(refused());
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !same_origin(req, origin) {
            return Err(refused());
        }
    }
    if let Some(site) = req.headers().get("sec-fetch-site") {
        let ok = match site.as_bytes() {
            b"same-origin" => true,
            // A page the user opened from the address bar or a bookmark.
            b"none" => !write,
            _ => false,
        };
        if !ok {
            return Err(refused());
        }
    }
    Ok(())
}

/// Whether `origin` (`scheme://host[:port]`) is this server's: its public
/// URL, or the host this request was sent to with the scheme it came over.
fn same_origin(req: &HttpRequest, origin: &str) -> bool {
    // Behind a proxy that rewrites Host, the operator's public URL is the
    // page's origin.
    if app(req).ok().and_then(|a| a.settings.public_url.as_deref()) == Some(origin) {
        return true;
    }
    let Some(host) = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    // The scheme this server speaks, or a trusted proxy's word for it;
    // a client's own forwarding headers never count.
    let scheme = if client(req).https { "https" } else { "http" };
    origin.split_once("://") == Some((scheme, host))
}

/// The caller's credential, left in request extensions so the access log
/// can name it by display prefix (never by token).
#[derive(Clone)]
pub struct Caller {
    pub cred: std::sync::Arc<crate::creds::Credential>,
    pub client: Option<std::net::IpAddr>,
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let app = app(req)?;
    // A bearer token wins over a cookie.
    let cookie;
    let (token, from_cookie) = match bearer(req) {
        Some(t) => (t, false),
        None => {
            cookie = session_cookie(req);
            match cookie.as_deref() {
                Some(c) => (c, true),
                None => ("", false),
            }
        }
    };
    if from_cookie && token::parse(token) == Some(TokenKind::Session) {
        check_same_site(req)?;
    }
    let presented = Presented {
        token,
        from_cookie,
        poll: from_cookie && req.headers().contains_key(POLL_HEADER),
    };
    let addr = client(req).addr;
    let who = match auth::authenticate(app, presented, addr) {
        Ok(who) => who,
        Err(e) => {
            // Logged in the key's activity as the 401 it gets.
            if let Some(cred) = auth::refused_from_elsewhere(app, token, addr) {
                req.extensions_mut().insert(Caller { cred, client: addr });
            }
            return Err(e.into());
        }
    };
    // For the request's span and the access log, which name the caller
    // (by display prefix, never the token) only at debug level.
    if tracing::enabled!(tracing::Level::DEBUG) {
        let span = tracing::Span::current();
        span.record("caller", tracing::field::display(who.cred.shown()));
        if let Some(route) = req.match_pattern() {
            span.record("route", route.as_str());
        }
    }
    // The key's own rate, if it has one; the middleware writes its headers
    // on whatever the answer is, and the activity log reads the caller.
    let rate = who.cred.take_rate();
    {
        let mut ext = req.extensions_mut();
        ext.insert(Caller {
            cred: who.cred.clone(),
            client: who.client,
        });
        if let Some(r) = rate {
            ext.insert(r);
        }
    }
    if let Some(r) = rate.filter(|r| !r.allowed) {
        let mut e = Error::new(Code::RateLimited, "this key's rate limit is exceeded; retry later")
            .with("retry_after", serde_json::json!(r.reset_secs));
        e.retry_after = Some(r.reset_secs);
        return Err(ApiError(e));
    }
    Ok(who)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(authenticate(req))
    }
}
