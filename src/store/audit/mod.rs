//! The audit trail: append-only, each entry chained to the one before by a
//! keyed blake3 hash over its fields. The key lives outside the database
//! (ops/audit_key.rs), so whoever holds only the database file cannot
//! recompute the chain after editing, inserting or deleting an entry; the
//! head is also witnessed outside it (the anchor, ops/anchor.rs), so
//! dropping the newest entries shows too. Entries written before the chain
//! was keyed (schema version 3 and older) keep their plain hashes and are
//! sealed by the first keyed entry, which chains to them.

mod verify;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

pub use verify::{verify, verify_unsealed, Anchor, Verdict};

use super::{StoreResult, WriteCtx};
use crate::domain::audit::{Action, Actor};

const GENESIS: [u8; 32] = [0; 32];

/// The audit keys this process holds: every key the trail was ever sealed
/// with, by id; the last one seals new entries.
#[derive(Clone)]
pub struct AuditKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("AuditKeys").field("ids", &ids).finish()
    }
}

impl AuditKeys {
    /// Keys oldest first; the last seals. At least one.
    pub fn new(keys: &[[u8; 32]]) -> Option<AuditKeys> {
        (!keys.is_empty()).then(|| AuditKeys {
            keys: keys.iter().map(|k| (key_id(k), *k)).collect(),
        })
    }

    pub fn current(&self) -> (&str, &[u8; 32]) {
        let (id, k) = &self.keys[self.keys.len() - 1];
        (id, k)
    }

    pub fn get(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys.iter().find(|(i, _)| i == id).map(|(_, k)| k)
    }
}

/// A key's public name: derived from it, revealing nothing of it.
pub fn key_id(key: &[u8; 32]) -> String {
    let d = blake3::derive_key("molecule-tenant audit key id v1", key);
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
    pub client: Option<String>,
}

/// The entry's hash: keyed (with the key's id hashed in) or, for entries
/// from before the chain was keyed, plain.
fn entry_hash(key: Option<(&str, &[u8; 32])>, prev: &[u8; 32], e: &AuditRow) -> [u8; 32] {
    let mut h = match key {
        Some((id, k)) => {
            let mut h = blake3::Hasher::new_keyed(k);
            h.update(id.as_bytes());
            h
        }
        None => blake3::Hasher::new(),
    };
    h.update(prev);
    h.update(&e.id.to_le_bytes());
    h.update(&e.at.to_le_bytes());
    // Length-prefixed so no two field lists hash the same bytes.
    for field in [
        Some(&e.actor),
        Some(&e.action),
        e.target.as_ref(),
        Some(&e.detail),
        e.client.as_ref(),
    ] {
        match field {
            Some(s) => {
                h.update(&[1]);
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => {
                h.update(&[0]);
            }
        }
    }
    *h.finalize().as_bytes()
}

/// The newest entry: its sequence number and hash.
pub fn head(conn: &Connection) -> StoreResult<Option<(i64, [u8; 32])>> {
    Ok(conn
        .prepare_cached("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Entry `seq`'s hash, if the trail holds it.
pub fn hash_at(conn: &Connection, seq: i64) -> StoreResult<Option<[u8; 32]>> {
    Ok(conn
        .prepare_cached("SELECT hash FROM audit_log WHERE id = ?1")?
        .query_row([seq], |r| r.get(0))
        .optional()?)
}

/// The first keyed entry's sequence number: entries from it on must all be
/// keyed.
pub fn keyed_from(conn: &Connection) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT min(id) FROM audit_log WHERE key_id IS NOT NULL")?
        .query_row([], |r| r.get(0))?)
}

/// The ids of the keys the trail was sealed with.
pub fn key_ids(conn: &Connection) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT key_id FROM audit_log WHERE key_id IS NOT NULL")?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    Ok(ids.collect::<Result<Vec<_>, _>>()?)
}

/// The ids of the audit keys a database file's trail was sealed with, read
/// without opening it for writing (before the key that opens it is known,
/// or from a backup). One older than version 4 has none.
pub fn key_ids_in_file(file: &std::path::Path) -> StoreResult<Vec<String>> {
    if !file.exists() {
        return Ok(Vec::new());
    }
    let conn = Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let keyed = conn
        .prepare("SELECT 1 FROM pragma_table_info('audit_log') WHERE name = 'key_id'")?
        .exists([])?;
    if !keyed {
        return Ok(Vec::new());
    }
    key_ids(&conn)
}

pub fn count(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM audit_log")?
        .query_row([], |r| r.get(0))?)
}

/// Appends an entry inside the caller's transaction, so the record and the
/// change it describes commit or roll back together. Never pass a secret.
pub fn append(
    ctx: &WriteCtx,
    actor: &Actor,
    action: Action,
    target: Option<&str>,
    mut detail: Value,
) -> StoreResult<()> {
    if let (Some(via), Some(d)) = (actor.via, detail.as_object_mut()) {
        d.entry("via").or_insert(Value::from(via));
    }
    let (prev_id, prev) = head(ctx)?.unwrap_or((0, GENESIS));
    let row = AuditRow {
        id: prev_id + 1,
        at: ctx.now,
        actor: actor.name.clone(),
        action: action.as_str().to_string(),
        target: target.map(str::to_string),
        detail: detail.to_string(),
        client: actor.client.clone(),
    };
    let (key_id, key) = ctx.audit_keys.current();
    let hash = entry_hash(Some((key_id, key)), &prev, &row);
    ctx.prepare_cached(
        "INSERT INTO audit_log (id, at, actor, action, target, detail, client, prev_hash, hash, key_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        row.id, row.at, row.actor, row.action, row.target, row.detail, row.client, prev, hash, key_id
    ])?;
    Ok(())
}

fn audit_row(r: &Row) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        detail: r.get(5)?,
        client: r.get(6)?,
    })
}

/// Newest first, strictly before the id `before` when given.
pub fn list(conn: &Connection, limit: i64, before: Option<i64>) -> StoreResult<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, action, target, detail, client FROM audit_log
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit], audit_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests;
