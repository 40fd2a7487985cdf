//! Expiry warnings: when the org names a channel for them (`PUT
//! /org/policy`), each live key is announced there once when it comes
//! within 30 days of expiring and once within 7. Run once a minute on a
//! thread of its own (a slow channel must not hold up the flusher's
//! writes); a send that fails ends the round, tried again the next minute.

use std::time::Duration;

use serde_json::json;

use super::channels::open;
use super::App;
use crate::domain::audit::{Action, Actor};
use crate::domain::delivery::{outbound, Outbound};
use crate::domain::key_policy::{expires_within, WARN_DAYS};
use crate::domain::time::{rfc3339, Time};
use crate::domain::{Error, Result};
use crate::store::keys::KeyRow;
use crate::store::{audit, channels, keys, policy};

/// How often the flusher looks.
pub const EVERY: Duration = Duration::from_secs(60);

fn send(agent: &ureq::Agent, out: &Outbound) -> std::result::Result<(), String> {
    let mut req = agent.post(&out.url);
    if let Some(b) = &out.bearer {
        req = req.header("Authorization", format!("Bearer {b}"));
    }
    match req.send_json(&out.body) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

fn text(k: &KeyRow, days: i64, at: i64) -> String {
    format!(
        "Molecule org key \"{}\" ({}…) expires within {days} days, at {}. Rotate it (POST /org/tokens/{}/rotate, \
         or Settings → Org API Keys) before then.",
        k.name,
        k.prefix,
        rfc3339(at),
        k.id
    )
}

/// Sends what is due; returns how many warnings went out.
pub fn notify(app: &App) -> Result<usize> {
    let now = app.now();
    let (channel, due) = app.db.read_with(|conn| -> Result<_> {
        let row = policy::get(conn)?;
        let Some(id) = row.expiry_channel else {
            return Ok((None, vec![]));
        };
        let channel = channels::get_any(conn, id)?;
        let mut due = Vec::new();
        for k in keys::list_live(conn, now)? {
            // A rotated key in its grace period is already replaced: its
            // end is the plan, not news.
            let quiet = k.disabled_at.is_some() || k.rotated_to.is_some();
            let Some(window) = expires_within(now, k.expires_at).filter(|_| !quiet) else {
                continue;
            };
            if !policy::was_sent(conn, &k.id.to_string(), window)? {
                due.push((k, window));
            }
        }
        Ok((channel, due))
    })?;
    let Some(channel) = channel.filter(|c| c.enabled) else {
        return Ok(0);
    };
    if due.is_empty() {
        return Ok(0);
    }
    let mut config = channel.plain.clone();
    config.extend(open(&app.keyring, &channel)?);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        // A relay may not bounce the message on: not to plain http, not elsewhere.
        .max_redirects(0)
        .build()
        .into();
    let mut sent = 0;
    for (k, window) in due {
        let Some(at) = k.expires_at else { continue };
        let Some(out) = outbound(&channel.kind, &config, &text(&k, window, at)) else {
            return Err(Error::invalid(format!("channel {} cannot send messages", channel.id)));
        };
        if let Err(why) = send(&agent, &out) {
            // The channel is likely down: the rest wait for the next round
            // rather than each waiting out its own timeout now.
            tracing::warn!(channel = %channel.id, error = %why, "could not send a key expiry warning; retrying in a minute");
            break;
        }
        let (key_id, channel_id) = (k.id.to_string(), channel.id);
        app.db.write(&app.clock, |ctx| {
            // The nearer window covers the farther one: one message each.
            for w in WARN_DAYS.iter().filter(|w| **w >= window) {
                policy::note_sent(ctx, &key_id, *w)?;
            }
            let detail =
                json!({"prefix": k.prefix, "window_days": window, "expires_at": Time(at), "channel_id": channel_id});
            audit::append(ctx, &Actor::server(), Action::KeyExpiryNotice, Some(&key_id), detail)
        })?;
        sent += 1;
    }
    Ok(sent)
}
