//! Authentication: a presented token becomes a `Principal`, or the one 401.
//!
//! The hot path takes no database round trip: parse and checksum the token
//! (a malformed one never reaches storage), hash it, look it up in the
//! in-memory map and check expiry against now. The map holds every
//! committed change: the server's own writes update it before they answer,
//! and changes made on the box reach it before the CLI returns
//! (ops/handshake.rs).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{App, Principal};
use crate::creds::Credential;
use crate::domain::authz::Failure;
use crate::domain::token::{self, TokenKind};
use crate::domain::{Error, Result};

/// Failed authentications: totals by reason, and per-address counts
/// waiting to be summarised into the audit trail (one entry per address per
/// interval, so a flood of bad requests cannot flood the trail).
#[derive(Default)]
pub struct AuthFailures {
    totals: [AtomicU64; Failure::ALL.len()],
    pending: Mutex<HashMap<String, [u64; Failure::ALL.len()]>>,
}

/// An address's failures since the last summary: (address, count, by reason).
pub type Pending = (String, u64, Vec<(Failure, u64)>);

/// How many addresses one summary names before lumping the rest together.
const MAX_ADDRESSES_PER_SUMMARY: usize = 50;

impl AuthFailures {
    pub fn record(&self, why: Failure, client: &str) {
        self.totals[why as usize].fetch_add(1, Ordering::Relaxed);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let slot = if pending.contains_key(client) || pending.len() < MAX_ADDRESSES_PER_SUMMARY {
            client
        } else {
            "other addresses"
        };
        if let Some(counts) = pending.get_mut(slot) {
            counts[why as usize] += 1;
        } else {
            let mut counts = [0; Failure::ALL.len()];
            counts[why as usize] = 1;
            pending.insert(slot.to_string(), counts);
        }
    }

    pub fn total(&self, why: Failure) -> u64 {
        self.totals[why as usize].load(Ordering::Relaxed)
    }

    /// Per address: how many failed, and why.
    pub fn take_pending(&self) -> Vec<Pending> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = pending
            .drain()
            .map(|(client, counts)| {
                let why: Vec<(Failure, u64)> = Failure::ALL
                    .iter()
                    .map(|f| (*f, counts[*f as usize]))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                (client, counts.iter().sum(), why)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// A token as a request presented it.
pub struct Presented<'a> {
    /// Empty when none was presented.
    pub token: &'a str,
    /// From the session cookie (only session tokens are taken from it)
    /// rather than a bearer header (which takes only API keys).
    pub from_cookie: bool,
    /// A background refresh from the pages: it does not keep a session from
    /// going idle.
    pub poll: bool,
}

/// The caller's address as the failure counters key it.
pub fn client_text(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

pub fn authenticate(app: &App, presented: Presented, client: Option<IpAddr>) -> Result<Principal> {
    let fail = |why: Failure, hash: Option<&[u8; 32]>| refuse(app, client, why, hash);
    let Presented {
        token,
        from_cookie,
        poll,
    } = presented;
    if token.is_empty() {
        return Err(fail(Failure::Missing, None));
    }
    // Each path takes only its own kind of token: a session token is no
    // API key, nor an API key a cookie.
    match token::parse(token) {
        Some(TokenKind::Org | TokenKind::Workspace) if !from_cookie => {}
        Some(TokenKind::Session) if from_cookie => {}
        _ => return Err(fail(Failure::Malformed, None)),
    }
    // A committed change that did not reach memory (rare: a failed read
    // after a commit): fail closed rather than honour a revoked key.
    if app.creds.is_stale() {
        return Err(Error::unavailable());
    }
    let hash = token::hash(token);
    match app.creds.authenticate(&hash, app.now(), poll, client) {
        Ok(cred) => Ok(Principal {
            cred,
            client,
            via: None,
        }),
        Err(why) => Err(fail(why, Some(&hash))),
    }
}

/// The live key or session that `token` is, when it was refused only for
/// coming from outside its ranges (see `CredCache::refused_from`).
pub fn refused_from_elsewhere(app: &App, token: &str, client: Option<IpAddr>) -> Option<Arc<Credential>> {
    app.creds.refused_from(&token::hash(token), app.now(), client)
}

/// Counts a failed authentication (or sign-in), then answers 401, or 429
/// once this address or this token has failed too often this minute. Valid
/// credentials never reach this path, so they are never throttled.
pub fn refuse(app: &App, client: Option<IpAddr>, why: Failure, hash: Option<&[u8; 32]>) -> Error {
    let addr = client_text(client);
    app.failures.record(why, &addr);
    if let Some(e) = throttled(app, &addr, hash) {
        return e;
    }
    app.limiter.record(&addr, hash, app.now());
    Error::unauthorized()
}

/// The 429 for an address (or token) that has failed too often this
/// minute, without counting another failure.
pub fn throttled(app: &App, addr: &str, hash: Option<&[u8; 32]>) -> Option<Error> {
    let secs = app.limiter.retry_after(addr, hash, app.now())?;
    Some(Error::throttled(secs))
}
