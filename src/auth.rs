//! Authentication (the `Principal` extractor) and the authorisation rules.
//!
//! The hot path takes no database round trip: parse and checksum the token
//! (a malformed one never reaches storage), hash it, look it up in the
//! in-memory map and check expiry against now. The map holds every
//! committed change: the server's own writes update it before they answer,
//! and changes made on the box reach it before the CLI returns
//! (handshake.rs).

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{http::header, web, FromRequest, HttpMessage, HttpRequest};
use rusqlite::Connection;

use crate::creds::{CredKind, Credential};
use crate::db::audit::Actor;
use crate::db::{keys, sessions, tokens, workspaces, StoreResult};
use crate::error::ApiError;
use crate::model::Role;
use crate::state::AppState;
use crate::token::{self, TokenKind};

/// Why an authentication failed. Counted, never told to the client.
#[derive(Clone, Copy, Debug)]
pub enum Failure {
    Missing,
    Malformed,
    UnknownOrRevoked,
    Expired,
}

impl Failure {
    pub const ALL: [Failure; 4] = [
        Failure::Missing,
        Failure::Malformed,
        Failure::UnknownOrRevoked,
        Failure::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::Malformed => "malformed",
            Failure::UnknownOrRevoked => "unknown_or_revoked",
            Failure::Expired => "expired",
        }
    }
}

/// Failed authentications: totals by reason, and per-address counts
/// waiting to be summarised into the audit trail (one entry per address per
/// interval, so a flood of bad requests cannot flood the trail).
#[derive(Default)]
pub struct AuthFailures {
    totals: [AtomicU64; 4],
    pending: Mutex<HashMap<String, u64>>,
}

/// How many addresses one summary names before lumping the rest together.
const MAX_ADDRESSES_PER_SUMMARY: usize = 50;

impl AuthFailures {
    pub fn record(&self, why: Failure, client: &str) {
        self.totals[why as usize].fetch_add(1, Ordering::Relaxed);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = pending.get_mut(client) {
            *n += 1;
        } else if pending.len() < MAX_ADDRESSES_PER_SUMMARY {
            pending.insert(client.to_string(), 1);
        } else {
            *pending.entry("other addresses".to_string()).or_insert(0) += 1;
        }
    }

    pub fn total(&self, why: Failure) -> u64 {
        self.totals[why as usize].load(Ordering::Relaxed)
    }

    pub fn take_pending(&self) -> Vec<(String, u64)> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = pending.drain().collect();
        out.sort();
        out
    }
}

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub cred: Arc<Credential>,
    pub client: Option<std::net::IpAddr>,
}

fn client_addr(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The name of the browser session cookie: `__Host-` when it is Secure.
pub const SESSION_COOKIE: &str = "molecule_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-molecule_session";
/// The header the UI sends with every cookie-authenticated write. A page
/// on another site cannot add a custom header to a cross-site request
/// without a CORS preflight, which this server never grants.
pub const CSRF_HEADER: &str = "x-molecule-ui";

/// The session cookie's value, if the request carries one.
fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(SECURE_SESSION_COOKIE)
        .or_else(|| req.cookie(SESSION_COOKIE))
        .map(|c| c.value().to_string())
}

/// Refuses a cookie-authenticated write that may come from another site:
/// it must carry the UI's header, and an `Origin` (browsers send one on
/// every cross-origin write) must name this very host.
pub fn check_same_site(req: &HttpRequest) -> Result<(), ApiError> {
    if req.method().is_safe() {
        return Ok(());
    }
    let refused = || {
        ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "cross_site_request",
            "a write with the session cookie must come from this server's own pages \
             (X-Molecule-UI header, same Origin); scripts should use an org API key",
        )
    };
    if req.headers().get(CSRF_HEADER).is_none() {
        return Err(refused());
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        let same_host = host.is_some() && origin.split_once("://").map(|(_, rest)| rest) == host;
        // Behind a proxy that rewrites Host, the operator's public URL is
        // the page's origin.
        let public = req
            .app_data::<web::Data<AppState>>()
            .and_then(|s| s.settings.public_url.as_deref());
        if !same_host && public != Some(origin) {
            return Err(refused());
        }
    }
    if let Some(site) = req.headers().get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return Err(refused());
        }
    }
    Ok(())
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let client = client_addr(req);
    let now = state.now();
    let fail = |why: Failure, hash: Option<&[u8; 32]>| refuse(state, req, why, hash);
    // A bearer token wins over a cookie. Each path takes only its own kind
    // of token: a session token is no API key, nor an API key a cookie.
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
    if token.is_empty() {
        return Err(fail(Failure::Missing, None));
    }
    match token::parse(token) {
        Some(TokenKind::Org | TokenKind::Workspace) if !from_cookie => {}
        Some(TokenKind::Session) if from_cookie => check_same_site(req)?,
        _ => return Err(fail(Failure::Malformed, None)),
    }
    // A committed change that did not reach memory (rare: a failed read
    // after a commit): fail closed rather than honour a revoked key.
    if state.db.creds.is_stale() {
        return Err(ApiError::unavailable());
    }
    let hash = token::hash(token);
    let poll = from_cookie && req.headers().contains_key("x-molecule-poll");
    match state.db.creds.authenticate(&hash, now, poll) {
        Ok(cred) => {
            // For the access log, which names the caller only at debug
            // level (by display prefix, never the token).
            if tracing::enabled!(tracing::Level::DEBUG) {
                req.extensions_mut().insert(Caller(cred.clone()));
            }
            Ok(Principal { cred, client })
        }
        Err(why) => Err(fail(why, Some(&hash))),
    }
}
/// Counts a failed authentication (or sign-in), then answers 401 — or 429
/// once this address or this token has failed too often this minute. Valid
/// credentials never reach this path, so they are never throttled.
pub fn refuse(state: &AppState, req: &HttpRequest, why: Failure, hash: Option<&[u8; 32]>) -> ApiError {
    let addr = client_text(req);
    state.failures.record(why, &addr);
    if let Some(e) = throttled(state, &addr, hash) {
        return e;
    }
    state.limiter.record(&addr, hash, state.now());
    ApiError::unauthorized()
}

/// The 429 for an address (or token) that has failed too often this
/// minute, without counting another failure.
pub fn throttled(state: &AppState, addr: &str, hash: Option<&[u8; 32]>) -> Option<ApiError> {
    let secs = state.limiter.retry_after(addr, hash, state.now())?;
    Some(ApiError::throttled(secs))
}

/// The caller's address as the failure counters key it.
pub fn client_text(req: &HttpRequest) -> String {
    client_addr(req).map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// The caller's credential, left in request extensions so the access log
/// can name it by display prefix (never by token).
#[derive(Clone)]
pub struct Caller(pub Arc<Credential>);

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// What a route needs from the caller for one workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any org key whose bindings cover the workspace.
    Read,
    /// A workspace-write or admin org key covering it.
    Write,
    /// Read, or the workspace's own token.
    ReadOrAgent,
    /// Only the workspace's own token (agent routes such as heartbeat).
    Agent,
}

impl Principal {
    /// How the audit trail and `created_by` name this caller.
    pub fn actor(&self) -> Actor {
        let name = match self.cred.kind {
            CredKind::Org { .. } => format!("org-token:{}", self.cred.prefix()),
            CredKind::Workspace { .. } => format!("workspace-token:{}", self.cred.prefix()),
            CredKind::Session { .. } => format!("session:{}", self.cred.prefix()),
        };
        Actor {
            name,
            client: self.client.map(|ip| ip.to_string()),
        }
    }

    /// The org key's role and bindings (empty = every workspace), if its
    /// role is at least `min`. Workspace tokens never pass.
    pub fn org_role(&self, min: Role) -> Result<(Role, &[String]), ApiError> {
        match &self.cred.kind {
            CredKind::Session { .. } => Ok((Role::Admin, &[])),
            CredKind::Org { role, workspaces } if *role >= min => Ok((*role, workspaces)),
            CredKind::Org { .. } => Err(ApiError::forbidden(format!(
                "this route needs an org key with role {} or higher",
                min.as_str()
            ))),
            CredKind::Workspace { .. } => Err(ApiError::forbidden(
                "workspace tokens can only use their own workspace's agent routes",
            )),
        }
    }

    /// An org key of at least `min` that is not bound to workspaces, for
    /// org-wide routes.
    pub fn org_wide(&self, min: Role) -> Result<Role, ApiError> {
        let (role, bindings) = self.org_role(min)?;
        if bindings.is_empty() {
            Ok(role)
        } else {
            Err(ApiError::forbidden(
                "this route is org-wide; keys bound to workspaces cannot use it",
            ))
        }
    }

    pub fn workspace_id(&self) -> Option<String> {
        match &self.cred.kind {
            CredKind::Workspace { workspace_id } => Some(workspace_id.to_string()),
            CredKind::Org { .. } | CredKind::Session { .. } => None,
        }
    }

    /// Checks access to one workspace. Run inside a storage call: bound
    /// keys need the tree to decide. A bound key gets 403 for a workspace
    /// outside its bindings whether or not that workspace exists.
    pub fn check_workspace(&self, conn: &Connection, workspace_id: &str, need: Need) -> StoreResult<()> {
        if let Some(own) = self.workspace_id() {
            let agent_ok = matches!(need, Need::Agent | Need::ReadOrAgent);
            return if agent_ok && own == workspace_id {
                Ok(())
            } else {
                Err(ApiError::forbidden("a workspace token can only use its own workspace's agent routes").into())
            };
        }
        let min = match need {
            Need::Agent => return Err(ApiError::forbidden("this agent route takes the workspace's own token").into()),
            Need::Read | Need::ReadOrAgent => Role::ReadOnly,
            Need::Write => Role::WorkspaceWrite,
        };
        let (_, bindings) = self.org_role(min)?;
        if !bindings.is_empty() && !workspaces::within(conn, workspace_id, bindings)? {
            return Err(ApiError::forbidden("this key is not bound to that workspace").into());
        }
        Ok(())
    }

    /// Checks access to a workspace and returns it; 404 when the caller
    /// may reach it but it does not exist (or was deleted).
    pub fn workspace(&self, conn: &Connection, id: &str, need: Need) -> StoreResult<workspaces::WorkspaceRow> {
        self.check_workspace(conn, id, need)?;
        workspaces::get(conn, id)?.ok_or_else(|| ApiError::not_found("workspace").into())
    }

    /// Whether this credential is still live in the database, read inside
    /// the caller's transaction rather than from the in-memory map.
    pub fn still_live(&self, conn: &Connection, now: i64) -> StoreResult<bool> {
        match self.cred.kind {
            CredKind::Org { .. } => keys::is_live(conn, &self.cred.id(), now),
            CredKind::Workspace { .. } => tokens::is_live(conn, &self.cred.id(), now),
            CredKind::Session { .. } => sessions::is_live(conn, &self.cred.id(), now),
        }
    }
    /// Whether every one of `targets` lies within this key's bindings (an
    /// unbound key covers everything; nothing covers "all" but unbound).
    pub fn covers(&self, conn: &Connection, targets: &[String]) -> StoreResult<bool> {
        let bindings = match &self.cred.kind {
            CredKind::Org { workspaces, .. } => workspaces,
            CredKind::Session { .. } => return Ok(true),
            CredKind::Workspace { .. } => return Ok(false),
        };
        if bindings.is_empty() {
            return Ok(true);
        }
        if targets.is_empty() {
            return Ok(false);
        }
        for t in targets {
            if !workspaces::within(conn, t, bindings)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
