//! Browser sessions: opened with a one-time sign-in link (made on the box)
//! or an admin key, listed, and ended.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::refuse;
use super::{mint, App, Principal};
use crate::creds::CredKind;
use crate::domain::audit::{Action, Actor};
use crate::domain::authz::Failure;
use crate::domain::ids::SessionId;
use crate::domain::role::Role;
use crate::domain::time::{ms, Time};
use crate::domain::token::{self, TokenKind};
use crate::domain::{Code, Error, Result};
use crate::store::sessions::{self, NewSession, SessionRow};
use crate::store::{audit, keys, Db, WriteCtx};

const MAX_USER_AGENT_CHARS: usize = 200;

/// How many characters of a session's id name it in lists and the audit trail.
pub use crate::store::creds::SESSION_PREFIX_CHARS as ID_PREFIX_CHARS;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub code: String,
}

/// Who is signing in, as the request tells.
pub struct Browser {
    pub user_agent: Option<String>,
    pub client: Option<std::net::IpAddr>,
    /// It came over https (this server's TLS or a trusted proxy's word).
    pub https: bool,
}

#[derive(Serialize)]
pub struct SessionView {
    id: SessionId,
    prefix: String,
    created_via: String,
    created_at: Time,
    last_seen_at: Option<Time>,
    idle_expires_at: Time,
    expires_at: Time,
    user_agent: Option<String>,
    client: Option<String>,
    current: bool,
}

fn view(s: SessionRow, last_used: Option<i64>, current: bool) -> SessionView {
    let last_seen = last_used.max(s.last_seen_at);
    let idle_from = last_seen.unwrap_or(s.created_at);
    SessionView {
        prefix: s.id.short(),
        id: s.id,
        created_via: s.created_via,
        created_at: Time(s.created_at),
        last_seen_at: last_seen.map(Time),
        idle_expires_at: Time(idle_from.saturating_add(s.idle_ms).min(s.expires_at)),
        expires_at: Time(s.expires_at),
        user_agent: s.user_agent,
        client: s.client,
        current,
    }
}

/// A session just opened, with its cookie value (handed out once) and
/// whether the cookie must be Secure.
pub struct Opened {
    pub session: SessionView,
    pub token: String,
    pub max_age_secs: i64,
    pub secure: bool,
}

fn new_session(
    app: &App,
    browser: Browser,
    created_via: String,
    key_id: Option<crate::domain::ids::KeyId>,
) -> NewSession {
    NewSession {
        created_via,
        key_id,
        lifetime_ms: ms(app.settings.session_lifetime),
        idle_ms: ms(app.settings.session_idle),
        user_agent: browser
            .user_agent
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        client: browser.client.map(|ip| ip.to_string()),
    }
}

fn open(ctx: &mut WriteCtx, actor: &Actor, new: NewSession) -> Result<(SessionRow, String)> {
    let minted = mint(TokenKind::Session)?;
    let row = sessions::insert(ctx, new, &minted)?;
    let detail = json!({"prefix": row.id.short(), "via": row.created_via, "expires_at": Time(row.expires_at)});
    audit::append(ctx, actor, Action::SessionCreate, Some(&row.id.to_string()), detail)?;
    Ok((row, minted.plaintext))
}

/// Whether people reach this server over https: as its operator said
/// (`--public-url`), else as the request came (this server's TLS, or a
/// trusted proxy's word; never a client's own forwarding headers).
fn is_https(app: &App, browser_https: bool) -> bool {
    match app.settings.public_url.as_deref() {
        Some(u) => u.starts_with("https://"),
        None => browser_https,
    }
}

fn opened(app: &App, row: SessionRow, token: String, secure: bool, browser_https: bool) -> Opened {
    Opened {
        max_age_secs: (row.expires_at - row.created_at) / 1000,
        secure: secure || is_https(app, browser_https),
        session: view(row, None, false),
        token,
    }
}

/// Spends a sign-in link's code. A live code is spent whatever others did
/// from the same address (a valid credential is never throttled, and
/// behind a proxy many people share one); a failed attempt is counted and
/// throttled like any failed authentication.
pub async fn sign_in_with_link(app: &App, code: &str, browser: Browser) -> Result<Opened> {
    let client = browser.client;
    let refused = |why, hash: Option<&[u8; 32]>| {
        let e = refuse(app, client, why, hash);
        if e.retry_after.is_some() {
            return e;
        }
        Error::new(
            Code::InvalidLoginLink,
            "this sign-in link was already used, has expired, or is not one; \
             run `molecule-tenant login-url` on the server for a new one",
        )
    };
    if token::parse(code) != Some(TokenKind::Login) {
        return Err(refused(Failure::Malformed, None));
    }
    let hash = token::hash(code);
    let now = app.now();
    // A read, not a write: a throttled flood of wrong codes costs no
    // writer time.
    if !app
        .read(move |conn| Ok(sessions::link_is_live(conn, &hash, now)?))
        .await?
    {
        return Err(refused(Failure::UnknownOrRevoked, Some(&hash)));
    }
    let https = browser.https;
    let new = new_session(app, browser, "login-link".into(), None);
    let actor = Actor {
        name: "login-link".into(),
        client: new.client.clone(),
        via: None,
    };
    let spent = app
        .write_unauthenticated(move |ctx| {
            let Some(secure) = sessions::spend_link(ctx, &hash)? else {
                return Ok(None);
            };
            open(ctx, &actor, new).map(|(row, token)| Some((row, token, secure)))
        })
        .await?;
    // Spent by a concurrent request between the read and the write.
    let Some((row, token, secure)) = spent else {
        return Err(refused(Failure::UnknownOrRevoked, Some(&hash)));
    };
    tracing::info!(session = row.id.short(), "signed in with a login link");
    Ok(opened(app, row, token, secure, https))
}

/// An admin key signs in from the page: the key is used once, here, and the
/// browser keeps only the session cookie.
pub async fn sign_in_with_key(app: &App, who: Principal, browser: Browser) -> Result<Opened> {
    let Some(key_id) = who.cred.key_id() else {
        return Err(Error::forbidden("sign in with an org API key"));
    };
    who.org_wide(Role::Admin)?;
    let via = format!("org-token:{}", who.cred.prefix());
    let https = browser.https;
    let mut new = new_session(app, browser, via, Some(key_id));
    let (row, token) = app
        .write(who, move |ctx, who| {
            // A session opened with a key ends when the key would. Read
            // inside the transaction: a rotation may have just shortened it.
            if let Some(until) = keys::live_expiry(ctx, key_id, ctx.now)? {
                new.lifetime_ms = new.lifetime_ms.min(until - ctx.now);
            }
            open(ctx, &who.actor(), new)
        })
        .await?;
    Ok(opened(app, row, token, false, https))
}

#[derive(Serialize)]
pub struct SessionList {
    count: usize,
    sessions: Vec<SessionView>,
}

pub async fn list(app: &App, who: Principal) -> Result<SessionList> {
    who.org_wide(Role::Admin)?;
    let now = app.now();
    let rows = app.read(move |conn| Ok(sessions::list_open(conn, now)?)).await?;
    let current = who.cred.session_id();
    let open: Vec<SessionView> = rows
        .into_iter()
        .filter_map(|s| {
            let used = app.creds.last_used(&s.token_hash);
            let idle_from = used.max(s.last_seen_at).unwrap_or(s.created_at);
            let is_current = Some(s.id) == current;
            (idle_from.saturating_add(s.idle_ms) > now).then(|| view(s, used, is_current))
        })
        .collect();
    Ok(SessionList {
        count: open.len(),
        sessions: open,
    })
}

async fn end(app: &App, who: Principal, id: SessionId, action: Action) -> Result<SessionId> {
    app.write(who, move |ctx, who| {
        if !sessions::revoke(ctx, id)? {
            return Err(Error::not_found("session"));
        }
        let detail = json!({"prefix": id.short()});
        Ok(audit::append(ctx, &who.actor(), action, Some(&id.to_string()), detail)?)
    })
    .await?;
    Ok(id)
}

/// Ends a session; true when it was the caller's own (its cookie must go).
pub async fn revoke(app: &App, who: Principal, raw: &str) -> Result<(SessionId, bool)> {
    who.org_wide(Role::Admin)?;
    let id = SessionId::parse(raw).ok_or_else(|| Error::not_found("session"))?;
    let current = who.cred.session_id() == Some(id);
    Ok((end(app, who, id, Action::SessionRevoke).await?, current))
}

pub async fn log_out(app: &App, who: Principal) -> Result<SessionId> {
    let CredKind::Session { id, .. } = who.cred.kind else {
        return Err(Error::new(
            Code::NotASession,
            "only a browser session can log out; revoke a key with DELETE /org/tokens/{id}",
        ));
    };
    end(app, who, id, Action::SessionLogout).await
}

// ---- on the box (the CLI) ------------------------------------------------

/// Makes a one-time sign-in link's code, valid for `ttl_ms`, recorded as
/// made by `cli`. Only the caller ever sees the code.
pub fn login_link_on_box(db: &Db, now: i64, ttl_ms: i64, base_url: &str) -> Result<String> {
    let secure = base_url.starts_with("https://");
    let code = mint(TokenKind::Login)?;
    db.write_with(now, |ctx| -> Result<()> {
        sessions::insert_link(ctx, &code, "cli", ttl_ms, secure)?;
        let detail = json!({"expires_in_seconds": ttl_ms / 1000, "base_url": base_url});
        Ok(audit::append(
            ctx,
            &Actor::cli(),
            Action::LoginLinkCreate,
            None,
            detail,
        )?)
    })?;
    Ok(code.plaintext)
}

/// Ends every open session; returns how many.
pub fn end_all_on_box(db: &Db, now: i64) -> Result<usize> {
    db.write_with(now, |ctx| -> Result<usize> {
        let n = sessions::revoke_all(ctx)?;
        audit::append(
            ctx,
            &Actor::cli(),
            Action::SessionRevokeAll,
            None,
            json!({ "count": n }),
        )?;
        Ok(n)
    })
}
