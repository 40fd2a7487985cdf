//! The audit anchor: the trail's head (sequence number and hash, and where
//! keyed entries begin) written outside the database, in `audit.anchor`
//! in the data dir. Whoever rewrites or cuts the database must also rewrite
//! this file; a witness that copied the head elsewhere (a scraper of
//! `/metrics`, a log) catches even that. The server writes it within a
//! second of a commit (its flusher), each CLI command as it finishes. It
//! only moves forward: a head behind it is left for `audit verify` to
//! report, never recorded over it.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::files::{lock_file, replace_private, with_suffix};
use crate::store::audit::{self, Anchor};
use crate::store::Db;

pub const ANCHOR_FILE: &str = "audit.anchor";

#[derive(Serialize, Deserialize)]
struct OnDisk {
    seq: i64,
    hash: String,
    keyed_from: Option<i64>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The anchor, if one was written.
pub fn read(data_dir: &Path) -> anyhow::Result<Option<Anchor>> {
    let path = data_dir.join(ANCHOR_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let d: OnDisk = serde_json::from_str(&text).with_context(|| format!("{} is not an anchor", path.display()))?;
    let hash = unhex(&d.hash).with_context(|| format!("{}: the hash is not 64 hex characters", path.display()))?;
    Ok(Some(Anchor {
        seq: d.seq,
        hash,
        keyed_from: d.keyed_from,
    }))
}

fn write(data_dir: &Path, a: &Anchor) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&OnDisk {
        seq: a.seq,
        hash: hex(&a.hash),
        keyed_from: a.keyed_from,
    })?;
    replace_private(&data_dir.join(ANCHOR_FILE), &body)
}

/// The database's head, as an anchor would record it.
pub fn head(db: &Db) -> anyhow::Result<Option<Anchor>> {
    db.read(|c| {
        let Some((seq, hash)) = audit::head(c)? else {
            return Ok(None);
        };
        Ok(Some(Anchor {
            seq,
            hash,
            keyed_from: audit::keyed_from(c)?,
        }))
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Records the database's head if it extends the anchor: it is further on,
/// and the trail still holds the anchored entry unchanged. A trail cut
/// short and written on since (its numbers reused) does not; the anchor
/// then stays, for `audit verify` to report. Returns the anchor in force.
pub fn record(db: &Db, data_dir: &Path) -> anyhow::Result<Option<Anchor>> {
    let _lock = lock_file(&with_suffix(&data_dir.join(ANCHOR_FILE), ".lock"))?;
    let on_disk = read(data_dir)?;
    let Some(now) = head(db)? else {
        return Ok(on_disk);
    };
    if let Some(a) = on_disk {
        if a.seq >= now.seq {
            return Ok(Some(a));
        }
        let held = db
            .read(|c| audit::hash_at(c, a.seq))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if held != Some(a.hash) {
            tracing::error!(
                anchored = a.seq,
                "the audit trail no longer holds the entry its anchor witnessed; run `audit verify`"
            );
            return Ok(Some(a));
        }
    }
    write(data_dir, &now)?;
    Ok(Some(now))
}

/// Records the head whatever the anchor said: after a restore, which
/// rewinds the trail on purpose (and records that it did).
pub fn reset(db: &Db, data_dir: &Path) -> anyhow::Result<()> {
    let _lock = lock_file(&with_suffix(&data_dir.join(ANCHOR_FILE), ".lock"))?;
    match head(db)? {
        Some(a) => write(data_dir, &a),
        None => match std::fs::remove_file(data_dir.join(ANCHOR_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        },
    }
}
