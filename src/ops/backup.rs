//! `backup` and `restore`: a consistent copy of the database, taken online
//! with SQLite's backup API, and putting one back while no server runs.
//!
//! The secrets key file is not inside the backup, on purpose: a stolen
//! backup alone opens no secret. Keep the key file (default
//! `<data-dir>/secrets.key`) backed up separately; restoring needs both.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use rusqlite::{Connection, OpenFlags};

use super::data_dir::serve_lock;
use crate::files::{sync_dir, with_suffix};
use crate::store::{migrate, DB_FILE};

const PAGES_PER_STEP: std::os::raw::c_int = 256;

/// Before a newer binary migrates an older database forward, a copy of it
/// as it was goes to `<data-dir>/backups/`, checked, and is kept (never
/// deleted by the server): going back to the older binary means restoring
/// it. Returns where it went; nothing when there is nothing to migrate.
pub fn keep_before_migrating(data_dir: &Path, now_ms: i64) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(version) = migrate::version_at(&data_dir.join(DB_FILE)).map_err(|e| anyhow::anyhow!("{e}"))? else {
        return Ok(None);
    };
    if version == 0 || version >= migrate::SCHEMA_VERSION {
        return Ok(None);
    }
    let dir = data_dir.join("backups");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let to = dir.join(format!("molecule-schema-v{version}-{now_ms}-{}.db", std::process::id()));
    backup(data_dir, &to)
        .with_context(|| format!("keeping a copy before upgrading the schema, in {}", to.display()))?;
    tracing::warn!(
        from = version, to = migrate::SCHEMA_VERSION, copy = %to.display(),
        "upgrading the database schema; the database as it was is kept"
    );
    Ok(Some(to))
}

/// Copies the live database to `to` (which must not exist), consistently,
/// while the server keeps serving.
pub fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<u64> {
    if to.exists() {
        bail!(
            "{} already exists; choose a new file (--to / MOLECULE_BACKUP_TO)",
            to.display()
        );
    }
    let src = Connection::open_with_flags(data_dir.join(DB_FILE), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    src.busy_timeout(Duration::from_secs(5))?;
    let tmp = with_suffix(to, ".partial");
    let _ = std::fs::remove_file(&tmp);
    // Owner-only from the first byte: the copy holds token hashes, the
    // audit trail and sealed secrets.
    create_private(&tmp)?;
    let copied = (|| -> anyhow::Result<u64> {
        {
            let mut dst = Connection::open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let b = rusqlite::backup::Backup::new(&src, &mut dst)?;
            b.run_to_completion(PAGES_PER_STEP, Duration::from_millis(5), None)?;
            drop(b);
            // The copy comes in WAL mode, like its source; a file on its
            // own is one file (else checking it read-only leaves -wal and
            // -shm beside it).
            dst.execute_batch("PRAGMA journal_mode = DELETE;")?;
        }
        verify(&tmp)
    })();
    // A copy that failed (a full disk, a busy source, a bad check) leaves
    // nothing behind.
    let check = copied.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    std::fs::rename(&tmp, to)?;
    restrict(to);
    Ok(check)
}

/// Checks a database file: integrity, and a schema this binary knows.
/// Returns its size in bytes.
pub fn verify(file: &Path) -> anyhow::Result<u64> {
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", file.display()))?;
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        bail!("{} fails SQLite's integrity check: {ok}", file.display());
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if !(1..=migrate::SCHEMA_VERSION).contains(&version) {
        bail!(
            "{} has schema version {version}, which this binary cannot open",
            file.display()
        );
    }
    Ok(std::fs::metadata(file)?.len())
}

/// Replaces the database in `data_dir` with `from`. Refused while any
/// server holds the data dir.
pub fn restore(data_dir: &Path, from: &Path) -> anyhow::Result<u64> {
    verify(from)?;
    super::data_dir::create(data_dir)?;
    let lock = serve_lock(data_dir)?;
    // A CLI command holds the lock shared for an instant to see whether a
    // server runs; only a lock held throughout means one does.
    let mut tries = 0;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if tries < 25 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                bail!(
                    "a server is running on {}; stop it before restoring",
                    data_dir.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e).context("locking the data dir"),
        }
    }
    let target = data_dir.join(DB_FILE);
    let tmp = with_suffix(&target, ".restoring");
    let _ = std::fs::remove_file(&tmp);
    create_private(&tmp)?;
    {
        let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut dst = Connection::open(&tmp)?;
        rusqlite::backup::Backup::new(&src, &mut dst)?.run_to_completion(PAGES_PER_STEP, Duration::ZERO, None)?;
        dst.execute_batch("PRAGMA journal_mode = WAL;")?;
    }
    verify(&tmp)?;
    // The old WAL belongs to the old file: drop it before the swap.
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&target, side));
    }
    // What an earlier server applied may count past the restored database.
    super::handshake::forget(data_dir)?;
    std::fs::rename(&tmp, &target).with_context(|| format!("moving the restored database to {}", target.display()))?;
    sync_dir(&target);
    restrict(&target);
    Ok(std::fs::metadata(&target)?.len())
}

fn create_private(path: &Path) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}
