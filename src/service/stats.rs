//! What `/metrics` reports beyond request counts: credentials, workspaces
//! by status, pending approvals, failed authentications.

use std::collections::BTreeMap;

use super::{App, Principal};
use crate::domain::authz::Failure;
use crate::domain::ids::WorkspaceId;
use crate::domain::key_policy::WARN_DAYS;
use crate::domain::role::Role;
use crate::domain::workspace::Status;
use crate::domain::Result;
use crate::store::{audit, stats};

pub struct Gauges {
    /// (org keys, workspace tokens, browser sessions), live and unexpired.
    pub credentials: (usize, usize, usize),
    pub workspaces: BTreeMap<&'static str, u64>,
    pub idle: u64,
    pub pending_approvals: i64,
    pub failures: Vec<(Failure, u64)>,
    /// The audit trail's head (its sequence number is also its length:
    /// entries are never deleted).
    pub audit_head: Option<(i64, [u8; 32])>,
    /// The database file's size, in bytes.
    pub database_bytes: i64,
    /// Org keys expiring within each warning window: (days, count).
    pub expiring: Vec<(i64, i64)>,
    /// Requests dropped from keys' activity logs (a flood past the buffer).
    pub activity_dropped: u64,
    /// Commits the credential follower looked at: (nothing new, applied).
    pub followed: (u64, u64),
}

pub async fn gauges(app: &App, who: Principal) -> Result<Gauges> {
    who.org_wide(Role::ReadOnly)?;
    let now = app.now();
    let t = app.settings.thresholds();
    let beats = app.beats.clone();
    let (workspaces, idle, pending, audit_head, database_bytes, expiring) = app
        .read(move |conn| {
            let held = beats.held();
            let mut by_status: BTreeMap<&'static str, u64> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
            let mut idle = 0;
            stats::each_liveness(conn, |id, mut w| {
                // A newer heartbeat held in memory wins over the row.
                if let Some(b) = WorkspaceId::parse(id).and_then(|id| held.get(id)) {
                    w.last_heartbeat_at = Some(b.at);
                    w.idle_since = b.idle_since;
                    w.active_tasks = b.report.active_tasks;
                }
                let (status, is_idle) = w.status(now, t);
                *by_status.entry(status.as_str()).or_default() += 1;
                idle += u64::from(is_idle);
            })?;
            Ok((
                by_status,
                idle,
                stats::pending_approvals(conn, now)?,
                audit::head(conn)?,
                stats::database_bytes(conn)?,
                WARN_DAYS
                    .iter()
                    .map(|d| Ok((*d, stats::keys_expiring(conn, now, d * 24 * 3600 * 1000)?)))
                    .collect::<Result<Vec<_>>>()?,
            ))
        })
        .await?;
    Ok(Gauges {
        credentials: app.creds.live_by_kind(now),
        workspaces,
        idle,
        pending_approvals: pending,
        failures: Failure::ALL.iter().map(|f| (*f, app.failures.total(*f))).collect(),
        audit_head,
        database_bytes,
        expiring,
        activity_dropped: app.activity.dropped(),
        followed: app.creds.followed(),
    })
}
