//! The use cases: one module per resource. Each takes the caller (a
//! `Principal`), checks it against the rules (`domain::authz`), calls
//! storage and appends the audit entry, in one transaction. The HTTP
//! handlers and the CLI call these; nothing else does.

pub mod activity;
pub mod agents;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod background;
pub mod beats;
pub mod bundles;
pub mod catalog;
pub mod channels;
pub mod expiry;
pub mod health;
pub mod import;
pub mod keys;
pub mod list_cache;
pub mod policy;
pub mod principal;
pub mod retention;
pub mod secrets;
pub mod sessions;
pub mod stats;
pub mod templates;
pub mod throttle;
pub mod workspaces;
pub mod ws_tokens;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use rusqlite::Connection;

pub use principal::Principal;

use crate::clock::Clock;
use crate::creds::{CredCache, Follower};
use crate::crypto::Keyring;
use crate::domain::audit::Actor;
use crate::domain::token::{self, Minted, TokenKind};
use crate::domain::{Error, Result};
use crate::ops::data_dir;
use crate::settings::Settings;
use crate::store::writer::GroupWriter;
use crate::store::{Db, WriteCtx};

/// Everything the use cases share: the server's state.
pub struct App {
    pub db: Arc<Db>,
    pub creds: Arc<CredCache>,
    pub keyring: Arc<Keyring>,
    pub clock: Clock,
    pub settings: Settings,
    pub failures: auth::AuthFailures,
    /// Requests made with keys and tokens, until the flusher writes them.
    pub activity: activity::Activity,
    pub limiter: throttle::FailureLimiter,
    /// Leak reports per address and minute (anyone may send one).
    pub leak_reports: throttle::FailureLimiter,
    /// False while the watcher cannot follow changes made on the box
    /// (`GET /health` then answers 503).
    pub following: AtomicBool,
    /// Group commit for the server's writes (store/writer.rs).
    pub writer: GroupWriter,
    pub lists: list_cache::ListCache,
    /// Heartbeats held in memory until the flusher writes them.
    pub beats: Arc<beats::Beats>,
}

/// What `App::open` hands the server besides the app: the follower that
/// keeps the credential map in step with changes made on the box (run by
/// `background::Watch`), and the data dir's lock, held while it serves.
pub struct Opened {
    pub app: App,
    pub follower: Follower,
    pub serve_lock: std::fs::File,
}

/// Takes the data dir's lock exclusively. A CLI command may hold it shared
/// for an instant (to see whether a server runs), so a few tries are made.
fn lock_data_dir(lock: &std::fs::File, dir: &std::path::Path) -> anyhow::Result<()> {
    for _ in 0..50 {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(std::fs::TryLockError::Error(e)) => return Err(e).context("locking the data dir"),
        }
    }
    anyhow::bail!(
        "another molecule-tenant serve is using {} (--data-dir / MOLECULE_DATA_DIR); one server per data dir",
        dir.display()
    )
}

impl App {
    /// Opens the data dir for serving: takes its lock, opens the database,
    /// loads every live credential and the secrets keyring, and starts the
    /// writer.
    pub fn open(settings: Settings, clock: Clock) -> anyhow::Result<Opened> {
        data_dir::create(&settings.data_dir)?;
        // Before the lock file is made: made by another user, it would
        // lock the owner's own server out.
        data_dir::check_owner(&settings.data_dir)?;
        let serve_lock = data_dir::serve_lock(&settings.data_dir)?;
        lock_data_dir(&serve_lock, &settings.data_dir)?;
        crate::ops::handshake::forget(&settings.data_dir).context("clearing serve.synced")?;
        let audit_key = settings.audit_key_file.as_deref();
        let db = Arc::new(
            crate::ops::audit_key::open_db(&settings.data_dir, audit_key, &Actor::server(), clock.now_ms())
                .with_context(|| {
                    format!(
                        "opening the database in {} (--data-dir / MOLECULE_DATA_DIR)",
                        settings.data_dir.display()
                    )
                })?,
        );
        let creds = Arc::new(CredCache::default());
        db.observe(creds.clone());
        let follower = Follower::start(&db, &creds).context("loading credentials")?;
        let (key_path, named) = settings.key_file();
        let keyring = Arc::new(crate::ops::rotation::open_keyring(&db, &key_path, named)?);
        let writer = GroupWriter::start(db.clone(), clock.clone()).context("starting the writer thread")?;
        let app = App {
            db,
            creds,
            keyring,
            clock,
            failures: auth::AuthFailures::default(),
            activity: Default::default(),
            limiter: throttle::FailureLimiter::new(settings.failures_per_address, settings.failures_per_token),
            leak_reports: throttle::FailureLimiter::new(10, u32::MAX),
            following: AtomicBool::new(true),
            writer,
            lists: Default::default(),
            beats: Default::default(),
            settings,
        };
        Ok(Opened {
            app,
            follower,
            serve_lock,
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs a read on the blocking pool, in the caller's tracing span.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| db.read_with(f)))
            .await
            .map_err(|e| Error::internal(format!("blocking pool: {e}")))?
    }

    /// Runs CPU work (parsing a template) on the blocking pool.
    pub async fn compute<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(f))
            .await
            .map_err(|e| Error::internal(format!("blocking pool: {e}")))?
    }

    /// Runs `f` as one write through the group writer, on behalf of `who`,
    /// stamped with the time it runs (a write that queued is stamped when
    /// it runs). The caller's credential is checked again inside the
    /// transaction (its revocation may have been answered while this
    /// request waited for its body or for the writer), so nothing a revoked
    /// or expired credential asks for is ever committed. An error from `f`
    /// rolls back everything `f` did, audit included (its savepoint); the
    /// answer comes only once the commit is durable.
    pub async fn write<T, F>(&self, who: Principal, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx, &Principal) -> Result<T> + Send + 'static,
    {
        self.transact(who, false, f).await
    }

    /// Like `write`, but the transaction is always rolled back (dry runs).
    pub async fn rehearse<T, F>(&self, who: Principal, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx, &Principal) -> Result<T> + Send + 'static,
    {
        self.transact(who, true, f).await
    }

    /// A write on behalf of no credential (spending a sign-in link's code,
    /// which is its own proof), through the group writer like any other.
    pub async fn write_unauthenticated<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> Result<T> + Send + 'static,
    {
        self.writer.write(false, f).await
    }

    async fn transact<T, F>(&self, who: Principal, rehearse: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx, &Principal) -> Result<T> + Send + 'static,
    {
        self.writer
            .write(rehearse, move |ctx: &mut WriteCtx| {
                if !who.still_live(ctx, ctx.now)? {
                    return Err(Error::unauthorized());
                }
                f(ctx, &who)
            })
            .await
    }
}

/// A fresh token of a kind; only its hash and prefix are ever stored.
pub fn mint(kind: TokenKind) -> Result<Minted> {
    token::generate(kind).map_err(|e| Error::internal(format!("OS RNG: {e}")))
}
