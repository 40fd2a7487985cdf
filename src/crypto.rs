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

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::{bail, Context};

use crate::data_dir::with_suffix;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

pub const KEY_FILE: &str = "secrets.key";

/// A sealed value, as stored.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Why a value could not be opened. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no key with id {0} is available")]
    UnknownKey(String),
    #[error("the value does not authenticate (tampered with, moved, or sealed under another key)")]
    Corrupt,
}

struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    fn new(bytes: &[u8; 32]) -> MasterKey {
        MasterKey {
            id: key_id(bytes),
            cipher: XChaCha20Poly1305::new(Key::from_slice(bytes)),
        }
    }
}

/// A key's public id: derived from it, reveals nothing about it.
pub fn key_id(bytes: &[u8; 32]) -> String {
    hex(&blake3::derive_key("molecule-tenant secrets key id v1", bytes)[..8])
}

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

/// The key file names used around a rotation.
pub fn pending_path(path: &Path) -> PathBuf {
    with_suffix(path, ".new")
}

pub fn retired_path(path: &Path) -> PathBuf {
    with_suffix(path, ".old")
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
        seal_with(&inner.keys[&inner.current], plaintext, aad)
    }

    /// Seals under a specific key this ring holds (for rotation).
    pub fn seal_with_key(&self, key_id: &str, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Sealed> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let key = inner.keys.get(key_id).with_context(|| format!("no key {key_id}"))?;
        seal_with(key, plaintext, aad)
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        let attempt = |ring: &Keyring| {
            let inner = ring.inner.read().unwrap_or_else(|e| e.into_inner());
            let key = inner
                .keys
                .get(&sealed.key_id)
                .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
            if sealed.nonce.len() != 24 {
                return Err(OpenError::Corrupt);
            }
            key.cipher
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad,
                    },
                )
                .map_err(|_| OpenError::Corrupt)
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

fn seal_with(key: &MasterKey, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Sealed> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("OS RNG: {e}"))?;
    let ciphertext = key
        .cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .map_err(|_| anyhow::anyhow!("encryption failed"))?;
    Ok(Sealed {
        key_id: key.id.clone(),
        nonce: nonce.to_vec(),
        ciphertext,
    })
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

pub fn read_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    let hint = "(--secrets-key-file / MOLECULE_SECRETS_KEY_FILE)";
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the secrets key file {} {hint}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the secrets key file {} is readable by group or others (mode {:o}); run chmod 600 on it {hint}",
                path.display(),
                mode & 0o777
            );
        }
    }
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
    sync_dir(path);
    Ok(())
}

/// An exclusive lock beside the key file, held for a whole rotation so
/// that no other rotation, and no start-up recovery, touches the key files
/// meanwhile. Released when dropped.
pub struct RotationLock(#[allow(dead_code)] std::fs::File);

fn lock_file(path: &Path) -> anyhow::Result<std::fs::File> {
    crate::data_dir::lock_file(&with_suffix(path, ".lock"))
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
/// Makes a rename or create in the key file's directory durable.
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
