//! Who used each key and workspace token, and how: every request made with
//! one is noted in memory (a push under a short lock; at most the newest
//! 1,000 per credential, which is all the log keeps) and written in one
//! batch a second by the flusher, with where the credential was last used
//! from. `GET /org/tokens/:id/activity` reads them back.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{App, Principal};
use crate::creds::{CredKind, Credential};
use crate::domain::authz::Need;
use crate::domain::ids::{KeyId, TokenId};
use crate::domain::role::Role;
use crate::domain::time::Time;
use crate::domain::{Error, Result};
use crate::store::activity::{self, Request};
use crate::store::{keys, tokens};

/// Requests held per credential between flushes: no more than the log
/// keeps (a flood from one key costs at most this many rows a second).
const MAX_PER_CRED: usize = activity::KEEP_PER_CREDENTIAL as usize;
/// Credentials held at once; past it, new ones are counted and dropped.
const MAX_CREDS: usize = 10_000;

/// One request, as noted on the way out.
pub struct Use {
    pub at: i64,
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
    pub duration_us: u32,
    pub client: Option<IpAddr>,
}

/// A credential's requests since the last flush, and its last user agent.
struct Held {
    cred: Arc<Credential>,
    uses: VecDeque<Use>,
    user_agent: Option<Box<str>>,
}

#[derive(Default)]
pub struct Activity {
    /// By the credential's address in memory: no id to format per request.
    held: Mutex<HashMap<usize, Held>>,
    dropped: AtomicU64,
}

impl Activity {
    /// Notes a request made with an org key or a workspace token.
    pub fn note(&self, cred: &Arc<Credential>, u: Use, user_agent: Option<&str>) {
        if cred.is_session() {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let full = held.len() >= MAX_CREDS;
        let key = Arc::as_ptr(cred) as usize;
        let entry = match held.get_mut(&key) {
            Some(e) => e,
            None if full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => held.entry(key).or_insert_with(|| Held {
                cred: cred.clone(),
                uses: VecDeque::new(),
                user_agent: None,
            }),
        };
        if entry.uses.len() >= MAX_PER_CRED {
            entry.uses.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        entry.uses.push_back(u);
        // Allocated only when it changes.
        if let Some(ua) = user_agent.filter(|ua| entry.user_agent.as_deref() != Some(*ua)) {
            entry.user_agent = Some(ua.chars().take(200).collect::<String>().into_boxed_str());
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn take(&self) -> HashMap<usize, Held> {
        std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Writes what was noted: the requests, and each credential's last
/// address and user agent. Lost on a crash, like `last_used_at`: at most a
/// second of telemetry.
pub fn flush(app: &App) {
    let held = app.activity.take();
    if held.is_empty() {
        return;
    }
    let res = app.db.write(&app.clock, |ctx| {
        for h in held.values() {
            let id = h.cred.id();
            let mut last_ip = None;
            for u in &h.uses {
                let client = u.client.map(|c| c.to_string());
                activity::insert(
                    ctx,
                    &Request {
                        cred_id: id.clone(),
                        at: u.at,
                        method: u.method,
                        route: u.route,
                        status: u.status,
                        duration_us: u.duration_us,
                        client: client.clone(),
                    },
                )?;
                last_ip = client.or(last_ip);
            }
            activity::trim(ctx, &id)?;
            let ua = h.user_agent.as_deref();
            if matches!(h.cred.kind, CredKind::Org { .. }) {
                keys::touch_from(ctx, &id, last_ip.as_deref(), ua)?;
            } else {
                tokens::touch_from(ctx, &id, last_ip.as_deref(), ua)?;
            }
        }
        Ok(())
    });
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not record key activity");
    }
}

#[derive(Serialize)]
pub struct RequestView {
    at: Time,
    method: String,
    route: String,
    status: u16,
    duration_ms: f64,
    client: Option<String>,
}

#[derive(Serialize)]
pub struct ActivityList {
    count: usize,
    requests: Vec<RequestView>,
}

fn listed(rows: Vec<activity::StoredRequest>) -> ActivityList {
    let requests: Vec<RequestView> = rows
        .into_iter()
        .map(|r| RequestView {
            at: Time(r.at),
            method: r.method,
            route: r.route,
            status: r.status,
            duration_ms: f64::from(r.duration_us) / 1000.0,
            client: r.client,
        })
        .collect();
    ActivityList {
        count: requests.len(),
        requests,
    }
}

/// An org key's recent requests (admins who manage it). Requests of the
/// last second may not be written yet.
pub async fn for_key(app: &App, who: Principal, raw: &str) -> Result<ActivityList> {
    who.org_role(Role::Admin)?;
    let id = KeyId::parse(raw).ok_or_else(|| Error::not_found("key"))?;
    let now = app.now();
    let rows = app
        .read(move |conn| {
            let key = keys::find_any(conn, id)?.ok_or_else(|| Error::not_found("key"))?;
            if !super::keys::manages(&who, conn, &key)? {
                return Err(Error::not_found("key"));
            }
            Ok(activity::recent(conn, &id.to_string(), now)?)
        })
        .await?;
    Ok(listed(rows))
}

/// A workspace token's recent requests.
pub async fn for_token(app: &App, who: Principal, raw_ws: &str, raw_token: &str) -> Result<ActivityList> {
    let ws = crate::service::ws_tokens::workspace_id(raw_ws)?;
    let id = TokenId::parse(raw_token).ok_or_else(|| Error::not_found("token"))?;
    let now = app.now();
    let rows = app
        .read(move |conn| {
            who.check_workspace(conn, ws, Need::Read)?;
            if !tokens::belongs(conn, id, ws)? {
                return Err(Error::not_found("token"));
            }
            Ok(activity::recent(conn, &id.to_string(), now)?)
        })
        .await?;
    Ok(listed(rows))
}
