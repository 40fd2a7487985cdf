//! Retention, on the flusher's schedule: rows that ended longer ago than
//! `--retention` are deleted in small batches (store/retention.rs), each
//! its own short transaction, a few per flusher tick, so neither the writer
//! nor the flusher's other work is held for long. Each batch that deleted
//! anything is recorded in the audit trail.

use std::time::Duration;

use serde_json::json;

use super::App;
use crate::domain::audit::{Action, Actor};
use crate::domain::time::{ms, Time};
use crate::domain::Result;
use crate::store::audit;
use crate::store::retention::{purge_batch, Purged};

/// Rows of each kind a batch deletes at most: a few milliseconds of writer
/// time.
const BATCH: i64 = 500;
/// Batches a flusher tick runs at most; a sweep with more goes on at the
/// next tick.
pub const PER_TICK: usize = 4;

/// How often the flusher starts a sweep.
pub const EVERY: Duration = Duration::from_secs(600);

/// What a sweep deleted, and whether it found the end.
pub struct Swept {
    pub purged: Purged,
    pub done: bool,
}

/// Deletes, in at most `batches` batches, what ended before now minus the
/// retention period.
pub fn sweep(app: &App, batches: usize) -> Result<Swept> {
    let cutoff = app.now().saturating_sub(ms(app.settings.retention));
    let mut total = Purged::default();
    let mut done = false;
    for _ in 0..batches {
        let batch = app.db.write(&app.clock, |ctx| {
            let p = purge_batch(ctx, cutoff, BATCH)?;
            if p.total() > 0 {
                let detail = json!({ "ended_before": Time(cutoff), "deleted": p });
                audit::append(ctx, &Actor::server(), Action::RetentionPurge, None, detail)?;
            }
            Ok(p)
        })?;
        if batch.total() == 0 {
            done = true;
            break;
        }
        total.add(batch);
    }
    if total.total() > 0 {
        tracing::info!(deleted = ?total, "retention: deleted rows that ended long ago");
    }
    Ok(Swept { purged: total, done })
}
