//! Retention: rows that ended long ago are deleted, a batch at a time, so
//! that tables which grow with use (approvals, revoked and expired keys and
//! tokens, ended sessions, spent sign-in links, deleted workspaces) stay
//! bounded. The audit trail is never deleted: it keeps the history these
//! rows had.

use rusqlite::params;
use serde::Serialize;

use super::{StoreResult, WriteCtx};

/// How many rows of each kind one batch deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub approvals: usize,
    pub workspace_tokens: usize,
    pub org_keys: usize,
    pub sessions: usize,
    pub login_links: usize,
    pub workspaces: usize,
    /// Requests in keys' activity logs older than 30 days.
    pub requests: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.approvals
            + self.workspace_tokens
            + self.org_keys
            + self.sessions
            + self.login_links
            + self.workspaces
            + self.requests
    }

    pub fn add(&mut self, o: Purged) {
        self.approvals += o.approvals;
        self.workspace_tokens += o.workspace_tokens;
        self.org_keys += o.org_keys;
        self.sessions += o.sessions;
        self.login_links += o.login_links;
        self.workspaces += o.workspaces;
        self.requests += o.requests;
    }
}

/// Deletes up to `limit` rows of each kind that ended before `cutoff`. In
/// order, so nothing still referred to goes: a key's sessions before the
/// key; a deleted workspace only once nothing refers to it (no key is
/// bound to it, which would otherwise widen that key to the whole org; no
/// child row is left).
pub fn purge_batch(ctx: &WriteCtx, cutoff: i64, limit: i64) -> StoreResult<Purged> {
    // (table, key, when the row ended): rows nothing else refers to.
    let mut simple = [0usize; 4];
    for (n, (table, key, ended)) in [
        ("approvals", "id", "coalesce(decided_at, expires_at)"),
        ("workspace_tokens", "id", "coalesce(revoked_at, expires_at)"),
        ("sessions", "id", "coalesce(revoked_at, expires_at)"),
        ("login_links", "code_hash", "coalesce(used_at, expires_at)"),
    ]
    .into_iter()
    .enumerate()
    {
        simple[n] = ctx.execute(
            &format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {ended} < ?1 LIMIT ?2)"),
            params![cutoff, limit],
        )?;
    }
    let [approvals, workspace_tokens, sessions, login_links] = simple;
    let keys: Vec<String> = ctx
        .prepare_cached(
            "SELECT id FROM org_keys k WHERE coalesce(revoked_at, expires_at) < ?1
               AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.key_id = k.id) LIMIT ?2",
        )?
        .query_map(params![cutoff, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for k in &keys {
        ctx.execute("DELETE FROM org_key_workspaces WHERE key_id = ?1", [k])?;
        ctx.execute("DELETE FROM org_keys WHERE id = ?1", [k])?;
    }
    let gone: Vec<String> = ctx
        .prepare_cached(
            "SELECT id FROM workspaces w WHERE deleted_at IS NOT NULL AND deleted_at < ?1
               AND NOT EXISTS (SELECT 1 FROM org_key_workspaces b WHERE b.workspace_id = w.id)
               AND NOT EXISTS (SELECT 1 FROM workspaces c WHERE c.parent_id = w.id)
             LIMIT ?2",
        )?
        .query_map(params![cutoff, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for w in &gone {
        for sql in [
            "DELETE FROM workspace_tokens WHERE workspace_id = ?1",
            "DELETE FROM approvals WHERE workspace_id = ?1",
            "DELETE FROM channels WHERE workspace_id = ?1",
            "DELETE FROM workspace_plugins WHERE workspace_id = ?1",
            "DELETE FROM workspace_config WHERE workspace_id = ?1",
            "DELETE FROM secrets WHERE scope = ?1",
            "DELETE FROM workspaces WHERE id = ?1",
        ] {
            ctx.execute(sql, [w])?;
        }
    }
    Ok(Purged {
        approvals,
        workspace_tokens,
        org_keys: keys.len(),
        sessions,
        login_links,
        workspaces: gone.len(),
        requests: super::activity::prune(ctx, limit)?,
    })
}
