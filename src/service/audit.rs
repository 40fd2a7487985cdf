//! Reading the audit trail, and checking it.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{App, Principal};
use crate::domain::authz;
use crate::domain::time::Time;
use crate::domain::{Error, Result};
use crate::store::audit::{self, Verdict};
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
    let rows = app.read(move |conn| Ok(audit::list(conn, limit, before)?)).await?;
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
    Ok(json!({ "entries": entries, "next_before": next }))
}

/// `audit verify` on the box.
pub fn verify_on_box(db: &Db) -> Result<Verdict> {
    Ok(db.read(audit::verify)?)
}
