//! Storage: one SQLite file in the data dir, WAL mode. SQL lives here and
//! nowhere else; nothing here knows HTTP, key files or the credential map.
//!
//! Every write goes through one writer connection behind a mutex, in an
//! IMMEDIATE transaction with `synchronous=FULL`, so an acknowledged write
//! (a key mint, a revoke) survives power loss, and writers queue in the
//! process instead of spinning on SQLITE_BUSY. The server's writes go
//! through the group writer (writer.rs), which commits many at once. Reads
//! use a small pool of read-only connections. Storage functions are plain
//! and synchronous; the service layer calls them on the blocking pool or
//! the writer thread, never on an async worker.

pub mod activity;
pub mod approvals;
pub mod audit;
pub mod catalog;
pub mod channels;
pub mod creds;
pub mod keys;
pub mod migrate;
pub mod policy;
pub mod retention;
pub mod secrets;
pub mod sessions;
pub mod stats;
pub mod tokens;
pub mod workspaces;
pub mod writer;

mod sql;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

pub const DB_FILE: &str = "molecule.db";
const MAX_IDLE_READERS: usize = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database busy")]
    Busy,
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// Anything else that went wrong below the rules (a stored value that
    /// does not decode, the RNG, the writer thread).
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

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Sqlite(e.into())
    }
}

/// A busy database is a 503 the caller may retry; anything else is an
/// internal error whose cause is logged, never shown.
impl From<StoreError> for crate::domain::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy => crate::domain::Error::unavailable(),
            other => crate::domain::Error::internal(other),
        }
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

/// Told about commits by the one who keeps credentials in memory. Called
/// with the writer lock held, so a write is answered only once its change
/// is visible to every later request.
pub trait CommitObserver: Send + Sync {
    /// A commit changed credentials (`cred_seq` moved).
    fn credentials_committed(&self, conn: &Connection);
    /// A batch of writes was lost to a panic: what memory holds may be stale.
    fn lost_track(&self);
}

/// A write transaction plus what it changed.
pub struct WriteCtx<'a> {
    pub tx: rusqlite::Transaction<'a>,
    pub now: i64,
    seq: Option<i64>,
    /// What seals this transaction's audit entries.
    audit_keys: Arc<audit::AuditKeys>,
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
    /// generation is stale.
    generation: std::sync::atomic::AtomicU64,
    observer: OnceLock<Arc<dyn CommitObserver>>,
    audit_keys: std::sync::RwLock<Arc<audit::AuditKeys>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection leaves it usable (an open
    // transaction is rolled back when dropped), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Db {
    /// Opens (creating and migrating if needed) the database in `data_dir`;
    /// its audit entries are sealed with `audit_keys`.
    pub fn open(data_dir: &Path, audit_keys: audit::AuditKeys) -> StoreResult<Db> {
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
            observer: OnceLock::new(),
            audit_keys: std::sync::RwLock::new(Arc::new(audit_keys)),
        })
    }

    /// The audit keys in force.
    pub fn audit_keys(&self) -> Arc<audit::AuditKeys> {
        self.audit_keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Seals later audit entries with a new set of keys (after a rotation
    /// by another process).
    pub fn set_audit_keys(&self, keys: audit::AuditKeys) {
        *self.audit_keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }

    /// Registers who is told about commits (once; later calls are ignored).
    pub fn observe(&self, observer: Arc<dyn CommitObserver>) {
        let _ = self.observer.set(observer);
    }

    /// Runs a read on a pooled read-only connection.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.read_with(f)
    }

    /// `read`, for callers whose errors are their own.
    pub fn read_with<T, E: From<StoreError>>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E> {
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
    /// through the group writer). If `f` changed a credential, the observer
    /// hears of it before the writer lock is released.
    pub fn write<T>(&self, now: impl WriteTime, f: impl FnOnce(&mut WriteCtx) -> StoreResult<T>) -> StoreResult<T> {
        self.write_with(now, f)
    }

    /// `write`, for callers whose errors are their own.
    pub fn write_with<T, E: From<StoreError>>(
        &self,
        now: impl WriteTime,
        f: impl FnOnce(&mut WriteCtx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = lock(&self.writer);
        let now = now.read();
        let (out, changed_creds) = {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let mut ctx = WriteCtx {
                tx,
                now,
                seq: None,
                audit_keys: self.audit_keys(),
            };
            let out = f(&mut ctx)?;
            let changed = ctx.seq.is_some();
            ctx.tx.commit().map_err(StoreError::from)?;
            (out, changed)
        };
        self.bump_generation();
        if changed_creds {
            self.credentials_committed(&conn);
        }
        Ok(out)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks every cached read stale (after another process committed).
    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn credentials_committed(&self, conn: &Connection) {
        if let Some(o) = self.observer.get() {
            o.credentials_committed(conn);
        }
    }

    fn lost_track(&self) {
        if let Some(o) = self.observer.get() {
            o.lost_track();
        }
    }

    /// The highest credential sequence number committed so far.
    pub fn committed_cred_seq(&self) -> StoreResult<i64> {
        self.read(creds::committed_seq)
    }

    /// A read-only connection of its own (the watcher keeps one to see
    /// other processes' commits).
    pub fn open_reader(&self) -> StoreResult<Connection> {
        open_reader(&self.path)
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

/// `PRAGMA data_version`: moves when any other connection has committed.
pub fn data_version(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

/// A fresh database in a temp dir, for the unit tests beside each module.
#[cfg(test)]
pub(crate) fn test_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = audit::AuditKeys::new(&[[7; 32]]).expect("a key");
    let db = Db::open(dir.path(), key).expect("open");
    (dir, db)
}
