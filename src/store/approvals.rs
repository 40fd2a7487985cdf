//! Approvals: an agent asks, a person (through an org key) decides.
//!
//! A pending approval past its `expires_at` reads as denied by "expired";
//! the row is never rewritten by a read, and `decide` refuses it.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::{StoreResult, WriteCtx};
use crate::domain::approvals::{self, Status};
use crate::domain::ids::{ApprovalId, WorkspaceId};

#[derive(Debug, Clone)]
pub struct ApprovalRow {
    pub id: ApprovalId,
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub task_id: Option<String>,
    pub action: String,
    pub reason: Option<String>,
    pub context: String,
    pub status: Status,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

impl ApprovalRow {
    /// Status, decider and decision time as of `now`.
    pub fn effective(&self, now: i64) -> (Status, Option<&str>, Option<i64>) {
        approvals::effective(
            self.status,
            self.expires_at,
            self.decided_by.as_deref(),
            self.decided_at,
            now,
        )
    }
}

pub struct NewApproval {
    pub task_id: Option<String>,
    pub action: String,
    pub reason: Option<String>,
    pub context: String,
}

const COLUMNS: &str = "a.id, a.workspace_id, w.name, a.task_id, a.action, a.reason, a.context, a.status, \
     a.created_at, a.expires_at, a.decided_at, a.decided_by, a.note";

fn approval_row(r: &Row) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        workspace_name: r.get(2)?,
        task_id: r.get(3)?,
        action: r.get(4)?,
        reason: r.get(5)?,
        context: r.get(6)?,
        // An unknown status (a row edited by hand) reads as denied.
        status: Status::parse(r.get_ref(7)?.as_str()?).unwrap_or(Status::Denied),
        created_at: r.get(8)?,
        expires_at: r.get(9)?,
        decided_at: r.get(10)?,
        decided_by: r.get(11)?,
        note: r.get(12)?,
    })
}

/// How many approvals a workspace has waiting at `now`.
pub fn count_pending(conn: &Connection, workspace_id: WorkspaceId, now: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM approvals WHERE workspace_id = ?1 AND status = 'pending' AND expires_at > ?2",
        )?
        .query_row(params![workspace_id, now], |r| r.get(0))?)
}

pub fn insert(ctx: &WriteCtx, workspace_id: WorkspaceId, new: NewApproval, ttl_ms: i64) -> StoreResult<ApprovalRow> {
    let id = ApprovalId::generate();
    ctx.execute(
        "INSERT INTO approvals (id, workspace_id, task_id, action, reason, context, status, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
        params![
            id,
            workspace_id,
            new.task_id,
            new.action,
            new.reason,
            new.context,
            ctx.now,
            ctx.now.saturating_add(ttl_ms)
        ],
    )?;
    get(ctx, workspace_id, id)?.ok_or_else(|| super::StoreError::Other("an approval just written is missing".into()))
}

/// One approval, only under its own workspace.
pub fn get(conn: &Connection, workspace_id: WorkspaceId, id: ApprovalId) -> StoreResult<Option<ApprovalRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals a JOIN workspaces w ON w.id = a.workspace_id
         WHERE a.id = ?1 AND a.workspace_id = ?2 AND w.deleted_at IS NULL"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, workspace_id], approval_row)
        .optional()?)
}

/// A workspace's approvals, newest first.
pub fn list_for_workspace(conn: &Connection, workspace_id: WorkspaceId, limit: i64) -> StoreResult<Vec<ApprovalRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals a JOIN workspaces w ON w.id = a.workspace_id
         WHERE a.workspace_id = ?1 ORDER BY a.created_at DESC, a.rowid DESC LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![workspace_id, limit], approval_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Approvals still waiting at `now` on live workspaces, newest first; with
/// `roots`, only those in the subtrees of the given workspaces.
pub fn list_pending(
    conn: &Connection,
    now: i64,
    roots: Option<&[WorkspaceId]>,
    limit: i64,
) -> StoreResult<Vec<ApprovalRow>> {
    let scope = match roots {
        None => String::new(),
        Some(r) => format!(
            "AND a.workspace_id IN ({} SELECT id FROM down)",
            super::workspaces::subtrees(r.len())
        ),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals a JOIN workspaces w ON w.id = a.workspace_id
         WHERE a.status = 'pending' AND a.expires_at > ? AND w.deleted_at IS NULL {scope}
         ORDER BY a.created_at DESC, a.rowid DESC LIMIT ?"
    );
    let mut values: Vec<rusqlite::types::Value> = vec![now.into()];
    values.extend(roots.unwrap_or_default().iter().map(|id| id.to_string().into()));
    values.push(limit.into());
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(values), approval_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Decides a pending, unexpired approval. None when there is no such
/// approval under this workspace, or it was already decided or expired.
/// The writer lock serialises decisions, so of two racing ones exactly one
/// finds it pending.
pub fn decide(
    ctx: &WriteCtx,
    workspace_id: WorkspaceId,
    id: ApprovalId,
    status: Status,
    decided_by: &str,
    note: Option<&str>,
) -> StoreResult<Option<ApprovalRow>> {
    let n = ctx.execute(
        "UPDATE approvals SET status = ?3, decided_by = ?4, decided_at = ?5, note = ?6
         WHERE id = ?1 AND workspace_id = ?2 AND status = 'pending' AND expires_at > ?5
           AND workspace_id IN (SELECT id FROM workspaces WHERE deleted_at IS NULL)",
        params![id, workspace_id, status.as_str(), decided_by, ctx.now, note],
    )?;
    if n == 0 {
        return Ok(None);
    }
    get(ctx, workspace_id, id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_db;
    use crate::store::workspaces::{insert as add_workspace, NewWorkspace};

    #[test]
    fn an_approval_is_decided_once_and_never_after_it_expires() {
        let (_dir, db) = test_db();
        let ws = db
            .write(0, |ctx| {
                add_workspace(
                    ctx,
                    NewWorkspace {
                        name: "w".into(),
                        role: None,
                        tier: 1,
                        runtime: "r".into(),
                        parent_id: None,
                        layout: Default::default(),
                        settings: Default::default(),
                        url: None,
                    },
                )
            })
            .unwrap()
            .id;
        let ask = |at: i64| {
            let new = NewApproval {
                task_id: None,
                action: "deploy".into(),
                reason: None,
                context: "{}".into(),
            };
            db.write(at, |ctx| insert(ctx, ws, new, 100)).unwrap()
        };
        let a = ask(0);
        assert_eq!(db.read(|c| count_pending(c, ws, 50)).unwrap(), 1);
        let decided = db
            .write(50, |ctx| decide(ctx, ws, a.id, Status::Approved, "k", None))
            .unwrap();
        assert_eq!(decided.unwrap().status, Status::Approved);
        assert!(db
            .write(60, |ctx| decide(ctx, ws, a.id, Status::Denied, "k", None))
            .unwrap()
            .is_none());
        let b = ask(0);
        assert!(db
            .write(100, |ctx| decide(ctx, ws, b.id, Status::Approved, "k", None))
            .unwrap()
            .is_none());
        let late = db.read(|c| get(c, ws, b.id)).unwrap().unwrap();
        assert_eq!(late.effective(100).0, Status::Denied);
        assert_eq!(db.read(|c| count_pending(c, ws, 100)).unwrap(), 0);
    }
}
