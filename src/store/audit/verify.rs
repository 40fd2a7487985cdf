//! Checking the trail: every entry against its key and the one before it,
//! and the head against the anchor, a witness kept outside the database.

use rusqlite::Connection;

use super::{audit_row, entry_hash, AuditKeys, GENESIS};
use crate::store::StoreResult;

/// The head as a witness recorded it: the trail must still hold entry
/// `seq` with this hash, and every entry from `keyed_from` on must be keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: [u8; 32],
    pub keyed_from: Option<i64>,
}

/// What `audit verify` found. `id` is the first entry found wrong (or, for
/// a trail cut short, the first one missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        entries: u64,
        head: Option<(i64, [u8; 32])>,
    },
    Broken {
        id: i64,
        reason: String,
    },
}

fn bad(id: i64, reason: impl Into<String>) -> Verdict {
    Verdict::Broken {
        id,
        reason: reason.into(),
    }
}

fn broken(id: i64, reason: impl Into<String>) -> StoreResult<Verdict> {
    Ok(bad(id, reason))
}

/// Checks the whole trail. A trail with entries but none keyed is broken:
/// it is sealed on the box's first start, so only a rewrite makes one.
pub fn verify(conn: &Connection, keys: &AuditKeys, anchor: Option<&Anchor>) -> StoreResult<Verdict> {
    let (verdict, keyed) = walk(conn, keys, anchor)?;
    match verdict {
        Verdict::Intact { entries, .. } if entries > 0 && !keyed => broken(
            1,
            "no entry is sealed with the audit key (a trail is sealed on the first start)",
        ),
        v => Ok(v),
    }
}

/// Checks a trail from before the chain was keyed, as it was, before it is
/// sealed.
pub fn verify_unsealed(conn: &Connection, keys: &AuditKeys) -> StoreResult<Verdict> {
    Ok(walk(conn, keys, None)?.0)
}

/// The verdict, and whether any entry was keyed.
fn walk(conn: &Connection, keys: &AuditKeys, anchor: Option<&Anchor>) -> StoreResult<(Verdict, bool)> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, target, detail, client, prev_hash, hash, key_id FROM audit_log ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let (mut prev, mut prev_id, mut entries, mut keyed) = (GENESIS, 0i64, 0u64, false);
    let keyed_from = anchor.and_then(|a| a.keyed_from);
    while let Some(r) = rows.next()? {
        let row = audit_row(r)?;
        let (stored_prev, stored, key_id): ([u8; 32], [u8; 32], Option<String>) = (r.get(7)?, r.get(8)?, r.get(9)?);
        if row.id != prev_id + 1 {
            return Ok((bad(prev_id + 1, "this entry is missing"), keyed));
        }
        if stored_prev != prev {
            return Ok((bad(row.id, "does not link to the entry before it"), keyed));
        }
        let key = match &key_id {
            Some(id) => match keys.get(id) {
                Some(k) => Some((id.as_str(), k)),
                None => {
                    let why = format!("sealed with audit key {id}, which this box does not hold");
                    return Ok((bad(row.id, why), keyed));
                }
            },
            None if keyed || keyed_from.is_some_and(|from| row.id >= from) => {
                let why = "not sealed with the audit key, though the trail was keyed by then";
                return Ok((bad(row.id, why), keyed));
            }
            None => None,
        };
        keyed |= key.is_some();
        if entry_hash(key, &prev, &row) != stored {
            return Ok((bad(row.id, "its contents do not match its hash"), keyed));
        }
        if let Some(a) = anchor.filter(|a| a.seq == row.id) {
            if a.hash != stored {
                return Ok((bad(row.id, "differs from the entry the anchor witnessed"), keyed));
            }
        }
        (prev, prev_id, entries) = (stored, row.id, entries + 1);
    }
    if let Some(a) = anchor.filter(|a| a.seq > prev_id) {
        let why = format!("the trail ends at #{prev_id}, but the anchor witnessed #{}", a.seq);
        return Ok((bad(prev_id + 1, why), keyed));
    }
    let head = (prev_id > 0).then_some((prev_id, prev));
    Ok((Verdict::Intact { entries, head }, keyed))
}
