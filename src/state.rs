//! What every handler shares, and the one way off the async workers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use rusqlite::Connection;

use crate::auth::{AuthFailures, Principal};
use crate::clock::Clock;
use crate::crypto::Keyring;
use crate::db::{Db, StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};

/// Runtime settings of `serve`; see `cli::ServeArgs` for their flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    /// A workspace with no heartbeat for this long reads as `offline`.
    pub offline_after: Duration,
    /// An online workspace with no tasks for this long reads as `idle`.
    pub idle_after: Duration,
    /// How often in-memory `last_used_at` values are written down.
    pub flush_interval: Duration,
    /// How often failed authentications are summarised into the audit trail.
    pub failure_audit_interval: Duration,
    pub workers: usize,
    pub max_body_bytes: usize,
    /// A request's whole body must arrive within this long.
    pub body_timeout: Duration,
    /// Failed authentications allowed per minute from one address, and
    /// with one token, before further failures get 429.
    pub failures_per_address: u32,
    pub failures_per_token: u32,
    /// How long an approval waits for a decision before it reads as denied.
    pub approval_ttl: Duration,
    /// The master key for secrets; default `secrets.key` in the data dir.
    pub secrets_key_file: Option<PathBuf>,
    /// A browser session ends after this long without a request…
    pub session_idle: Duration,
    /// …and this long after sign-in, whatever happens.
    pub session_lifetime: Duration,
    /// The URL people reach this server at, if set; an https one makes
    /// session cookies `Secure`.
    pub public_url: Option<String>,
}

impl Settings {
    /// The master key file in force, and whether the operator named it.
    pub fn key_file(&self) -> (PathBuf, bool) {
        match &self.secrets_key_file {
            Some(p) => (p.clone(), true),
            None => (self.data_dir.join(crate::crypto::KEY_FILE), false),
        }
    }

    pub fn new(listen: impl Into<String>, data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            listen: listen.into(),
            data_dir: data_dir.into(),
            offline_after: Duration::from_secs(90),
            idle_after: Duration::from_secs(600),
            flush_interval: Duration::from_secs(1),
            failure_audit_interval: Duration::from_secs(60),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_body_bytes: 256 * 1024,
            body_timeout: Duration::from_secs(15),
            failures_per_address: 30,
            failures_per_token: 10,
            approval_ttl: Duration::from_secs(600),
            secrets_key_file: None,
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            public_url: None,
        }
    }
}

pub struct AppState {
    pub db: Arc<Db>,
    pub keyring: Arc<Keyring>,
    pub clock: Clock,
    pub settings: Settings,
    pub failures: Arc<AuthFailures>,
    pub limiter: crate::ratelimit::FailureLimiter,
    pub requests: crate::metrics::RequestMetrics,
    /// False while the watcher cannot follow changes made on the box
    /// (`GET /health` then answers 503).
    pub following: std::sync::atomic::AtomicBool,
    /// Group commit for the server's writes (db/group.rs).
    pub writer: crate::db::group::GroupWriter,
    pub lists: crate::list_cache::ListCache,
}

fn blocking_failed(e: actix_web::error::BlockingError) -> ApiError {
    ApiError::internal(format!("blocking pool: {e}"))
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs a read on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let db = self.db.clone();
        Ok(web::block(move || db.read(f)).await.map_err(blocking_failed)??)
    }

    /// Like `write`, but the transaction is always rolled back (dry runs).
    pub async fn rehearse<T, F>(&self, who: Principal, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx, &Principal) -> StoreResult<T> + Send + 'static,
    {
        self.transact(who, false, f).await
    }

    /// Runs `f` as one write through the group writer (db/group.rs), on
    /// behalf of `who`, stamped with the time it runs (a write that queued
    /// is stamped when it runs). The caller's credential is checked again
    /// inside the transaction — its revocation may have been answered while
    /// this request waited for its body or for the writer — so nothing a
    /// revoked or expired credential asks for is ever committed. An error
    /// from `f` rolls back everything `f` did, audit included (its
    /// savepoint); the answer comes only once the commit is durable.
    pub async fn write<T, F>(&self, who: Principal, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx, &Principal) -> StoreResult<T> + Send + 'static,
    {
        self.transact(who, true, f).await
    }

    async fn transact<T, F>(&self, who: Principal, commit: bool, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx, &Principal) -> StoreResult<T> + Send + 'static,
    {
        let guarded = move |ctx: &mut WriteCtx| {
            if !who.still_live(ctx, ctx.now)? {
                return Err(ApiError::unauthorized().into());
            }
            f(ctx, &who)
        };
        Ok(self.writer.write(!commit, guarded).await?)
    }
}
