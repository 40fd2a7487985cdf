//! Reading the audit trail, and checking it.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{App, Principal};
use crate::domain::authz;
use crate::domain::time::Time;
use crate::domain::{Error, Result};
use std::path::Path;

use crate::domain::audit::{Action, Actor};
use crate::domain::role::Role;
use crate::ops::{anchor, audit_key};
use crate::store::audit::{self, Anchor, Verdict};
use crate::store::Db;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

/// Newest first, paged by id.
pub async fn list(app: &App, who: Principal, q: AuditQuery) -> Result<Value> {
    authz::may_read_audit(&who.grant())?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let before = q.before;
    let (rows, head) = app
        .read(move |conn| Ok((audit::list(conn, limit, before)?, audit::head(conn)?)))
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "at": Time(r.at), "actor": r.actor, "action": r.action,
                "target": r.target, "client": r.client,
                "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(json!({ "entries": entries, "next_before": next, "head": head.map(head_json) }))
}

/// The head as a witness keeps it: a scraper or a log that records this
/// can later show the trail was cut or rewritten.
fn head_json((seq, hash): (i64, [u8; 32])) -> Value {
    json!({ "seq": seq, "hash": hex(&hash) })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The verdict on the chain, against the audit keys and the anchor.
pub struct Checked {
    pub verdict: Verdict,
    pub anchor: Option<Anchor>,
}

/// Checks the trail: every entry against its key and the one before it,
/// and the head against the anchor.
pub fn check(db: &Db, data_dir: &Path, key_file: &Path) -> Result<Checked> {
    let anchor = anchor::read(data_dir).map_err(Error::internal)?;
    // The file as it is now: a rotation by another process may be newer
    // than the keys this one holds.
    let keys = audit_key::read_keys(key_file).unwrap_or_else(|_| (*db.audit_keys()).clone());
    let verdict = db.read(|c| audit::verify(c, &keys, anchor.as_ref()))?;
    Ok(Checked { verdict, anchor })
}

/// `GET /org/audit/verify`: the same check as `audit verify` on the box.
pub async fn verify(app: &App, who: Principal) -> Result<Value> {
    who.org_wide(Role::Admin)?;
    let (db, dir) = (app.db.clone(), app.settings.data_dir.clone());
    let key_file = audit_key::path(&dir, app.settings.audit_key_file.as_deref());
    let checked = app.compute(move || check(&db, &dir, &key_file)).await?;
    Ok(checked_json(&checked))
}

pub fn checked_json(c: &Checked) -> Value {
    let anchor = c.anchor.map(|a| json!({ "seq": a.seq, "hash": hex(&a.hash) }));
    match &c.verdict {
        Verdict::Intact { entries, head } => json!({
            "intact": true, "entries": entries, "head": head.map(head_json), "anchor": anchor,
        }),
        Verdict::Broken { id, reason } => json!({
            "intact": false, "broken_at": id, "reason": reason, "anchor": anchor,
        }),
    }
}

/// Records an audit key rotation, sealed with the new key: from here on,
/// entries before it are covered by a key the old one cannot forge.
pub fn record_rotation(db: &Db, old: &str, new: &str, now: i64) -> Result<()> {
    let detail = json!({ "from": old, "to": new });
    db.write_with(now, |ctx| {
        Ok(audit::append(ctx, &Actor::cli(), Action::AuditKeyRotate, None, detail)?)
    })
}

/// Records a restore on the trail it brought back, then takes its head as
/// the anchor (the rewind was the operator's doing, and is on record). A
/// backup from before the chain was keyed is checked as it was, and the
/// verdict recorded: this entry seals it.
pub fn record_restore(db: &Db, data_dir: &Path, from: &str, now: i64) -> Result<()> {
    let keys = db.audit_keys();
    db.write_with(now, |ctx| -> Result<()> {
        let mut detail = json!({ "from": from });
        if audit::count(ctx)? > 0 && audit::keyed_from(ctx)?.is_none() {
            detail["legacy_chain"] = match audit::verify_unsealed(ctx, &keys)? {
                Verdict::Intact { .. } => json!("intact"),
                Verdict::Broken { id, reason } => json!(format!("broken at #{id}: {reason}")),
            };
        }
        Ok(audit::append(
            ctx,
            &Actor::cli(),
            Action::DatabaseRestore,
            None,
            detail,
        )?)
    })?;
    anchor::reset(db, data_dir).map_err(Error::internal)
}

/// Records one MCP tool call as the key that made it, whatever became of
/// it: the tool, the workspace it named, and how it ended. (A write the
/// call made has its own entry too, marked `via: mcp`.)
pub async fn record_tool_call(
    app: &App,
    who: Principal,
    tool: &str,
    target: Option<String>,
    outcome: std::result::Result<(), &Error>,
) -> Result<()> {
    let detail = match outcome {
        Ok(()) => json!({ "tool": tool, "ok": true }),
        Err(e) => json!({ "tool": tool, "ok": false, "code": e.code.as_str() }),
    };
    // Not re-checked as a write's caller is: the call was made by a live
    // key, and a call that revoked that very key must still be on record.
    let actor = who.actor();
    app.write_unauthenticated(move |ctx| {
        Ok(audit::append(
            ctx,
            &actor,
            Action::McpToolCall,
            target.as_deref(),
            detail,
        )?)
    })
    .await
}
