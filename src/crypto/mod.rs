//! Encryption at rest for secret values and channel credentials.
//!
//! XChaCha20-Poly1305 (RustCrypto, audited) with a random 192-bit nonce per
//! value. Every value is sealed with associated data naming where it
//! belongs (scope and name), so a ciphertext copied onto another workspace
//! or name fails to open. Each row records the id of the key that sealed
//! it, so several keys can be in play during and after a rotation.
//!
//! The master key is 32 random bytes, hex-encoded in a file: by default
//! `secrets.key` in the data dir, created with mode 0600 on first use. A
//! key file readable by group or others is refused. The key never enters
//! the database or the logs.

pub mod cipher;
pub mod keyfile;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::{bail, Context};

use cipher::MasterKey;
pub use cipher::{key_id, OpenError};
pub use keyfile::{pending_path, read_key_file, retired_path, write_key_file, RotationLock};

use crate::domain::secrets::Sealed;

pub const KEY_FILE: &str = "secrets.key";

/// The keys this process can use: one current key that seals, and any
/// older or pending keys found beside it, which only open.
pub struct Keyring {
    path: PathBuf,
    inner: RwLock<Inner>,
}

struct Inner {
    current: String,
    keys: HashMap<String, MasterKey>,
    /// The key file's mtime when loaded, to notice a rotation made by
    /// another process before sealing anything new.
    mtime: Option<std::time::SystemTime>,
}

/// Opens the configured key file. The default one in the data dir is
/// created on first use; a file the operator named must already exist.
pub fn open_configured(path: &Path, named: bool) -> anyhow::Result<Keyring> {
    if named && !path.exists() {
        bail!(
            "the secrets key file {} does not exist (--secrets-key-file / MOLECULE_SECRETS_KEY_FILE)",
            path.display()
        );
    }
    Keyring::open_or_create(path)
}

impl Keyring {
    /// Loads the key file at `path`, creating it (mode 0600) if it does not
    /// exist, plus any pending (`.new`) or retired (`.old`) key beside it.
    pub fn open_or_create(path: &Path) -> anyhow::Result<Keyring> {
        if !path.exists() {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS RNG: {e}"))?;
            write_key_file(path, &bytes)?;
        }
        let inner = load(path)?;
        Ok(Keyring {
            path: path.to_path_buf(),
            inner: RwLock::new(inner),
        })
    }

    /// Re-reads the key files (after another process rotated the key).
    pub fn reload(&self) -> anyhow::Result<()> {
        let inner = load(&self.path)?;
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = inner;
        Ok(())
    }

    pub fn current_id(&self) -> String {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).current.clone()
    }

    /// Seals under the current key (re-reading the key file first if
    /// another process has rotated it).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Sealed> {
        let on_disk = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if on_disk != self.inner.read().unwrap_or_else(|e| e.into_inner()).mtime {
            self.reload()?;
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let key = inner
            .keys
            .get(&inner.current)
            .context("the current key is not loaded")?;
        key.seal(plaintext, aad)
    }

    /// Seals under a specific key this ring holds (for rotation).
    pub fn seal_with_key(&self, key_id: &str, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Sealed> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let key = inner.keys.get(key_id).with_context(|| format!("no key {key_id}"))?;
        key.seal(plaintext, aad)
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        let attempt = |ring: &Keyring| {
            let inner = ring.inner.read().unwrap_or_else(|e| e.into_inner());
            let key = inner
                .keys
                .get(&sealed.key_id)
                .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
            key.open(sealed, aad)
        };
        match attempt(self) {
            // Another process may have rotated the key since we loaded it.
            Err(OpenError::UnknownKey(_)) if self.reload().is_ok() => attempt(self),
            other => other,
        }
    }

    /// Adds a key generated for a rotation, in memory only.
    pub fn add(&self, bytes: &[u8; 32]) -> String {
        let key = MasterKey::new(bytes);
        let id = key.id.clone();
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .insert(id.clone(), key);
        id
    }
}

fn load(path: &Path) -> anyhow::Result<Inner> {
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let current = MasterKey::new(&read_key_file(path)?);
    let mut inner = Inner {
        current: current.id.clone(),
        keys: HashMap::new(),
        mtime,
    };
    inner.keys.insert(current.id.clone(), current);
    for extra in [pending_path(path), retired_path(path)] {
        if extra.exists() {
            let key = MasterKey::new(&read_key_file(&extra)?);
            inner.keys.entry(key.id.clone()).or_insert(key);
        }
    }
    Ok(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_with_its_own_associated_data() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open_or_create(&dir.path().join(KEY_FILE)).unwrap();
        let sealed = ring.seal(b"sk-live-123", b"secret|ws-a|OPENAI_API_KEY").unwrap();
        assert_eq!(
            ring.open(&sealed, b"secret|ws-a|OPENAI_API_KEY").unwrap(),
            b"sk-live-123"
        );
        assert!(matches!(
            ring.open(&sealed, b"secret|ws-b|OPENAI_API_KEY"),
            Err(OpenError::Corrupt)
        ));
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open(&flipped, b"secret|ws-a|OPENAI_API_KEY"),
            Err(OpenError::Corrupt)
        ));
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let a = Keyring::open_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = Keyring::open_or_create(&path).unwrap();
        assert_eq!(a.current_id(), b.current_id());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::open_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
