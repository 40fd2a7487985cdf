//! Browser sign-in: one-time login links and the sessions they open.

use rusqlite::{params, Connection, OptionalExtension};

use super::{StoreResult, WriteCtx};
use crate::domain::ids::{KeyId, SessionId};
use crate::domain::token::Minted;

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub created_via: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub idle_ms: i64,
    pub last_seen_at: Option<i64>,
    pub user_agent: Option<String>,
    pub client: Option<String>,
    pub token_hash: [u8; 32],
}

pub struct NewSession {
    /// `login-link` or `org-token:<prefix>`.
    pub created_via: String,
    /// The org key that opened it, if one did.
    pub key_id: Option<KeyId>,
    pub lifetime_ms: i64,
    pub idle_ms: i64,
    pub user_agent: Option<String>,
    pub client: Option<String>,
}

/// Stores a one-time login link (its code's hash) valid for `ttl_ms`.
/// Spent and stale links go with retention (retention.rs).
pub fn insert_link(ctx: &WriteCtx, code: &Minted, created_by: &str, ttl_ms: i64, secure: bool) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO login_links (code_hash, created_by, created_at, expires_at, secure)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![code.hash, created_by, ctx.now, ctx.now.saturating_add(ttl_ms), secure],
    )?;
    Ok(())
}

/// Whether a sign-in code is unspent and unexpired.
pub fn link_is_live(conn: &Connection, code_hash: &[u8; 32], now: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM login_links WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2")?
        .query_row(params![code_hash, now], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Spends a login link: `Some(secure)` the first time an unexpired code is
/// presented, `None` for any other code (unknown, used or expired alike).
pub fn spend_link(ctx: &WriteCtx, code_hash: &[u8; 32]) -> StoreResult<Option<bool>> {
    Ok(ctx
        .prepare_cached(
            "UPDATE login_links SET used_at = ?2
             WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2 RETURNING secure",
        )?
        .query_row(params![code_hash, ctx.now], |r| r.get(0))
        .optional()?)
}

/// Opens a session whose cookie value was minted as `minted`.
pub fn insert(ctx: &mut WriteCtx, new: NewSession, minted: &Minted) -> StoreResult<SessionRow> {
    let seq = ctx.cred_seq()?;
    let row = SessionRow {
        id: SessionId::generate(),
        created_via: new.created_via,
        created_at: ctx.now,
        expires_at: ctx.now.saturating_add(new.lifetime_ms),
        idle_ms: new.idle_ms,
        last_seen_at: None,
        user_agent: new.user_agent,
        client: new.client,
        token_hash: minted.hash,
    };
    ctx.execute(
        "INSERT INTO sessions (id, token_hash, created_via, created_at, expires_at, idle_ms, user_agent, client, seq,
                               key_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            row.id,
            row.token_hash,
            row.created_via,
            row.created_at,
            row.expires_at,
            row.idle_ms,
            row.user_agent,
            row.client,
            seq,
            new.key_id
        ],
    )?;
    Ok(row)
}

/// Sessions neither revoked nor past their absolute expiry, newest first.
/// Idleness is judged by the caller, which knows uses not yet flushed.
pub fn list_open(conn: &Connection, now: i64) -> StoreResult<Vec<SessionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, created_via, created_at, expires_at, idle_ms, last_seen_at, user_agent, client, token_hash
         FROM sessions WHERE revoked_at IS NULL AND expires_at > ?1 ORDER BY created_at DESC, id",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok(SessionRow {
            id: r.get(0)?,
            created_via: r.get(1)?,
            created_at: r.get(2)?,
            expires_at: r.get(3)?,
            idle_ms: r.get(4)?,
            last_seen_at: r.get(5)?,
            user_agent: r.get(6)?,
            client: r.get(7)?,
            token_hash: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Ends every open session; returns how many.
pub fn revoke_all(ctx: &mut WriteCtx) -> StoreResult<usize> {
    let seq = ctx.cred_seq()?;
    Ok(ctx.execute(
        "UPDATE sessions SET revoked_at = ?1, seq = ?2 WHERE revoked_at IS NULL AND expires_at > ?1",
        params![ctx.now, seq],
    )?)
}

/// Ends a session that is still open. False when there is none.
pub fn revoke(ctx: &mut WriteCtx, id: SessionId) -> StoreResult<bool> {
    let seq = ctx.cred_seq()?;
    let n = ctx.execute(
        "UPDATE sessions SET revoked_at = ?2, seq = ?3 WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        params![id, ctx.now, seq],
    )?;
    Ok(n == 1)
}

/// The expiry of the key that opened a session, if a key did and it has
/// one: what the session may mint is capped by it, as the key's own
/// mints are. Read inside the caller's transaction.
pub fn opener_expiry(conn: &Connection, id: SessionId) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT k.expires_at FROM sessions s JOIN org_keys k ON k.id = s.key_id WHERE s.id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Whether a session is live, read inside the caller's transaction. Its
/// idleness is judged from the database here, which may lag the in-memory
/// last use by one flush interval, so only revocation and absolute expiry
/// are final; the in-memory check has already refused an idle session.
pub fn is_live(conn: &Connection, id: SessionId, now: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?2")?
        .query_row(params![id, now], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn touch(ctx: &WriteCtx, id: SessionId, at: i64) -> StoreResult<()> {
    ctx.execute(
        "UPDATE sessions SET last_seen_at = max(coalesce(last_seen_at, 0), ?2) WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::{generate, TokenKind};
    use crate::store::test_db;

    #[test]
    fn a_login_link_is_spent_once_and_only_before_it_expires() {
        let (_dir, db) = test_db();
        let code = generate(TokenKind::Login).unwrap();
        db.write(0, |ctx| insert_link(ctx, &code, "cli", 1000, true)).unwrap();
        assert_eq!(db.write(500, |ctx| spend_link(ctx, &code.hash)).unwrap(), Some(true));
        assert_eq!(db.write(600, |ctx| spend_link(ctx, &code.hash)).unwrap(), None, "once");
        let late = generate(TokenKind::Login).unwrap();
        db.write(0, |ctx| insert_link(ctx, &late, "cli", 1000, false)).unwrap();
        assert_eq!(
            db.write(1000, |ctx| spend_link(ctx, &late.hash)).unwrap(),
            None,
            "expired"
        );
    }
}
