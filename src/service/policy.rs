//! The org's key policy: `GET` and `PUT /org/policy`. New keys (minted or
//! rotated, over HTTP or on the box) must keep to it; existing keys that
//! break it are flagged in the key list, not revoked.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{App, Principal};
use crate::domain::audit::Action;
use crate::domain::ids::ChannelId;
use crate::domain::key_policy::Policy;
use crate::domain::keys::MAX_LIFETIME_MS;
use crate::domain::role::Role;
use crate::domain::time::Time;
use crate::domain::{Error, Result};
use crate::store::policy::{self, PolicyRow};
use crate::store::{audit, channels, keys};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPolicy {
    /// The longest a new key may live, in seconds; `null` for no cap.
    max_key_lifetime_seconds: Option<i64>,
    /// Every new key must expire.
    #[serde(default)]
    require_expiry: bool,
    /// A channel (Slack, Discord, a webhook, …) told once per key when it
    /// is 30 and 7 days from expiring; `null` for none.
    expiry_channel_id: Option<String>,
}

#[derive(Serialize)]
pub struct PolicyView {
    max_key_lifetime_seconds: Option<i64>,
    require_expiry: bool,
    expiry_channel_id: Option<ChannelId>,
    updated_at: Option<Time>,
    updated_by: Option<String>,
    /// Live keys that break it (minted before it was set, or over it with
    /// `mint-key --override-policy`).
    keys_breaking_policy: usize,
}

fn view(row: PolicyRow, breaking: usize) -> PolicyView {
    PolicyView {
        max_key_lifetime_seconds: row.policy.max_key_lifetime_ms.map(|ms| ms / 1000),
        require_expiry: row.policy.require_expiry,
        expiry_channel_id: row.expiry_channel,
        updated_at: row.updated_at.map(Time),
        updated_by: row.updated_by,
        keys_breaking_policy: breaking,
    }
}

fn breaking(conn: &rusqlite::Connection, p: &Policy, now: i64) -> Result<usize> {
    let live = keys::list_live(conn, now)?;
    Ok(live.iter().filter(|k| p.flags(k.created_at, k.expires_at)).count())
}

pub async fn get(app: &App, who: Principal) -> Result<PolicyView> {
    who.org_wide(Role::ReadOnly)?;
    let now = app.now();
    app.read(move |conn| {
        let row = policy::get(conn)?;
        let n = breaking(conn, &row.policy, now)?;
        Ok(view(row, n))
    })
    .await
}

pub async fn put(app: &App, who: Principal, req: PutPolicy) -> Result<PolicyView> {
    who.org_wide(Role::Admin)?;
    let max = match req.max_key_lifetime_seconds {
        None => None,
        Some(s) if (3600..=MAX_LIFETIME_MS / 1000).contains(&s) => Some(s * 1000),
        Some(_) => {
            return Err(Error::invalid(
                "max_key_lifetime_seconds: between 3600 (an hour) and ten years",
            ))
        }
    };
    let p = Policy {
        max_key_lifetime_ms: max,
        require_expiry: req.require_expiry,
    };
    let channel = match req.expiry_channel_id.as_deref() {
        None => None,
        Some(raw) => Some(ChannelId::parse(raw).ok_or_else(|| Error::invalid("expiry_channel_id: not a channel id"))?),
    };
    app.write(who, move |ctx, who| {
        if let Some(c) = channel {
            if channels::get_any(ctx, c)?.is_none() {
                return Err(Error::invalid("expiry_channel_id: no such channel"));
            }
        }
        let before = policy::get(ctx)?;
        let was = breaking(ctx, &before.policy, ctx.now)?;
        policy::put(ctx, &p, channel, &who.actor().name)?;
        let after = policy::get(ctx)?;
        let n = breaking(ctx, &p, ctx.now)?;
        let detail = json!({
            "before": view(before, was), "after": view(after.clone(), n),
        });
        audit::append(ctx, &who.actor(), Action::OrgPolicySet, None, detail)?;
        Ok(view(after, n))
    })
    .await
}
