//! The cipher: XChaCha20-Poly1305 (RustCrypto, audited) with a random
//! 192-bit nonce per value, under a 32-byte master key. No file I/O here.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use crate::domain::secrets::Sealed;

/// Why a value could not be opened. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no key with id {0} is available")]
    UnknownKey(String),
    #[error("the value does not authenticate (tampered with, moved, or sealed under another key)")]
    Corrupt,
}

pub struct MasterKey {
    pub id: String,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    pub fn new(bytes: &[u8; 32]) -> MasterKey {
        MasterKey {
            id: key_id(bytes),
            cipher: XChaCha20Poly1305::new(Key::from_slice(bytes)),
        }
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Sealed> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("OS RNG: {e}"))?;
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok(Sealed {
            key_id: self.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.nonce.len() != 24 {
            return Err(OpenError::Corrupt);
        }
        self.cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| OpenError::Corrupt)
    }
}

/// A key's public id: derived from it, reveals nothing about it.
pub fn key_id(bytes: &[u8; 32]) -> String {
    hex(&blake3::derive_key("molecule-tenant secrets key id v1", bytes)[..8])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
