//! The audit trail: append-only, each entry chained to the one before by a
//! blake3 hash over its fields, so an edited, inserted or deleted row
//! breaks `molecule-tenant audit verify`.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::{StoreResult, WriteCtx};
use crate::domain::audit::{Action, Actor};

const GENESIS: [u8; 32] = [0; 32];

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

fn entry_hash(prev: &[u8; 32], e: &AuditRow) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
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

/// Appends an entry inside the caller's transaction, so the record and the
/// change it describes commit or roll back together. Never pass a secret.
pub fn append(ctx: &WriteCtx, actor: &Actor, action: Action, target: Option<&str>, detail: Value) -> StoreResult<()> {
    let last: Option<(i64, [u8; 32])> = ctx
        .prepare_cached("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (prev_id, prev) = last.unwrap_or((0, GENESIS));
    let row = AuditRow {
        id: prev_id + 1,
        at: ctx.now,
        actor: actor.name.clone(),
        action: action.as_str().to_string(),
        target: target.map(str::to_string),
        detail: detail.to_string(),
        client: actor.client.clone(),
    };
    let hash = entry_hash(&prev, &row);
    ctx.prepare_cached(
        "INSERT INTO audit_log (id, at, actor, action, target, detail, client, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.id, row.at, row.actor, row.action, row.target, row.detail, row.client, prev, hash
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

/// What `audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact { entries: u64 },
    Broken { id: i64, reason: &'static str },
}

pub fn verify(conn: &Connection) -> StoreResult<Verdict> {
    let mut stmt = conn
        .prepare("SELECT id, at, actor, action, target, detail, client, prev_hash, hash FROM audit_log ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let (mut prev, mut prev_id, mut entries) = (GENESIS, 0i64, 0u64);
    while let Some(r) = rows.next()? {
        let row = audit_row(r)?;
        let (stored_prev, stored): ([u8; 32], [u8; 32]) = (r.get(7)?, r.get(8)?);
        if row.id != prev_id + 1 {
            return Ok(Verdict::Broken {
                id: row.id,
                reason: "an entry before this one is missing",
            });
        }
        if stored_prev != prev {
            return Ok(Verdict::Broken {
                id: row.id,
                reason: "does not link to the entry before it",
            });
        }
        if entry_hash(&prev, &row) != stored {
            return Ok(Verdict::Broken {
                id: row.id,
                reason: "its contents do not match its hash",
            });
        }
        (prev, prev_id, entries) = (stored, row.id, entries + 1);
    }
    Ok(Verdict::Intact { entries })
}
