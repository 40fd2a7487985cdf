//! Storage: one SQLite file in the data dir, WAL mode.
//!
//! Every write goes through one writer connection behind a mutex, in an
//! IMMEDIATE transaction with `synchronous=FULL`, so an acknowledged write
//! (a key mint, a revoke) survives power loss, and writers queue in the
//! process instead of spinning on SQLITE_BUSY. The server's writes go
//! through the group writer (group.rs), which commits many at once. Reads
//! use a small pool of read-only connections. Storage functions are plain
//! and synchronous; handlers call them through `web::block` or the group
//! writer, never on an async worker.

pub mod approvals;
pub mod audit;
pub mod catalog;
pub mod channels;
pub mod group;
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
    /// Like `Connection::execute`, through the statement cache: the same
    /// few statements run for every write, and parsing them each time was
    /// a tenth of a write's cost.
    pub fn execute<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.tx.prepare_cached(sql)?.execute(params)
    }

    /// Like `Connection::query_row`, through the statement cache.
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.tx.prepare_cached(sql)?.query_row(params, f)
    }

    /// The credential sequence number of this transaction. Every row that
    /// adds, revokes or changes a credential is stamped with it, so any
    /// process can find what changed since it last looked.
    pub fn cred_seq(&mut self) -> StoreResult<i64> {
        if let Some(s) = self.seq {
            return Ok(s);
        }
        let s = self.query_row("UPDATE meta SET v = v + 1 WHERE k = 'cred_seq' RETURNING v", [], |r| {
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

pub struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Bumped after every commit this process makes, and by the watcher
    /// when another process has committed: a cached read taken at an older
    /// generation is stale (list_cache.rs).
    generation: std::sync::atomic::AtomicU64,
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
        writer.set_prepared_statement_cache_capacity(128);
        migrate::migrate(&mut writer)?;
        Ok(Db {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
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

    /// Runs `f` in one IMMEDIATE transaction and commits it: the CLI's
    /// path, and the server's background writes (the server's requests go
    /// through the group writer, group.rs). If `f` changed a credential,
    /// the in-memory map is brought up to date before the writer lock is
    /// released, so a response can only be sent once the change is visible
    /// to every later request.
    pub fn write<T>(&self, now: impl WriteTime, f: impl FnOnce(&mut WriteCtx) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = lock(&self.writer);
        let now = now.read();
        let (out, changed_creds) = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ctx = WriteCtx { tx, now, seq: None };
            let out = f(&mut ctx)?;
            let changed = ctx.seq.is_some();
            ctx.tx.commit()?;
            (out, changed)
        };
        self.bump_generation();
        if changed_creds {
            self.sync_after_commit(&conn);
        }
        Ok(out)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump_generation(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// After a commit that changed credentials, before it is answered. The
    /// write is committed: a failed sync must not turn it into an error (a
    /// mint's token would be lost, a revoke retried into a 404). It is
    /// retried here, and the watcher reads the change again anyway
    /// (data_version has moved for its connection).
    fn sync_after_commit(&self, conn: &Connection) {
        let mut tries = 0;
        while let Err(e) = self.creds.sync(conn) {
            tries += 1;
            if tries == 3 {
                tracing::error!(error = %e, "credential map sync after a commit failed; refusing credentials until the watcher catches up");
                self.creds.mark_stale();
                break;
            }
        }
    }

    /// The highest credential sequence number committed so far.
    pub fn committed_cred_seq(&self) -> StoreResult<i64> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT v FROM meta WHERE k = 'cred_seq'")?
                .query_row([], |r| r.get(0))?)
        })
    }

    /// A connection that watches for commits by other processes (the CLI
    /// on the box); see `watch`.
    pub fn watcher(&self) -> StoreResult<Watcher> {
        let conn = open_reader(&self.path)?;
        let data_version = data_version(&conn)?;
        self.creds.sync(&conn)?;
        Ok(Watcher { conn, data_version })
    }

    /// One look for commits made through other connections since the last:
    /// `PRAGMA data_version` moves when any other connection has committed,
    /// and only then is a snapshot of the changed credentials read. Returns
    /// the credential sequence number the map now reflects. The version is
    /// read before the snapshot, so a commit between the two is read now
    /// and again next time, never missed.
    pub fn watch(&self, w: &mut Watcher) -> StoreResult<i64> {
        let dv = data_version(&w.conn).inspect_err(|_| self.creds.mark_stale())?;
        if dv != w.data_version || self.creds.is_stale() {
            self.bump_generation();
            self.creds.sync(&w.conn).inspect_err(|_| self.creds.mark_stale())?;
            w.data_version = dv;
        }
        Ok(self.creds.seen_seq())
    }
}

/// See `Db::watcher`.
pub struct Watcher {
    conn: Connection,
    data_version: i64,
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
