//! What the in-memory credential map is filled from: every credential row
//! (org keys, workspace tokens, sessions) changed since a sequence number,
//! borrowed straight from SQLite's buffers (a server may load hundreds of
//! thousands at start-up).

use rusqlite::Connection;

use super::StoreResult;
use crate::domain::role::Role;

/// How many characters of a session's id show where a key shows its prefix.
pub const SESSION_PREFIX_CHARS: usize = 8;

/// One credential row as it stands.
pub enum CredRow<'a> {
    /// Revoked (or deleted): forget this hash.
    Gone([u8; 32]),
    Live {
        hash: [u8; 32],
        id: &'a str,
        /// What lists and logs show (a session's first id characters).
        prefix: &'a str,
        kind: CredRowKind<'a>,
        expires_at: Option<i64>,
        last_used: Option<i64>,
    },
}

pub enum CredRowKind<'a> {
    /// `bindings`: the bound workspace ids, comma-separated; `cidrs`: the
    /// ranges it may be used from, comma-separated; `rate`: requests per
    /// seconds.
    Org {
        role: Role,
        bindings: Option<&'a str>,
        cidrs: Option<&'a str>,
        rate: Option<(u32, u32)>,
    },
    Workspace {
        workspace_id: &'a str,
    },
    /// `cidrs`: the opening key's ranges (a session is that key's
    /// surface, used from where the key may be).
    Session {
        idle_ms: i64,
        cidrs: Option<&'a str>,
    },
}

/// The highest credential sequence number committed.
pub fn committed_seq(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT v FROM meta WHERE k = 'cred_seq'")?
        .query_row([], |r| r.get(0))?)
}

/// Calls `f` with every credential row stamped after `seen` (with `seen`
/// below zero: every live row, for the first load).
pub fn changed_since(conn: &Connection, seen: i64, mut f: impl FnMut(CredRow<'_>)) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.id, k.prefix, k.role, k.expires_at, k.last_used_at, k.token_hash,
                coalesce(k.revoked_at, k.disabled_at),
                (SELECT group_concat(workspace_id, ',') FROM org_key_workspaces b WHERE b.key_id = k.id),
                k.allowed_cidrs, k.rate_limit_requests, k.rate_limit_seconds
         FROM org_keys k
         WHERE k.seq > ?1 AND (?1 >= 0 OR (k.revoked_at IS NULL AND k.disabled_at IS NULL))",
    )?;
    let mut rows = stmt.query([seen])?;
    while let Some(r) = rows.next()? {
        let hash: [u8; 32] = r.get(5)?;
        // Revoked or disabled: not honoured (a disabled key comes back when
        // enabled, its sequence number moving again).
        if r.get::<_, Option<i64>>(6)?.is_some() {
            f(CredRow::Gone(hash));
            continue;
        }
        f(CredRow::Live {
            hash,
            id: r.get_ref(0)?.as_str()?,
            prefix: r.get_ref(1)?.as_str()?,
            kind: CredRowKind::Org {
                role: r.get(2)?,
                bindings: r.get_ref(7)?.as_str_or_null()?,
                cidrs: r.get_ref(8)?.as_str_or_null()?,
                rate: r.get::<_, Option<u32>>(9)?.zip(r.get::<_, Option<u32>>(10)?),
            },
            expires_at: r.get(3)?,
            last_used: r.get(4)?,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, workspace_id, prefix, expires_at, last_used_at, token_hash, revoked_at
         FROM workspace_tokens WHERE seq > ?1 AND (?1 >= 0 OR revoked_at IS NULL)",
    )?;
    let mut rows = stmt.query([seen])?;
    while let Some(r) = rows.next()? {
        let hash: [u8; 32] = r.get(5)?;
        if r.get::<_, Option<i64>>(6)?.is_some() {
            f(CredRow::Gone(hash));
            continue;
        }
        f(CredRow::Live {
            hash,
            id: r.get_ref(0)?.as_str()?,
            prefix: r.get_ref(2)?.as_str()?,
            kind: CredRowKind::Workspace {
                workspace_id: r.get_ref(1)?.as_str()?,
            },
            expires_at: r.get(3)?,
            last_used: r.get(4)?,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.expires_at, s.idle_ms, coalesce(s.last_seen_at, s.created_at), s.token_hash, s.revoked_at,
                (SELECT k.allowed_cidrs FROM org_keys k WHERE k.id = s.key_id)
         FROM sessions s WHERE s.seq > ?1 AND (?1 >= 0 OR s.revoked_at IS NULL)",
    )?;
    let mut rows = stmt.query([seen])?;
    while let Some(r) = rows.next()? {
        let hash: [u8; 32] = r.get(4)?;
        if r.get::<_, Option<i64>>(5)?.is_some() {
            f(CredRow::Gone(hash));
            continue;
        }
        let id = r.get_ref(0)?.as_str()?;
        f(CredRow::Live {
            hash,
            id,
            prefix: id.get(..SESSION_PREFIX_CHARS).unwrap_or(id),
            kind: CredRowKind::Session {
                idle_ms: r.get::<_, i64>(2)?.max(1),
                cidrs: r.get_ref(6)?.as_str_or_null()?,
            },
            expires_at: Some(r.get(1)?),
            last_used: Some(r.get(3)?),
        });
    }
    Ok(())
}
