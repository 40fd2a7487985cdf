//! How domain values are written to and read from SQLite.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::{StoreError, StoreResult};
use crate::domain::ids::{ApprovalId, ChannelId, KeyId, SessionId, TokenId, WorkspaceId};
use crate::domain::role::Role;

/// `IN (?, ?, …)` placeholders for `n` values.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

pub fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(e.to_string()))
}

macro_rules! sql_id {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.to_string()))
            }
        }

        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = v.as_str()?;
                <$t>::parse(s).ok_or_else(|| FromSqlError::Other(format!("not an id: {s:?}").into()))
            }
        }
    )*};
}

sql_id!(WorkspaceId, KeyId, TokenId, SessionId, ApprovalId, ChannelId);

impl ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// An unknown role reads as the least one: a row edited by hand never
/// grants more than read-only.
impl FromSql for Role {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Role::parse(v.as_str()?).unwrap_or(Role::ReadOnly))
    }
}

/// Ids stored as a comma-separated list (`group_concat`), sorted. `None`
/// when one is not an id: such a list was not written by this server.
pub fn split_ids(list: Option<&str>) -> Option<Vec<WorkspaceId>> {
    let mut ids = Vec::new();
    for s in list.unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
        ids.push(WorkspaceId::parse(s)?);
    }
    ids.sort();
    Some(ids)
}
