//! `GET /workspaces`: every workspace the caller reaches, or a page of
//! them, served from a small cache while nothing has changed.

use serde::Deserialize;

use super::view::WorkspaceView;
use crate::domain::role::Role;
use crate::domain::{Error, Result};
use crate::service::list_cache::{ListKey, Page};
use crate::service::{App, Principal};
use crate::store::{workspaces as ws, StoreError};

const MAX_PAGE: i64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A page of the list as JSON, and the cursor of the next page if there
/// may be one.
pub struct Listed {
    pub body: bytes::Bytes,
    pub next: Option<(i64, i64)>,
}

/// Without `limit`, every workspace (the guide's plain array). With it, a
/// page; `next` names the next one.
pub async fn list(app: &App, who: &Principal, q: ListQuery) -> Result<Listed> {
    let roots = who.roots(Role::ReadOnly)?;
    if q.limit.is_some_and(|l| !(1..=MAX_PAGE).contains(&l)) {
        return Err(Error::invalid(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let after = match &q.cursor {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| Error::invalid("cursor: not a cursor this server gave out"))?,
    };
    let limit = q.limit.unwrap_or(i64::MAX);
    let key = ListKey { roots, after, limit };
    let generation = app.db.generation();
    let page = match app.lists.get(&key, generation, app.now()) {
        Some(page) => page,
        None => {
            let (page, valid_until) = read_page(app, key.clone()).await?;
            // Kept only if nothing was committed meanwhile.
            if app.db.generation() == generation {
                app.lists.put(key, generation, valid_until, page.clone());
            }
            page
        }
    };
    let Page { body, count, last } = page;
    let next = match (q.limit, last) {
        (Some(limit), Some(cursor)) if count == limit => Some((limit, cursor)),
        _ => None,
    };
    Ok(Listed { body, next })
}

/// Reads a page of the list as JSON, written on the blocking pool straight
/// from SQLite's buffers into one pre-sized body; and until when it holds
/// by the clock (its first workspace to go offline or idle).
async fn read_page(app: &App, key: ListKey) -> Result<(Page, i64)> {
    let (clock, thresholds) = (app.clock.clone(), app.settings.thresholds());
    let beats = app.beats.clone();
    app.read(move |conn| {
        let held = beats.held();
        let now = clock.now_ms();
        // About 360 bytes a workspace; an unlimited list grows as needed.
        let mut out = Vec::with_capacity(usize::try_from(key.limit.min(180)).unwrap_or(180) * 360 + 2);
        out.push(b'[');
        let (mut count, mut last) = (0i64, None);
        // Never kept long, whatever the rows say.
        let mut valid_until = now.saturating_add(60_000);
        ws::each_in_page(conn, key.roots.as_deref(), key.after, key.limit, |cursor, w| {
            if count > 0 {
                out.push(b',');
            }
            // A newer heartbeat held in memory wins over the row.
            let beat = if held.is_empty() {
                None
            } else {
                w.id.id().and_then(|id| held.get(id))
            };
            let w = match beat {
                Some(b) => w.with_beat(b),
                None => w,
            };
            serde_json::to_writer(&mut out, &WorkspaceView::of(&w, now, thresholds))
                .map_err(|e| StoreError::Other(e.to_string()))?;
            if let Some(at) = w.liveness().changes_at(now, thresholds) {
                valid_until = valid_until.min(at);
            }
            (count, last) = (count + 1, Some(cursor));
            Ok(())
        })?;
        out.push(b']');
        let page = Page {
            body: out.into(),
            count,
            last,
        };
        Ok((page, valid_until))
    })
    .await
}
