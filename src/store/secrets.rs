//! Secret values: per workspace, or global (scope `global`). Stored
//! sealed; this module never sees a value in the clear.

use rusqlite::{params, Connection, Row};

use super::workspaces::SUBTREE;
use super::{StoreResult, WriteCtx};
use crate::domain::ids::WorkspaceId;
use crate::domain::secrets::Sealed;

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub scope: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Stores a sealed value. Returns true when it replaced an existing one.
pub fn put(ctx: &WriteCtx, scope: &str, name: &str, sealed: &Sealed) -> StoreResult<bool> {
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

fn sealed_at(r: &Row, from: usize) -> rusqlite::Result<Sealed> {
    Ok(Sealed {
        key_id: r.get(from)?,
        nonce: r.get(from + 1)?,
        ciphertext: r.get(from + 2)?,
    })
}

/// The sealed values of one scope, by name.
pub fn sealed_in(conn: &Connection, scope: &str) -> StoreResult<Vec<(String, Sealed)>> {
    let mut stmt = conn.prepare_cached("SELECT name, key_id, nonce, ciphertext FROM secrets WHERE scope = ?1")?;
    let rows = stmt
        .query_map([scope], |r| Ok((r.get(0)?, sealed_at(r, 1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every sealed value, as (scope, name, sealed): for a key rotation.
pub fn all_sealed(conn: &Connection) -> StoreResult<Vec<(String, String, Sealed)>> {
    let mut stmt = conn.prepare("SELECT scope, name, key_id, nonce, ciphertext FROM secrets")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, sealed_at(r, 2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Replaces a stored value's sealing (a key rotation), keeping its times.
pub fn reseal(ctx: &WriteCtx, scope: &str, name: &str, sealed: &Sealed) -> StoreResult<()> {
    ctx.execute(
        "UPDATE secrets SET key_id = ?3, nonce = ?4, ciphertext = ?5 WHERE scope = ?1 AND name = ?2",
        params![scope, name, sealed.key_id, sealed.nonce, sealed.ciphertext],
    )?;
    Ok(())
}

/// Removes the secrets of a workspace and all its live descendants (on
/// delete: no secret outlives its workspace at rest).
pub fn delete_subtree(ctx: &WriteCtx, root: WorkspaceId) -> StoreResult<usize> {
    Ok(ctx.execute(
        &format!(
            "{SUBTREE}
         DELETE FROM secrets WHERE scope IN (SELECT id FROM down)"
        ),
        [root],
    )?)
}
