//! Browser sign-in: `GET /login?code=` (a one-time link from `login-url`),
//! `POST /org/sessions` (an admin key signs in), `GET /org/sessions`,
//! `DELETE /org/sessions/{id}` and `DELETE /org/sessions/current` (log out).

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{
    check_same_site, client_text, refuse, throttled, Failure, Principal, SECURE_SESSION_COOKIE, SESSION_COOKIE,
};
use crate::creds::CredKind;
use crate::db::audit::{self, Actor};
use crate::db::sessions::{self, NewSession, SessionRow};
use crate::db::{keys, StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};
use crate::model::{is_uuid, opt_rfc3339, rfc3339, Role};
use crate::routes::ui;
use crate::state::AppState;
use crate::token::{self, TokenKind};

const MAX_USER_AGENT_CHARS: usize = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/login").get(link_page).post(sign_in_with_link))
        .service(web::resource("/org/sessions").get(list).post(sign_in_with_key))
        .service(web::resource("/org/sessions/current").delete(log_out))
        .service(web::resource("/org/sessions/{id}").delete(revoke));
}

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

fn session_json(s: &SessionRow, last_used: Option<i64>, current: bool) -> serde_json::Value {
    let last_seen = last_used.max(s.last_seen_at);
    let idle_from = last_seen.unwrap_or(s.created_at);
    json!({
        "id": s.id,
        "prefix": sessions::id_prefix(&s.id),
        "created_via": s.created_via,
        "created_at": rfc3339(s.created_at),
        "last_seen_at": opt_rfc3339(last_seen),
        "idle_expires_at": rfc3339(idle_from.saturating_add(s.idle_ms).min(s.expires_at)),
        "expires_at": rfc3339(s.expires_at),
        "user_agent": s.user_agent,
        "client": s.client,
        "current": current,
    })
}

fn new_session(req: &HttpRequest, state: &AppState, created_via: String, key_id: Option<String>) -> NewSession {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
    NewSession {
        created_via,
        key_id,
        lifetime_ms: ms(state.settings.session_lifetime),
        idle_ms: ms(state.settings.session_idle),
        user_agent,
        client: req.peer_addr().map(|a| a.ip().to_string()),
    }
}

fn open(ctx: &mut WriteCtx, actor: &Actor, new: NewSession) -> StoreResult<(SessionRow, String)> {
    let (row, token) = sessions::insert(ctx, new)?;
    let detail = json!({"prefix": sessions::id_prefix(&row.id), "via": row.created_via,
        "expires_at": rfc3339(row.expires_at)});
    audit::append(ctx, actor, "session.create", Some(&row.id), detail)?;
    Ok((row, token))
}

/// Whether people reach this server over https, as its operator said
/// (`--public-url`); never guessed from a client's forwarding headers.
fn is_https(state: &AppState) -> bool {
    state
        .settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    code: String,
}

/// The page behind a sign-in link. Fetching it spends nothing: a chat
/// unfurler or mail scanner that fetches the link gets only this page. Its
/// script takes the code out of the address bar and spends it with
/// `POST /login`.
async fn link_page() -> HttpResponse {
    ui::index_page()
}

/// Spends a sign-in link's code and sets the session cookie.
async fn sign_in_with_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LinkBody>,
) -> ApiResult<HttpResponse> {
    check_same_site(&req)?;
    let code = body.into_inner().code;
    // Counted and throttled like any failed authentication, and throttled
    // before any database work.
    let refused = |why, hash: Option<&[u8; 32]>| {
        let e = refuse(&state, &req, why, hash);
        if e.retry_after.is_some() {
            return e;
        }
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_login_link",
            "this sign-in link was already used, has expired, or is not one; \
             run `molecule-tenant login-url` on the server for a new one",
        )
    };
    if token::parse(&code) != Some(TokenKind::Login) {
        return Err(refused(Failure::Malformed, None));
    }
    let hash = token::hash(&code);
    if let Some(e) = throttled(&state, &client_text(&req), Some(&hash)) {
        return Err(e);
    }
    let new = new_session(&req, &state, "login-link".into(), None);
    let actor = Actor {
        name: "login-link".into(),
        client: new.client.clone(),
    };
    let (db, clock) = (state.db.clone(), state.clock.clone());
    let opened = web::block(move || {
        db.write(&clock, |ctx| {
            let Some(secure) = sessions::spend_link(ctx, &hash)? else {
                return Ok(None);
            };
            open(ctx, &actor, new).map(|(row, token)| Some((row, token, secure)))
        })
    })
    .await
    .map_err(|e| ApiError::internal(format!("blocking pool: {e}")))??;
    let Some((row, token, secure)) = opened else {
        return Err(refused(Failure::UnknownOrRevoked, Some(&hash)));
    };
    tracing::info!(session = sessions::id_prefix(&row.id), "signed in with a login link");
    let max_age = (row.expires_at - row.created_at) / 1000;
    let secure = secure || is_https(&state);
    Ok(ui::secured(HttpResponse::Ok())
        .cookie(cookie(token, max_age, secure))
        .cookie(cleared_cookie(!secure))
        .json(session_json(&row, None, false)))
}

/// An admin key signs in from the page: the key is used once, here, and the
/// browser keeps only the session cookie.
async fn sign_in_with_key(req: HttpRequest, state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    if !matches!(who.cred.kind, CredKind::Org { .. }) {
        return Err(ApiError::forbidden("sign in with an org API key"));
    }
    who.org_wide(Role::Admin)?;
    let via = format!("org-token:{}", who.cred.prefix());
    let mut new = new_session(&req, &state, via, Some(who.cred.id()));
    let (row, token) = state
        .write(who, move |ctx, who| {
            // A session opened with a key ends when the key would. Read
            // inside the transaction: a rotation may have just shortened it.
            if let Some(until) = keys::find_live(ctx, &who.cred.id(), ctx.now)?.and_then(|k| k.expires_at) {
                new.lifetime_ms = new.lifetime_ms.min(until - ctx.now);
            }
            open(ctx, &who.actor(), new)
        })
        .await?;
    let max_age = (row.expires_at - row.created_at) / 1000;
    let body = session_json(&row, None, false);
    Ok(ui::secured(HttpResponse::Created())
        .cookie(cookie(token, max_age, is_https(&state)))
        .cookie(cleared_cookie(!is_https(&state)))
        .json(body))
}

async fn list(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let now = state.now();
    let rows = state.read(move |conn| sessions::list_open(conn, now)).await?;
    let open: Vec<_> = rows
        .iter()
        .filter_map(|s| {
            let used = state.db.creds.last_used(&s.token_hash);
            let idle_from = used.max(s.last_seen_at).unwrap_or(s.created_at);
            (idle_from.saturating_add(s.idle_ms) > now).then(|| session_json(s, used, s.id == who.cred.id()))
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "count": open.len(), "sessions": open })))
}

async fn end(state: &AppState, who: Principal, id: String, action: &'static str) -> ApiResult<HttpResponse> {
    let current = who.cred.is(&id);
    let ended = id.clone();
    state
        .write(who, move |ctx, who| {
            if !sessions::revoke(ctx, &id)? {
                return Err(ApiError::not_found("session").into());
            }
            let detail = json!({"prefix": sessions::id_prefix(&id)});
            audit::append(ctx, &who.actor(), action, Some(&id), detail)
        })
        .await?;
    let mut res = HttpResponse::Ok();
    if current {
        // Whichever name the browser holds it under.
        res.cookie(cleared_cookie(true)).cookie(cleared_cookie(false));
    }
    Ok(res.json(json!({ "revoked": ended })))
}

async fn revoke(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let id = path.into_inner();
    if !is_uuid(&id) {
        return Err(ApiError::not_found("session"));
    }
    end(&state, who, id, "session.revoke").await
}

async fn log_out(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    if !matches!(who.cred.kind, CredKind::Session { .. }) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_session",
            "only a browser session can log out; revoke a key with DELETE /org/tokens/{id}",
        ));
    }
    let id = who.cred.id();
    end(&state, who, id, "session.logout").await
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<LinkBody>(out);
}
