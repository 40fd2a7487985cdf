//! The org's key policy (one row), and the expiry notices already sent.

use rusqlite::{params, Connection, OptionalExtension};

use super::{StoreResult, WriteCtx};
use crate::domain::ids::ChannelId;
use crate::domain::key_policy::Policy;

/// The policy as stored, with where expiry warnings go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRow {
    pub policy: Policy,
    pub expiry_channel: Option<ChannelId>,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

pub fn get(conn: &Connection) -> StoreResult<PolicyRow> {
    Ok(conn
        .prepare_cached(
            "SELECT max_key_lifetime_ms, require_expiry, expiry_channel_id, updated_at, updated_by
             FROM org_policy WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok(PolicyRow {
                policy: Policy {
                    max_key_lifetime_ms: r.get(0)?,
                    require_expiry: r.get(1)?,
                },
                expiry_channel: r.get(2)?,
                updated_at: r.get(3)?,
                updated_by: r.get(4)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

pub fn put(ctx: &WriteCtx, p: &Policy, channel: Option<ChannelId>, by: &str) -> StoreResult<()> {
    ctx.execute(
        "INSERT INTO org_policy (id, max_key_lifetime_ms, require_expiry, expiry_channel_id, updated_at, updated_by)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET max_key_lifetime_ms = ?1, require_expiry = ?2, expiry_channel_id = ?3,
             updated_at = ?4, updated_by = ?5",
        params![p.max_key_lifetime_ms, p.require_expiry, channel, ctx.now, by],
    )?;
    Ok(())
}

/// Records that the warning for `key_id` and `window_days` went out;
/// false if it had already.
pub fn note_sent(ctx: &WriteCtx, key_id: &str, window_days: i64) -> StoreResult<bool> {
    Ok(ctx.execute(
        "INSERT OR IGNORE INTO expiry_notices (key_id, window_days, sent_at) VALUES (?1, ?2, ?3)",
        params![key_id, window_days, ctx.now],
    )? == 1)
}

pub fn was_sent(conn: &Connection, key_id: &str, window_days: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM expiry_notices WHERE key_id = ?1 AND window_days = ?2")?
        .exists(params![key_id, window_days])?)
}
