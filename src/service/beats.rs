//! Heartbeats, held in memory. Agents heartbeat every few seconds; writing
//! each one would queue thousands of tiny writes ahead of every admin's
//! change. Instead each workspace's latest heartbeat state is kept here,
//! read from here (so status is exact at once), and written in one
//! transaction per flush interval (like `last_used_at`). A crash loses at
//! most the last interval of heartbeats: telemetry the agents send again,
//! never a change anyone made.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use crate::domain::ids::WorkspaceId;
use crate::domain::workspace::{Beat, Report};

struct Entry {
    beat: Beat,
    /// Not yet written.
    dirty: bool,
}

#[derive(Default)]
pub struct Beats {
    map: RwLock<HashMap<WorkspaceId, Entry>>,
    /// Entries in the map, read without the lock: most reads find none.
    len: AtomicUsize,
}

/// A read of every held heartbeat at once (one lock for a whole list).
pub struct Held<'a>(Option<RwLockReadGuard<'a, HashMap<WorkspaceId, Entry>>>);

impl Held<'_> {
    pub fn get(&self, id: WorkspaceId) -> Option<&Beat> {
        self.0.as_ref()?.get(&id).map(|e| &e.beat)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl Beats {
    pub fn held(&self) -> Held<'_> {
        if self.len.load(Ordering::Acquire) == 0 {
            return Held(None);
        }
        Held(Some(self.map.read().unwrap_or_else(|e| e.into_inner())))
    }

    pub fn get(&self, id: WorkspaceId) -> Option<Beat> {
        self.held().get(id).cloned()
    }

    /// The last heartbeat held for a workspace: (time, idle start).
    pub fn last(&self, id: WorkspaceId) -> Option<(i64, Option<i64>)> {
        self.held().get(id).map(|b| (b.at, b.idle_since))
    }

    /// Records a heartbeat at `at`. `stored` is the last one written (read
    /// by the caller when none was held); one held since wins over it.
    pub fn record(
        &self,
        id: WorkspaceId,
        stored: Option<(i64, Option<i64>)>,
        at: i64,
        mut report: Report,
        offline_after: i64,
    ) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        // Spend is kept until reported again (the row's write does the same).
        if report.monthly_spend.is_none() {
            report.monthly_spend = map.get(&id).and_then(|e| e.beat.report.monthly_spend);
        }
        let prior = map.get(&id).map(|e| (e.beat.at, e.beat.idle_since)).or(stored);
        // Heartbeats racing each other keep the clock moving forward.
        let at = prior.map_or(at, |(last, _)| at.max(last));
        let beat = Beat::after(prior, at, report, offline_after);
        map.insert(id, Entry { beat, dirty: true });
        self.len.store(map.len(), Ordering::Release);
    }

    /// Resuming restarts the idle clock (as the database row does).
    pub fn resumed(&self, id: WorkspaceId) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(&id) {
            e.beat.idle_since = None;
        }
    }

    /// Heartbeats not yet written, marked written.
    pub fn take_dirty(&self) -> Vec<(WorkspaceId, Beat)> {
        if self.len.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.iter_mut()
            .filter(|(_, e)| e.dirty)
            .map(|(id, e)| {
                e.dirty = false;
                (*id, e.beat.clone())
            })
            .collect()
    }

    /// A flush that failed: write these again next time, unless newer ones
    /// came meanwhile (those are dirty anyway).
    pub fn unwritten(&self, failed: &[(WorkspaceId, Beat)]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for (id, beat) in failed {
            if let Some(e) = map.get_mut(id) {
                e.dirty |= e.beat == *beat;
            }
        }
    }

    /// Workspaces that are gone.
    pub fn forget(&self, ids: &[WorkspaceId]) {
        if ids.is_empty() || self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            map.remove(id);
        }
        self.len.store(map.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_heartbeats_fold_and_are_written_once() {
        let beats = Beats::default();
        let id = WorkspaceId::generate();
        assert!(beats.held().is_empty());
        beats.record(id, Some((0, Some(0))), 10, Report::default(), 90);
        assert_eq!(
            beats.last(id),
            Some((10, Some(0))),
            "an unbroken idle run keeps its start"
        );
        let busy = Report {
            active_tasks: 2,
            ..Report::default()
        };
        beats.record(id, None, 20, busy, 90);
        assert_eq!(beats.last(id), Some((20, None)));
        let dirty = beats.take_dirty();
        assert_eq!(dirty.len(), 1);
        assert!(beats.take_dirty().is_empty(), "written once");
        beats.unwritten(&dirty);
        assert_eq!(beats.take_dirty().len(), 1, "a failed flush is retried");
        beats.resumed(id);
        assert_eq!(beats.last(id), Some((20, None)));
        beats.forget(&[id]);
        assert!(beats.held().is_empty());
    }
}
