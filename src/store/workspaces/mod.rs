//! Workspaces: a tree (parent_id), soft-deleted.

use rusqlite::{params_from_iter, Connection, OptionalExtension};

use super::sql::placeholders;
use super::StoreResult;
use crate::domain::ids::WorkspaceId;

mod rows;
pub use rows::*;

pub fn get(conn: &Connection, id: WorkspaceId) -> StoreResult<Option<WorkspaceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM workspaces WHERE id = ?1 AND deleted_at IS NULL");
    Ok(conn.prepare_cached(&sql)?.query_row([id], ws_row).optional()?)
}

/// Whether every one of `ids` is a live workspace.
pub fn all_live(conn: &Connection, ids: &[WorkspaceId]) -> StoreResult<bool> {
    if ids.is_empty() {
        return Ok(true);
    }
    let sql = format!(
        "SELECT count(*) FROM workspaces WHERE deleted_at IS NULL AND id IN ({})",
        placeholders(ids.len())
    );
    let found: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(ids), |r| r.get(0))?;
    Ok(usize::try_from(found).ok() == Some(ids.len()))
}

/// Live workspaces in creation order; with `roots`, only those roots and
/// their descendants.
pub fn list(conn: &Connection, roots: Option<&[WorkspaceId]>) -> StoreResult<Vec<WorkspaceRow>> {
    Ok(list_page(conn, roots, 0, i64::MAX)?
        .into_iter()
        .map(|(_, w)| w)
        .collect())
}

/// A page of `list`: at most `limit` rows after the `after` cursor (a
/// rowid), each with its own cursor.
pub fn list_page(
    conn: &Connection,
    roots: Option<&[WorkspaceId]>,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<(i64, WorkspaceRow)>> {
    let mut rows = Vec::new();
    each_in_page(conn, roots, after, limit, |cursor, r| {
        let id = |p: IdRef| {
            p.id()
                .ok_or_else(|| super::StoreError::Other("a workspace id is not an id".into()))
        };
        let row = WorkspaceRow {
            id: id(r.id)?,
            parent_id: r.parent_id.map(id).transpose()?,
            ..owned(&r)
        };
        rows.push((cursor, row));
        Ok(())
    })?;
    Ok(rows)
}

/// Calls `f` with each row of a page of `list` (see `list_page`) and its
/// cursor, borrowed from SQLite's buffers.
pub fn each_in_page(
    conn: &Connection,
    roots: Option<&[WorkspaceId]>,
    after: i64,
    limit: i64,
    mut f: impl FnMut(i64, WorkspaceRef<'_>) -> StoreResult<()>,
) -> StoreResult<()> {
    let (mut stmt, values): (_, Vec<rusqlite::types::Value>) = match roots {
        None => {
            let sql = format!(
                "SELECT {COLUMNS}, rowid FROM workspaces INDEXED BY workspaces_live
                 WHERE deleted_at IS NULL AND rowid > ?1 ORDER BY rowid LIMIT ?2"
            );
            (conn.prepare_cached(&sql)?, vec![after.into(), limit.into()])
        }
        Some([]) => return Ok(()),
        Some(roots) => {
            let sql = format!(
                "{} SELECT {COLUMNS}, rowid FROM workspaces WHERE id IN (SELECT id FROM down) AND rowid > ?
                 ORDER BY rowid LIMIT ?",
                subtrees(roots.len())
            );
            let mut values: Vec<rusqlite::types::Value> = roots.iter().map(|r| r.to_string().into()).collect();
            values.push(after.into());
            values.push(limit.into());
            (conn.prepare_cached(&sql)?, values)
        }
    };
    let mut rows = stmt.query(params_from_iter(values))?;
    while let Some(r) = rows.next()? {
        f(r.get(CURSOR)?, ws_ref(r)?)?;
    }
    Ok(())
}
mod write;
pub use write::*;

mod tree;
pub use tree::*;

#[cfg(test)]
mod tests;
