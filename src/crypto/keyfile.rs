//! Key files: 64 hex characters (32 bytes), mode 0600, written durably
//! and atomically; and the lock held for a whole rotation.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::cipher::hex;
use crate::files::{check_private, lock_file as open_lock, with_suffix};

/// The key file names used around a rotation.
pub fn pending_path(path: &Path) -> PathBuf {
    with_suffix(path, ".new")
}

pub fn retired_path(path: &Path) -> PathBuf {
    with_suffix(path, ".old")
}

pub fn read_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    let hint = "(--secrets-key-file / MOLECULE_SECRETS_KEY_FILE)";
    check_private(path, "secrets key file", hint)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secrets key file {} {hint}", path.display()))?;
    let text = text.trim();
    if text.len() != 64 {
        bail!(
            "the secrets key file {} must hold 64 hex characters (32 bytes) {hint}",
            path.display()
        );
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .with_context(|| format!("the secrets key file {} is not hex {hint}", path.display()))?;
    }
    Ok(out)
}

/// Writes a key file with mode 0600, durably and atomically (a temporary
/// file renamed into place, so no reader ever sees a half-written key),
/// refusing to replace an existing one.
pub fn write_key_file(path: &Path, bytes: &[u8; 32]) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "the secrets key file {} already exists; refusing to overwrite it",
            path.display()
        );
    }
    let tmp = with_suffix(path, ".tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).with_context(|| {
        format!(
            "creating the secrets key file {} (--secrets-key-file / MOLECULE_SECRETS_KEY_FILE)",
            path.display()
        )
    })?;
    writeln!(f, "{}", hex(bytes))?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("moving the new key into {}", path.display()))?;
    crate::files::sync_dir(path);
    Ok(())
}

/// An exclusive lock beside the key file, held for a whole rotation so
/// that no other rotation, and no start-up recovery, touches the key files
/// meanwhile. Released when dropped.
pub struct RotationLock(#[allow(dead_code)] std::fs::File);

fn lock_file(path: &Path) -> anyhow::Result<std::fs::File> {
    open_lock(&with_suffix(path, ".lock"))
}

impl RotationLock {
    /// Waits for the lock.
    pub fn acquire(path: &Path) -> anyhow::Result<RotationLock> {
        let f = lock_file(path)?;
        f.lock().context("locking the secrets key for rotation")?;
        Ok(RotationLock(f))
    }

    /// The lock if nobody holds it; None while a rotation runs.
    pub fn try_acquire(path: &Path) -> anyhow::Result<Option<RotationLock>> {
        let f = lock_file(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(RotationLock(f))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e).context("locking the secrets key"),
        }
    }
}
