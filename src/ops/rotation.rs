//! `rotate-secrets-key`: re-seal every secret and channel credential under
//! a new master key, so that nothing is lost if it is interrupted.
//!
//! 1. The new key is written, durably, to `<key file>.new`.
//! 2. One transaction re-seals every value under it (all or nothing).
//! 3. The old key is copied to `<key file>.old`, then `.new` is renamed
//!    over the key file.
//!
//! A crash before 2 commits leaves every row under the old key and a
//! `.new` file no row uses: `recover` deletes it. A crash after 2 leaves
//! rows under the new key: `recover` finishes step 3. A running server
//! opens rows under either key meanwhile, since its keyring loads the
//! `.new` and `.old` files beside the key file.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::crypto::{self, pending_path, retired_path, Keyring, RotationLock};
use crate::domain::audit::{Action, Actor};
use crate::domain::{channels::aad as channel_aad, secrets::aad as secret_aad};
use crate::store::{audit, channels, secrets, stats, Db, WriteCtx};

fn rows_under(db: &Db, key_id: &str) -> anyhow::Result<i64> {
    db.read(|c| stats::sealed_values(c, Some(key_id)))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Re-seals every secret and channel credential under `new_key`; returns
/// how many of each. Fails whole if any value cannot be opened, so a
/// rotation never drops a value.
fn reseal_all(ctx: &WriteCtx, ring: &Keyring, new_key: &str) -> anyhow::Result<(usize, usize)> {
    let all = secrets::all_sealed(ctx)?;
    for (scope, name, sealed) in &all {
        let aad = secret_aad(scope, name);
        let plain = ring
            .open(sealed, &aad)
            .map_err(|e| anyhow::anyhow!("secret {scope}:{name}: {e}"))?;
        secrets::reseal(ctx, scope, name, &ring.seal_with_key(new_key, &plain, &aad)?)?;
    }
    let chans = channels::all(ctx)?;
    for row in &chans {
        let aad = channel_aad(&row.id.to_string(), &row.workspace_id.to_string());
        let plain = ring
            .open(&row.sealed, &aad)
            .map_err(|e| anyhow::anyhow!("channel {}: {e}", row.id))?;
        channels::reseal(ctx, row.id, &ring.seal_with_key(new_key, &plain, &aad)?)?;
    }
    Ok((all.len(), chans.len()))
}

/// Finishes or undoes a rotation that was interrupted. A rotation still
/// running in another process holds the lock: then nothing is touched (the
/// keyring loads its `.new` key anyway, so every row stays readable).
pub fn recover(db: &Db, path: &Path) -> anyhow::Result<()> {
    if !pending_path(path).exists() {
        return Ok(());
    }
    match RotationLock::try_acquire(path)? {
        Some(_held) => recover_locked(db, path),
        None => Ok(()),
    }
}

fn recover_locked(db: &Db, path: &Path) -> anyhow::Result<()> {
    let pending = pending_path(path);
    if !pending.exists() {
        return Ok(());
    }
    let new_id = crypto::key_id(&crypto::read_key_file(&pending)?);
    if rows_under(db, &new_id)? > 0 {
        tracing::warn!("finishing an interrupted secrets key rotation");
        swap_in(path)
    } else {
        tracing::warn!("discarding the new key of a secrets key rotation that never committed");
        std::fs::remove_file(&pending).with_context(|| format!("removing {}", pending.display()))
    }
}

fn swap_in(path: &Path) -> anyhow::Result<()> {
    let (pending, retired) = (pending_path(path), retired_path(path));
    if path.exists() {
        let old = crypto::read_key_file(path)?;
        if retired.exists() {
            std::fs::remove_file(&retired)?;
        }
        crypto::write_key_file(&retired, &old)?;
    }
    std::fs::rename(&pending, path)
        .with_context(|| format!("renaming {} over {}", pending.display(), path.display()))?;
    crate::files::sync_dir(path);
    Ok(())
}

pub struct Rotated {
    pub old_key: String,
    pub new_key: String,
    pub secrets: usize,
    pub channels: usize,
}

pub fn rotate(db: &Db, path: &Path, now: i64) -> anyhow::Result<Rotated> {
    let _held = RotationLock::acquire(path)?;
    recover_locked(db, path)?;
    if !path.exists() && rows_sealed(db)? > 0 {
        anyhow::bail!(
            "the secrets key file {} is missing while values are sealed under it; restore it first",
            path.display()
        );
    }
    let ring = Keyring::open_or_create(path)?;
    let old_key = ring.current_id();
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS RNG: {e}"))?;
    crypto::write_key_file(&pending_path(path), &bytes)?;
    let new_key = ring.add(&bytes);
    let resealed = db.write_with(now, |ctx| -> anyhow::Result<_> {
        let (s, c) = reseal_all(ctx, &ring, &new_key)?;
        let detail = json!({"old_key_id": old_key, "new_key_id": new_key, "secrets": s, "channels": c});
        audit::append(ctx, &Actor::cli(), Action::SecretsKeyRotate, None, detail)?;
        Ok((s, c))
    });
    let (secrets, channels) = match resealed {
        Ok(done) => done,
        Err(e) => {
            // Nothing was committed; the new key must not linger.
            let _ = std::fs::remove_file(pending_path(path));
            return Err(e.context("re-sealing under the new key; nothing was changed"));
        }
    };
    if let Err(e) = swap_in(path) {
        // Every row is now under the new key, which must not be lost: put
        // it in place from memory, whatever state the files are in.
        let _ = std::fs::remove_file(path);
        crypto::write_key_file(path, &bytes).context("writing the new key after a failed swap")?;
        tracing::warn!(error = %e, "the key files were repaired after a failed swap");
    }
    Ok(Rotated {
        old_key,
        new_key,
        secrets,
        channels,
    })
}

/// Opens the keyring `serve` uses: finishes an interrupted rotation first,
/// and refuses to start with a fresh key while values are sealed under a
/// key file that has gone missing (they could never be opened again).
pub fn open_keyring(db: &Db, path: &Path, named: bool) -> anyhow::Result<Keyring> {
    recover(db, path)?;
    if !path.exists() {
        let sealed = rows_sealed(db)?;
        if sealed > 0 {
            anyhow::bail!(
                "the secrets key file {} is missing but {sealed} value(s) are sealed under it; restore the file \
                 (--secrets-key-file / MOLECULE_SECRETS_KEY_FILE) rather than start with a new key",
                path.display()
            );
        }
    }
    crypto::open_configured(path, named)
}

fn rows_sealed(db: &Db) -> anyhow::Result<i64> {
    db.read(|c| stats::sealed_values(c, None))
        .map_err(|e| anyhow::anyhow!("{e}"))
}
