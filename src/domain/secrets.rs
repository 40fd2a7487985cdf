//! Secret values: their names and sizes, and the scope each belongs to.

use crate::domain::error::{Error, Result};
use crate::domain::ids::WorkspaceId;
use crate::domain::text::{EnvName, ENV_NAME_RULE};

pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Where a secret lives: one workspace, or every workspace (global).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Workspace(WorkspaceId),
}

impl Scope {
    /// How it is stored (and bound into the sealed value).
    pub fn key(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Workspace(id) => id.to_string(),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Workspace(_) => "workspace",
        }
    }
}

pub fn name(name: &str) -> Result<EnvName> {
    EnvName::parse(name).ok_or_else(|| {
        Error::invalid(format!(
            "key must match {ENV_NAME_RULE}: an upper-case letter, then upper-case letters, digits or _, at most 128 in all"
        ))
    })
}

/// Why a secret name or value is refused, naming the rule.
pub fn check(name_: &str, value: &str) -> Result<EnvName> {
    let n = name(name_)?;
    if value.is_empty() {
        return Err(Error::invalid(format!("{name_}: the value must not be empty")));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid(format!(
            "{name_}: the value must be at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(n)
}

/// A value sealed at rest, as stored: the id of the key that sealed it,
/// its nonce and its ciphertext.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The associated data that binds a secret value to where it belongs, so a
/// ciphertext copied onto another workspace or name fails to open.
pub fn aad(scope: &str, name: &str) -> Vec<u8> {
    format!("molecule-tenant/secret/v1\0{scope}\0{name}").into_bytes()
}
