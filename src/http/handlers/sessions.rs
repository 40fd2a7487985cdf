//! Browser sign-in: `GET /login?code=` (a one-time link from `login-url`),
//! `POST /login`, `POST /org/sessions` (an admin key signs in),
//! `GET /org/sessions`, `DELETE /org/sessions/{id}` and
//! `DELETE /org/sessions/current` (log out).

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde_json::json;

use super::ui;
use crate::http::body::Json;
use crate::http::error::ApiResult;
use crate::http::extract::{check_same_site, client, SECURE_SESSION_COOKIE, SESSION_COOKIE};
use crate::http::gate::{AdminWide, Gated};
use crate::service::sessions::{self, Browser, LinkBody, Opened};
use crate::service::{App, Principal};

/// A Secure cookie takes the `__Host-` name: browsers then refuse it from
/// plain http and from sibling subdomains, so nothing can overwrite it.
fn cookie(value: String, max_age_secs: i64, secure: bool) -> Cookie<'static> {
    let name = if secure { SECURE_SESSION_COOKIE } else { SESSION_COOKIE };
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(CookieAge::seconds(max_age_secs))
        .finish()
}

/// A cookie that tells the browser to forget a session cookie: the Secure
/// (`__Host-`) one or the plain one. Each sign-in clears the other name,
/// so a stale cookie under it can never shadow the new one.
fn cleared_cookie(secure: bool) -> Cookie<'static> {
    let mut c = cookie(String::new(), 0, secure);
    c.make_removal();
    c
}

fn browser(req: &HttpRequest) -> Browser {
    Browser {
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        client: client(req).addr,
        https: client(req).https,
    }
}

/// Sets the new session's cookie and clears the other name.
fn signed_in(res: HttpResponseBuilder, opened: Opened) -> HttpResponse {
    let Opened {
        session,
        token,
        max_age_secs,
        secure,
    } = opened;
    ui::secured(res)
        .cookie(cookie(token, max_age_secs, secure))
        .cookie(cleared_cookie(!secure))
        .json(session)
}

/// The page behind a sign-in link. Fetching it spends nothing: a chat
/// unfurler or mail scanner that fetches the link gets only this page. Its
/// script takes the code out of the address bar and spends it with
/// `POST /login`.
pub async fn link_page() -> HttpResponse {
    ui::index_page()
}

/// Spends a sign-in link's code and sets the session cookie.
pub async fn sign_in_with_link(req: HttpRequest, app: web::Data<App>, body: Json<LinkBody>) -> ApiResult<HttpResponse> {
    check_same_site(&req)?;
    let opened = sessions::sign_in_with_link(&app, &body.code, browser(&req)).await?;
    Ok(signed_in(HttpResponse::Ok(), opened))
}

/// An admin key signs in from the page: the key is used once, here, and the
/// browser keeps only the session cookie.
pub async fn sign_in_with_key(
    req: HttpRequest,
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
) -> ApiResult<HttpResponse> {
    let opened = sessions::sign_in_with_key(&app, who, browser(&req)).await?;
    Ok(signed_in(HttpResponse::Created(), opened))
}

pub async fn list(app: web::Data<App>, Gated(who, _): Gated<AdminWide>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(sessions::list(&app, who).await?))
}

fn ended(id: impl serde::Serialize, current: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if current {
        // Whichever name the browser holds it under.
        res.cookie(cleared_cookie(true)).cookie(cleared_cookie(false));
    }
    res.json(json!({ "revoked": id }))
}

pub async fn revoke(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, current) = sessions::revoke(&app, who, &id).await?;
    Ok(ended(id, current))
}

pub async fn log_out(app: web::Data<App>, who: Principal) -> ApiResult<HttpResponse> {
    Ok(ended(sessions::log_out(&app, who).await?, true))
}
