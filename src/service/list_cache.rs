//! A small cache of `GET /workspaces` bodies: the list agents and
//! dashboards poll, which changes far less often than it is read.
//!
//! An entry is served only while nothing at all has been committed since
//! it was read (`Db::generation`, bumped by every commit of this process
//! and by the watcher for other processes' commits), and only until the
//! first moment one of its workspaces would read differently by the clock
//! alone (going offline, or idle). Otherwise the list is read again.

use std::sync::Mutex;

use bytes::Bytes;

use crate::domain::ids::WorkspaceId;

/// Few entries, small bodies: the cache must not cost memory to speak of.
const MAX_ENTRIES: usize = 16;
const MAX_BODY: usize = 128 * 1024;

/// What a list request asked for: its key's bindings (none = all) and page.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ListKey {
    pub roots: Option<Vec<WorkspaceId>>,
    pub after: i64,
    pub limit: i64,
}

#[derive(Clone)]
pub struct Page {
    pub body: Bytes,
    pub count: i64,
    pub last: Option<i64>,
}

struct Entry {
    key: ListKey,
    generation: u64,
    valid_until: i64,
    page: Page,
}

#[derive(Default)]
pub struct ListCache {
    entries: Mutex<Vec<Entry>>,
}

impl ListCache {
    pub fn get(&self, key: &ListKey, generation: u64, now: i64) -> Option<Page> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .find(|e| &e.key == key && e.generation == generation && now < e.valid_until)
            .map(|e| e.page.clone())
    }

    /// Keeps a page read at `generation` (taken before the read began),
    /// good until `valid_until`.
    pub fn put(&self, key: ListKey, generation: u64, valid_until: i64, page: Page) {
        if page.body.len() > MAX_BODY {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.key != key && e.generation == generation);
        if entries.len() >= MAX_ENTRIES {
            entries.remove(0);
        }
        entries.push(Entry {
            key,
            generation,
            valid_until,
            page,
        });
    }
}
