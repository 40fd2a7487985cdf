//! How a change made on the box reaches a running server before the CLI
//! says it is done.
//!
//! The server answers requests from its in-memory credential map, with no
//! database read per request. Its own writes update the map before they
//! answer. Writes by another process (`mint-key`, `revoke-key`) are picked
//! up by the server's watcher thread, which polls `PRAGMA data_version`
//! every couple of milliseconds, applies the change, and then records the
//! credential sequence number it has applied in `serve.synced`. The CLI
//! waits for that number to reach its own commit's before it exits, so a
//! revocation is in force on the server by the time `revoke-key` returns.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// What the running server has applied: its credential sequence number.
pub const ACK_FILE: &str = "serve.synced";
/// How often the server's watcher looks for other processes' commits.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(2);
/// How long the CLI waits for a running server to confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// The server records what it has applied (write-then-rename, so a reader
/// never sees half a number).
pub fn record(data_dir: &Path, seq: i64) -> std::io::Result<()> {
    let tmp = data_dir.join(format!("{ACK_FILE}.tmp"));
    std::fs::write(&tmp, format!("{seq}\n"))?;
    std::fs::rename(&tmp, data_dir.join(ACK_FILE))
}

/// Forgets what an earlier server recorded (at start-up, before the map is
/// loaded, and by `restore`, whose database may count lower).
pub fn forget(data_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(data_dir.join(ACK_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn applied(data_dir: &Path) -> Option<i64> {
    std::fs::read_to_string(data_dir.join(ACK_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether a server holds the data dir (its lock is held exclusively).
pub fn server_running(data_dir: &Path) -> anyhow::Result<bool> {
    let lock = super::data_dir::serve_lock(data_dir)?;
    match lock.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("checking for a running server"),
    }
}

/// After the CLI committed credential change `seq`: returns once a running
/// server has applied it (at once when no server runs).
pub fn wait_for_server(data_dir: &Path, seq: i64) -> anyhow::Result<()> {
    if !server_running(data_dir)? {
        return Ok(());
    }
    let started = Instant::now();
    let mut polls = 0u32;
    while applied(data_dir).is_none_or(|a| a < seq) {
        // A server that stopped meanwhile has nothing left to confirm: the
        // next one loads the change from the database.
        polls += 1;
        if polls.is_multiple_of(100) && !server_running(data_dir)? {
            return Ok(());
        }
        if started.elapsed() > CONFIRM_TIMEOUT {
            bail!(
                "the change is saved, but the server running on {} did not confirm it within {} s, \
                 and until it does it may still accept what this changed: check its log and \
                 GET /health, or restart it",
                data_dir.display(),
                CONFIRM_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
