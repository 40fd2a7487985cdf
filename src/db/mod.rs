//! Storage: one SQLite file in the data dir, WAL mode.
//!
//! Every write goes through one writer connection behind a mutex, in an
//! IMMEDIATE transaction with `synchronous=FULL`, so an acknowledged write
//! (a key mint, a revoke) survives power loss, and writers queue in the
//! process instead of spinning on SQLITE_BUSY. Reads use a small pool of
//! read-only connections. Storage functions are plain and synchronous;
//! handlers call them through `web::block`.

pub mod approvals;
pub mod audit;
pub mod catalog;
pub mod channels;
pub mod keys;
pub mod migrate;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod workspaces;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::creds::CredCache;
use crate::error::ApiError;

pub const DB_FILE: &str = "molecule.db";
const MAX_IDLE_READERS: usize = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database busy")]
    Busy,
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// A refusal decided inside a transaction; the transaction rolls back.
    #[error("{0}")]
    Api(ApiError),
    #[error("{0}")]
    Other(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<ApiError> for StoreError {
    fn from(e: ApiError) -> Self {
        StoreError::Api(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The time a write happens at: a fixed instant, or a clock read once the
/// writer lock is held (so a write that queued behind another is stamped
/// when it really runs, not when it was asked for).
pub trait WriteTime {
    fn read(self) -> i64;
}

impl WriteTime for i64 {
    fn read(self) -> i64 {
        self
    }
}

impl WriteTime for &crate::clock::Clock {
    fn read(self) -> i64 {
        self.now_ms()
    }
}

/// A write transaction plus what it changed.
pub struct WriteCtx<'a> {
    pub tx: rusqlite::Transaction<'a>,
    pub now: i64,
    seq: Option<i64>,
}

impl WriteCtx<'_> {
    /// The credential sequence number of this transaction. Every row that
    /// adds, revokes or changes a credential is stamped with it, so any
    /// process can find what changed since it last looked.
    pub fn cred_seq(&mut self) -> StoreResult<i64> {
        if let Some(s) = self.seq {
            return Ok(s);
        }
        let s = self
            .tx
            .query_row("UPDATE meta SET v = v + 1 WHERE k = 'cred_seq' RETURNING v", [], |r| {
                r.get(0)
            })?;
        self.seq = Some(s);
        Ok(s)
    }
}

impl std::ops::Deref for WriteCtx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.tx
    }
}

struct Probe {
    conn: Connection,
    data_version: i64,
}

thread_local! {
    /// Each worker thread's probe connection, per open database: the
    /// per-request freshness check then takes no lock shared with other
    /// workers.
    static PROBES: std::cell::RefCell<std::collections::HashMap<u64, Probe>> = Default::default();
}

static NEXT_DB_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Tells this database apart in the thread-local probe map.
    id: u64,
    pub creds: CredCache,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection leaves it usable (an open
    // transaction is rolled back when dropped), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Db {
    /// Opens (creating and migrating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> StoreResult<Db> {
        let path = data_dir.join(DB_FILE);
        let mut writer = Connection::open(&path)?;
        // Owner-only, before WAL mode: SQLite gives -wal and -shm the main
        // file's mode, and the data dir may have been made by someone else.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        writer.busy_timeout(BUSY_TIMEOUT)?;
        writer.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        writer.set_prepared_statement_cache_capacity(64);
        migrate::migrate(&mut writer)?;
        Ok(Db {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            id: NEXT_DB_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            creds: CredCache::default(),
        })
    }

    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = match lock(&self.readers).pop() {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let out = f(&conn);
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// Runs `f` in one IMMEDIATE transaction and commits it. If `f` changed
    /// a credential, the in-memory map is brought up to date before the
    /// writer lock is released, so the caller's response can only be sent
    /// once the change is visible to every later request.
    pub fn write<T>(&self, now: impl WriteTime, f: impl FnOnce(&mut WriteCtx) -> StoreResult<T>) -> StoreResult<T> {
        self.transact(now, true, f)
    }

    /// Runs `f` in a write transaction that is always rolled back: a dry
    /// run that follows exactly the code path of the real thing.
    pub fn rehearse<T>(&self, now: impl WriteTime, f: impl FnOnce(&mut WriteCtx) -> StoreResult<T>) -> StoreResult<T> {
        self.transact(now, false, f)
    }

    fn transact<T>(
        &self,
        now: impl WriteTime,
        commit: bool,
        f: impl FnOnce(&mut WriteCtx) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = lock(&self.writer);
        let now = now.read();
        let (out, changed_creds) = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ctx = WriteCtx { tx, now, seq: None };
            let out = f(&mut ctx)?;
            if !commit {
                // Dropping the transaction rolls it back; nothing committed,
                // so the credential map is left alone.
                return Ok(out);
            }
            let changed = ctx.seq.is_some();
            ctx.tx.commit()?;
            (out, changed)
        };
        // The write is committed: a failed sync must not turn it into an
        // error (a mint's token would be lost, a revoke retried into a 404).
        // The map stays safe: data_version has moved, so the next request's
        // ensure_fresh reads the change again.
        if changed_creds {
            if let Err(e) = self.creds.sync(&conn) {
                tracing::error!(error = %e, "credential map sync after a commit failed; retried on the next request");
            }
        }
        Ok(out)
    }

    /// Loads every live credential into memory. Called once by `serve`.
    pub fn load_creds(&self) -> StoreResult<()> {
        self.creds.sync(&open_reader(&self.path)?)
    }

    /// Makes sure the credential map reflects every committed change,
    /// including those made by another process (the CLI on the box).
    /// `PRAGMA data_version` changes when any other connection has
    /// committed; only then is a snapshot of the changed credentials read.
    /// The probe is this thread's read-only WAL connection, so the check
    /// never waits on a writer or on another worker.
    pub fn ensure_fresh(&self) -> StoreResult<()> {
        PROBES.with(|probes| {
            let mut probes = probes.borrow_mut();
            let probe = match probes.entry(self.id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    // A new probe syncs once: this thread may be the first
                    // to look since another process changed something.
                    let conn = open_reader(&self.path)?;
                    let dv = data_version(&conn)?;
                    self.creds.sync(&conn)?;
                    v.insert(Probe { conn, data_version: dv })
                }
            };
            // Every request asks SQLite itself. (Reading the WAL-index
            // header from the -shm file directly would be cheaper, but a
            // second descriptor on that file is unsafe: closing it drops all
            // of this process's POSIX locks on it, and a symlinked database
            // keeps its -shm elsewhere.)
            let dv = data_version(&probe.conn)?;
            if dv != probe.data_version {
                self.creds.sync(&probe.conn)?;
                probe.data_version = dv;
            }
            Ok(())
        })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Close this thread's probe; other workers' close with their thread.
        let _ = PROBES.try_with(|p| p.borrow_mut().remove(&self.id));
    }
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn data_version(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

/// `IN (?, ?, …)` placeholders for `n` values.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}
