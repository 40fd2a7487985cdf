//! Secret values: per workspace, or global. Stored sealed; opened only for
//! the agent route and for key rotation.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use super::workspaces::SUBTREE;
use super::{StoreError, StoreResult, WriteCtx};
use crate::crypto::{Keyring, Sealed};

pub const GLOBAL: &str = "global";

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub scope: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The associated data that binds a value to where it belongs.
pub fn aad(scope: &str, name: &str) -> Vec<u8> {
    format!("molecule-tenant/secret/v1\0{scope}\0{name}").into_bytes()
}

/// Seals and stores a value. Returns true when it replaced an existing one.
pub fn put(ctx: &WriteCtx, ring: &Keyring, scope: &str, name: &str, value: &str) -> StoreResult<bool> {
    let sealed = ring
        .seal(value.as_bytes(), &aad(scope, name))
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let existed = ctx
        .prepare_cached("SELECT 1 FROM secrets WHERE scope = ?1 AND name = ?2")?
        .exists(params![scope, name])?;
    ctx.prepare_cached(
        "INSERT INTO secrets (scope, name, key_id, nonce, ciphertext, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (scope, name) DO UPDATE SET key_id = ?3, nonce = ?4, ciphertext = ?5, updated_at = ?6",
    )?
    .execute(params![
        scope,
        name,
        sealed.key_id,
        sealed.nonce,
        sealed.ciphertext,
        ctx.now
    ])?;
    Ok(existed)
}

pub fn delete(ctx: &WriteCtx, scope: &str, name: &str) -> StoreResult<bool> {
    Ok(ctx.execute(
        "DELETE FROM secrets WHERE scope = ?1 AND name = ?2",
        params![scope, name],
    )? == 1)
}

/// Names and times in one scope, sorted by name. Never values.
pub fn list(conn: &Connection, scope: &str) -> StoreResult<Vec<SecretMeta>> {
    let mut stmt =
        conn.prepare_cached("SELECT scope, name, created_at, updated_at FROM secrets WHERE scope = ?1 ORDER BY name")?;
    let rows = stmt
        .query_map([scope], |r| {
            Ok(SecretMeta {
                scope: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn sealed_in(conn: &Connection, scope: &str) -> StoreResult<Vec<(String, Sealed)>> {
    let mut stmt = conn.prepare_cached("SELECT name, key_id, nonce, ciphertext FROM secrets WHERE scope = ?1")?;
    let rows = stmt
        .query_map([scope], |r| {
            Ok((
                r.get(0)?,
                Sealed {
                    key_id: r.get(1)?,
                    nonce: r.get(2)?,
                    ciphertext: r.get(3)?,
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every value a workspace sees, opened: globals first, its own on top.
/// All or nothing: if any value fails to open, the error names every
/// failing one as `scope:NAME` and no value is returned.
pub fn open_for_workspace(
    conn: &Connection,
    ring: &Keyring,
    workspace_id: &str,
) -> StoreResult<Result<BTreeMap<String, String>, Vec<String>>> {
    let mut values = BTreeMap::new();
    let mut failed = Vec::new();
    for (label, scope) in [("global", GLOBAL), ("workspace", workspace_id)] {
        for (name, sealed) in sealed_in(conn, scope)? {
            match ring.open(&sealed, &aad(scope, &name)).map(String::from_utf8) {
                Ok(Ok(v)) => {
                    values.insert(name, v);
                }
                _ => failed.push(format!("{label}:{name}")),
            }
        }
    }
    Ok(if failed.is_empty() { Ok(values) } else { Err(failed) })
}

/// The values of one scope that open (for `${VAR}` in org imports; a
/// value that fails to open is left out and its reference stays unresolved).
pub fn open_scope(conn: &Connection, ring: &Keyring, scope: &str) -> StoreResult<BTreeMap<String, String>> {
    Ok(sealed_in(conn, scope)?
        .into_iter()
        .filter_map(|(name, sealed)| {
            let value = String::from_utf8(ring.open(&sealed, &aad(scope, &name)).ok()?).ok()?;
            Some((name, value))
        })
        .collect())
}

/// Removes the secrets of a workspace and all its live descendants (on
/// delete: no secret outlives its workspace at rest).
pub fn delete_subtree(ctx: &WriteCtx, root: &str) -> StoreResult<usize> {
    Ok(ctx.execute(
        &format!(
            "{SUBTREE}
         DELETE FROM secrets WHERE scope IN (SELECT id FROM down)"
        ),
        [root],
    )?)
}

/// Re-seals every value under `new_key`; returns how many. Fails whole if
/// any value cannot be opened, so a rotation never drops a value.
pub fn reseal_all(ctx: &WriteCtx, ring: &Keyring, new_key: &str) -> StoreResult<usize> {
    let rows: Vec<(String, String, Sealed)> = {
        let mut stmt = ctx.prepare("SELECT scope, name, key_id, nonce, ciphertext FROM secrets")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    Sealed {
                        key_id: r.get(2)?,
                        nonce: r.get(3)?,
                        ciphertext: r.get(4)?,
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows
    };
    for (scope, name, sealed) in &rows {
        let aad = aad(scope, name);
        let plain = ring
            .open(sealed, &aad)
            .map_err(|e| StoreError::Other(format!("secret {scope}:{name}: {e}")))?;
        let fresh = ring
            .seal_with_key(new_key, &plain, &aad)
            .map_err(|e| StoreError::Other(e.to_string()))?;
        ctx.execute(
            "UPDATE secrets SET key_id = ?3, nonce = ?4, ciphertext = ?5 WHERE scope = ?1 AND name = ?2",
            params![scope, name, fresh.key_id, fresh.nonce, fresh.ciphertext],
        )?;
    }
    Ok(rows.len())
}
