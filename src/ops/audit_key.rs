//! The audit key file: every key the trail was sealed with, one per line
//! (64 hex characters), oldest first; the last seals new entries. Kept
//! outside the database (default `audit.key` in the data dir, mode 0600),
//! so a copy of the database alone cannot forge the chain. Rotation appends
//! a key; old ones stay, to check the entries they sealed.
//!
//! Opening the database goes through here, so every process that writes
//! (the server and each CLI command) seals with the same key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;

use crate::domain::audit::{Action, Actor};
use crate::files::{check_private, lock_file, replace_private, with_suffix};
use crate::store::audit::{self, AuditKeys, Verdict};
use crate::store::Db;

pub const AUDIT_KEY_FILE: &str = "audit.key";
const HINT: &str = "(--audit-key-file / MOLECULE_AUDIT_KEY_FILE)";

/// The audit key file in force: the one the operator named, else the
/// default in the data dir.
pub fn path(data_dir: &Path, named: Option<&Path>) -> PathBuf {
    named.map_or_else(|| data_dir.join(AUDIT_KEY_FILE), Path::to_path_buf)
}

fn parse(path: &Path, text: &str) -> anyhow::Result<Vec<[u8; 32]>> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().map(str::trim).enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut k = [0u8; 32];
        let ok = line.len() == 64
            && k.iter_mut()
                .enumerate()
                .all(|(i, b)| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).map(|v| *b = v).is_ok());
        if !ok {
            bail!(
                "the audit key file {} line {}: not 64 hex characters {HINT}",
                path.display(),
                n + 1
            );
        }
        keys.push(k);
    }
    if keys.is_empty() {
        bail!("the audit key file {} holds no key {HINT}", path.display());
    }
    Ok(keys)
}

fn render(keys: &[[u8; 32]]) -> String {
    keys.iter()
        .map(|k| k.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect()
}

fn random_key() -> anyhow::Result<[u8; 32]> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| anyhow::anyhow!("OS RNG: {e}"))?;
    Ok(k)
}

fn read(path: &Path) -> anyhow::Result<Vec<[u8; 32]>> {
    check_private(path, "audit key file", HINT)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the audit key file {} {HINT}", path.display()))?;
    parse(path, &text)
}

/// The keys in the file now (for checking the trail).
pub fn read_keys(path: &Path) -> anyhow::Result<AuditKeys> {
    AuditKeys::new(&read(path)?).context("the audit key file holds no key")
}

/// The keys, and on a box's first start with keyed audit (no key file
/// yet) the pending file a fresh key was written to: it becomes the key
/// file only once the trail is sealed with it (`open_db`), so a trail is
/// sealed at most once, on the box's first start. Later, a trail with no
/// keyed entry is reported, never sealed: a copy of the database alone
/// cannot pass off rewritten history as the old unkeyed kind. A missing
/// key file is not replaced when the database holds keyed entries; a file
/// the operator named must exist.
fn load(
    path: &Path,
    named: bool,
    db_has_keyed: impl FnOnce() -> anyhow::Result<bool>,
) -> anyhow::Result<(AuditKeys, Option<PathBuf>)> {
    let mut first_start = None;
    let file = if path.exists() {
        path.to_path_buf()
    } else {
        if named {
            bail!("the audit key file {} does not exist {HINT}", path.display());
        }
        let pending = with_suffix(path, ".new");
        let _lock = lock_file(&with_suffix(path, ".lock"))?;
        if !pending.exists() {
            if db_has_keyed()? {
                bail!(
                    "the audit trail is sealed with a key, but the audit key file {} is missing; \
                     put it back (it is kept beside the database, not in it or in a backup) {HINT}",
                    path.display()
                );
            }
            replace_private(&pending, render(&[random_key()?]).as_bytes())
                .with_context(|| format!("creating the audit key file {} {HINT}", pending.display()))?;
        }
        first_start = Some(pending.clone());
        pending
    };
    Ok((read_keys(&file)?, first_start))
}

fn sealed_with(file: &Path) -> anyhow::Result<Vec<String>> {
    audit::key_ids_in_file(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))
}

fn has_keyed_entries(data_dir: &Path) -> anyhow::Result<bool> {
    Ok(!sealed_with(&data_dir.join(crate::store::DB_FILE))?.is_empty())
}

/// Refuses, before anything is replaced, a backup whose audit trail was
/// sealed with a key this box's audit key file does not hold.
pub fn check_backup(backup: &Path, data_dir: &Path, named: Option<&Path>) -> anyhow::Result<()> {
    let used = sealed_with(backup)?;
    if used.is_empty() {
        return Ok(());
    }
    let path = path(data_dir, named);
    if !path.exists() {
        bail!(
            "the backup's audit trail is sealed with key {}; put the audit key file that holds it at {} first {HINT}",
            used.join(", "),
            path.display()
        );
    }
    let keys = read_keys(&path)?;
    if let Some(missing) = used.iter().find(|id| keys.get(id).is_none()) {
        bail!(
            "the backup's audit trail is sealed with key {missing}, which {} does not hold {HINT}",
            path.display()
        );
    }
    Ok(())
}

/// Opens the database in `data_dir` with its audit key: the one way every
/// process opens it. Refuses keys that do not cover the trail; seals a
/// trail from before version 4 into the keyed chain (once).
pub fn open_db(data_dir: &Path, named: Option<&Path>, by: &Actor, now: i64) -> anyhow::Result<Db> {
    super::data_dir::check_owner(data_dir)?;
    let path = path(data_dir, named);
    // The keys first: an open that would fail for want of them leaves no
    // copy behind (a restart loop would otherwise fill backups/).
    let (keys, first_start) = load(&path, named.is_some(), || has_keyed_entries(data_dir))?;
    super::backup::keep_before_migrating(data_dir, now)?;
    let db = Db::open(data_dir, keys.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let used = db.read(audit::key_ids).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(missing) = used.iter().find(|id| keys.get(id).is_none()) {
        bail!(
            "the audit trail was sealed with key {missing}, which the audit key file {} does not hold {HINT}",
            path.display()
        );
    }
    if let Some(pending) = first_start {
        seal_legacy(&db, &keys, by, now)?;
        let _lock = lock_file(&with_suffix(&path, ".lock"))?;
        if pending.exists() {
            std::fs::rename(&pending, &path)
                .with_context(|| format!("moving the audit key into {}", path.display()))?;
            crate::files::sync_dir(&path);
        }
    }
    Ok(db)
}

/// On the first start with keyed audit, a trail written before is checked
/// once, as it was (plain hashes), and sealed: the first keyed entry
/// chains to its head and records the verdict, so later edits to it show.
fn seal_legacy(db: &Db, keys: &AuditKeys, by: &Actor, now: i64) -> anyhow::Result<()> {
    let unsealed = |c: &rusqlite::Connection| -> crate::store::StoreResult<bool> {
        Ok(audit::count(c)? > 0 && audit::keyed_from(c)?.is_none())
    };
    if !db.read(unsealed).map_err(|e| anyhow::anyhow!("{e}"))? {
        return Ok(());
    }
    db.write(now, |ctx| {
        // Re-checked under the writer lock: another process may have sealed.
        if !unsealed(ctx)? {
            return Ok(());
        }
        let verdict = match audit::verify_unsealed(ctx, keys)? {
            Verdict::Intact { entries, .. } => json!({"legacy_entries": entries, "legacy_chain": "intact"}),
            Verdict::Broken { id, reason } => json!({"legacy_chain": format!("broken at #{id}: {reason}")}),
        };
        audit::append(ctx, by, Action::AuditSeal, None, verdict)
    })
    .map_err(|e| anyhow::anyhow!("sealing the audit trail: {e}"))
}

/// Appends a new key to the file (the old ones stay, to check what they
/// sealed); returns (old id, new id). Writers pick it up on their next
/// start, the server within seconds.
pub fn rotate(path: &Path) -> anyhow::Result<(String, String)> {
    let _lock = lock_file(&with_suffix(path, ".lock"))?;
    let mut keys = read(path)?;
    let old = audit::key_id(&keys[keys.len() - 1]);
    let new = random_key()?;
    keys.push(new);
    replace_private(path, render(&keys).as_bytes())
        .with_context(|| format!("writing the audit key file {} {HINT}", path.display()))?;
    Ok((old, audit::key_id(&new)))
}

/// The keys in the file now, if it changed since `seen` (its mtime and
/// length): how a running server notices a rotation.
pub fn reload_if_changed(path: &Path, seen: &mut Option<(std::time::SystemTime, u64)>) -> Option<AuditKeys> {
    let meta = std::fs::metadata(path).ok()?;
    let now = (meta.modified().ok()?, meta.len());
    if *seen == Some(now) {
        return None;
    }
    let keys = read(path).ok().and_then(|k| AuditKeys::new(&k))?;
    *seen = Some(now);
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.key");
        let (k, pending) = load(&p, false, || Ok(false)).unwrap();
        std::fs::rename(pending.unwrap(), &p).unwrap();
        let first = k.current().0.to_string();
        let (old, new) = rotate(&p).unwrap();
        assert_eq!(old, first);
        let (k, pending) = load(&p, false, || Ok(false)).unwrap();
        assert!(pending.is_none());
        assert_eq!(k.current().0, new);
        assert!(k.get(&first).is_some());
        assert!(parse(&p, "zz\n").is_err() && parse(&p, "\n").is_err());
        // A lost key file is not silently replaced.
        std::fs::remove_file(&p).unwrap();
        assert!(load(&p, false, || Ok(true))
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(load(&dir.path().join("named.key"), true, || Ok(false)).is_err());
    }
}
