//! Every live credential (org keys, workspace tokens, browser sessions), in
//! memory, keyed by the blake3 hash of the token.
//!
//! The map is only ever filled from committed rows: at start-up, right
//! after a write that changed a credential, before its response (the store
//! tells it, `CommitObserver`), and when another process has changed one
//! (`Follower`). If a fill fails, the map is marked stale and no
//! credential is accepted (503) until one succeeds: a revocation that did
//! not reach memory must not leave the key working. Each fill reads one
//! snapshot and is applied only if that snapshot is newer than the last
//! one applied, so an older read can never re-insert a key that a newer
//! revocation removed. A miss means unknown or revoked, never "not loaded
//! yet". Expiry is checked on every lookup against the caller's clock, not
//! by a sweeper.

mod credential;
mod guard;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::Connection;

pub use credential::{CredKind, Credential, Shown};
use guard::Guard;
pub use guard::RateState;

use crate::domain::authz::Failure;
use crate::domain::ids::{KeyId, SessionId, TokenId, WorkspaceId};
use crate::domain::key_policy::RateLimit;
use crate::store::creds::{self as rows, CredRow, CredRowKind};
use crate::store::{self, CommitObserver, Db, StoreResult};

/// The map's key: the first 16 bytes of a token's blake3 hash. Finding a
/// token that matches a live one on 128 bits is a 2^128 search; the full
/// hash stays in the database.
pub type Key = [u8; 16];

pub fn key(hash: &[u8; 32]) -> Key {
    let mut k = [0u8; 16];
    k.copy_from_slice(&hash[..16]);
    k
}

/// A pending `last_used_at` write.
#[derive(Debug, Clone, Copy)]
pub enum Usage {
    Key(KeyId, i64),
    Token(TokenId, i64),
    Session(SessionId, i64),
}

pub struct CredCache {
    map: RwLock<HashMap<Key, Arc<Credential>>>,
    /// The highest `cred_seq` applied; -1 before the first load.
    seen: AtomicI64,
    /// Serialises applying snapshots (not reading them).
    apply: Mutex<()>,
    /// A committed change could not be applied: see the module comment.
    stale: AtomicBool,
    /// Commits the follower looked at (any connection's but its own: this
    /// server's writer, the CLI, a replicator's bookkeeping): those that
    /// brought no credential change not yet applied, and those it applied
    /// (in practice, the CLI's: this server's own are applied as they
    /// commit).
    followed_unchanged: AtomicU64,
    followed_applied: AtomicU64,
}

impl Default for CredCache {
    fn default() -> Self {
        CredCache {
            map: RwLock::default(),
            seen: AtomicI64::new(-1),
            apply: Mutex::new(()),
            stale: AtomicBool::new(false),
            followed_unchanged: AtomicU64::new(0),
            followed_applied: AtomicU64::new(0),
        }
    }
}

/// A row as a credential, or `None` when its ids are not this server's
/// canonical UUIDs (a row written by hand): such a row cannot authenticate.
fn credential(
    prefix: &str,
    id: &str,
    kind: CredRowKind,
    expires_at: Option<i64>,
    last_used: Option<i64>,
) -> Option<Credential> {
    let mut guard = None;
    let kind = match kind {
        CredRowKind::Org {
            role,
            bindings,
            cidrs,
            rate,
        } => {
            // A range that does not parse must not leave the key usable
            // from anywhere (nor a binding leave it unbound).
            let nets = crate::store::keys::parse_cidrs(cidrs)?;
            let rate = rate.map(|(requests, per_seconds)| RateLimit { requests, per_seconds });
            guard = Guard::new(nets, rate);
            CredKind::Org {
                id: KeyId::parse(id)?,
                role,
                workspaces: store_bindings(bindings)?,
            }
        }
        CredRowKind::Workspace { workspace_id } => CredKind::Workspace {
            id: TokenId::parse(id)?,
            workspace_id: WorkspaceId::parse(workspace_id)?,
        },
        CredRowKind::Session { idle_ms, cidrs } => {
            guard = Guard::new(crate::store::keys::parse_cidrs(cidrs)?, None);
            CredKind::Session {
                id: SessionId::parse(id)?,
                idle_ms,
            }
        }
    };
    Some(Credential::new(prefix, kind, expires_at, last_used).with_guard(guard))
}

fn store_bindings(list: Option<&str>) -> Option<Box<[WorkspaceId]>> {
    let mut ids = Vec::new();
    for s in list.unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
        ids.push(WorkspaceId::parse(s)?);
    }
    ids.sort();
    Some(ids.into())
}

impl CredCache {
    pub fn seen_seq(&self) -> i64 {
        self.seen.load(Ordering::Acquire)
    }

    /// The live, unexpired credential for a token hash, marking it used
    /// (unless `poll` and it is a session: background refreshes do not keep
    /// a session from going idle); otherwise why not (for counting only:
    /// callers answer both alike).
    pub fn authenticate(
        &self,
        hash: &[u8; 32],
        now: i64,
        poll: bool,
        client: Option<IpAddr>,
    ) -> Result<Arc<Credential>, Failure> {
        let cred = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(hash))
            .cloned()
            .ok_or(Failure::UnknownOrRevoked)?;
        if cred.is_expired(now) {
            return Err(Failure::Expired);
        }
        if cred.guard.as_ref().is_some_and(|g| !g.admits(client)) {
            return Err(Failure::NotFromHere);
        }
        if !(poll && cred.is_session()) {
            cred.last_used.fetch_max(now, Ordering::Relaxed);
        }
        Ok(cred)
    }

    /// The live credential behind `hash` that a request from `client` was
    /// refused for being outside its ranges: its activity log shows the
    /// refusal (a live key used from elsewhere is a sign it has leaked).
    pub fn refused_from(&self, hash: &[u8; 32], now: i64, client: Option<IpAddr>) -> Option<Arc<Credential>> {
        let cred = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(hash))
            .cloned()?;
        let outside = cred.guard.as_ref().is_some_and(|g| !g.admits(client));
        (outside && !cred.is_expired(now)).then_some(cred)
    }

    /// Drops credentials that can never work again (expired, or sessions
    /// gone idle: neither can come back), so a long-running server's map
    /// does not grow with every session ever opened.
    pub fn prune_expired(&self, now: i64) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, c| !c.is_expired(now));
    }

    /// The in-memory last use of a credential, which may be newer than the
    /// database's until the next flush.
    pub fn last_used(&self, hash: &[u8; 32]) -> Option<i64> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(hash))
            .and_then(|c| c.last_used())
    }

    pub fn live_count(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Unexpired credentials in memory: (org keys, workspace tokens,
    /// browser sessions).
    pub fn live_by_kind(&self, now: i64) -> (usize, usize, usize) {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|c| !c.is_expired(now))
            .fold((0, 0, 0), |(o, w, s), c| match c.kind {
                CredKind::Org { .. } => (o + 1, w, s),
                CredKind::Workspace { .. } => (o, w + 1, s),
                CredKind::Session { .. } => (o, w, s + 1),
            })
    }

    /// Applies every change committed since the last sync, read from `conn`
    /// (which must not be inside a transaction).
    /// Applies what was committed since the last sync; true when that was
    /// anything (for the follower's count).
    pub fn sync(&self, conn: &Connection) -> StoreResult<bool> {
        let applied = self.apply_since(conn)?;
        self.stale.store(false, Ordering::Release);
        Ok(applied)
    }

    /// Commits the follower looked at: (nothing new for the map, applied).
    pub fn followed(&self) -> (u64, u64) {
        (
            self.followed_unchanged.load(Ordering::Relaxed),
            self.followed_applied.load(Ordering::Relaxed),
        )
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Release);
    }

    fn apply_since(&self, conn: &Connection) -> StoreResult<bool> {
        // The counter and the rows come from one read snapshot.
        let tx = conn.unchecked_transaction()?;
        let seq = rows::committed_seq(&tx)?;
        let seen = self.seen_seq();
        if seq <= seen {
            return Ok(false);
        }
        let mut changes: Vec<([u8; 32], Option<Credential>)> = Vec::new();
        rows::changed_since(&tx, seen, |row| match row {
            CredRow::Gone(hash) => changes.push((hash, None)),
            CredRow::Live {
                hash,
                id,
                prefix,
                kind,
                expires_at,
                last_used,
            } => {
                let cred = credential(prefix, id, kind, expires_at, last_used);
                if cred.is_none() {
                    tracing::error!("a credential row has a malformed id; it cannot be used");
                }
                changes.push((hash, cred));
            }
        })?;
        drop(tx);
        let _applying = self.apply.lock().unwrap_or_else(|e| e.into_inner());
        if seq <= self.seen_seq() {
            // A newer snapshot was applied while this one was read.
            return Ok(false);
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for (hash, change) in changes {
            let hash = key(&hash);
            match change {
                Some(mut cred) => {
                    if let Some(old) = map.get(&hash) {
                        if let (Some(g), Some(old_g)) = (cred.guard.as_mut(), old.guard.as_ref()) {
                            g.keep_count_of(old_g);
                        }
                        cred.last_used
                            .fetch_max(old.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
                        cred.flushed
                            .store(old.flushed.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                    map.insert(hash, Arc::new(cred));
                }
                None => {
                    map.remove(&hash);
                }
            }
        }
        self.seen.store(seq, Ordering::Release);
        Ok(true)
    }

    /// Uses not yet written to the database. They are marked flushed at
    /// once; a failed flush only loses a timestamp.
    pub fn take_unflushed(&self) -> Vec<Usage> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter_map(|c| {
                let used = c.last_used.load(Ordering::Relaxed);
                let before = c.flushed.fetch_max(used, Ordering::Relaxed);
                (used > before).then_some(match c.kind {
                    CredKind::Org { id, .. } => Usage::Key(id, used),
                    CredKind::Workspace { id, .. } => Usage::Token(id, used),
                    CredKind::Session { id, .. } => Usage::Session(id, used),
                })
            })
            .collect()
    }
}

/// The store tells the map about every commit that changed a credential,
/// before the write is answered. The write is committed: a failed sync must
/// not turn it into an error (a mint's token would be lost, a revoke
/// retried into a 404). It is retried here, and the follower reads the
/// change again anyway (data_version has moved for its connection).
impl CommitObserver for CredCache {
    fn credentials_committed(&self, conn: &Connection) {
        let mut tries = 0;
        while let Err(e) = self.sync(conn) {
            tries += 1;
            if tries == 3 {
                tracing::error!(error = %e, "credential map sync after a commit failed; refusing credentials until the watcher catches up");
                self.mark_stale();
                break;
            }
        }
    }

    fn lost_track(&self) {
        self.mark_stale();
    }
}

/// Follows commits made through other connections (the CLI on the box).
pub struct Follower {
    conn: Connection,
    data_version: i64,
}

impl Follower {
    /// Loads every live credential, and starts following from there.
    pub fn start(db: &Db, creds: &CredCache) -> StoreResult<Follower> {
        let conn = db.open_reader()?;
        let data_version = store::data_version(&conn)?;
        creds.sync(&conn)?;
        Ok(Follower { conn, data_version })
    }

    /// One look for commits made through other connections since the last:
    /// `PRAGMA data_version` moves when any other connection has committed,
    /// and only then is a snapshot of the changed credentials read. Returns
    /// the credential sequence number the map now reflects. The version is
    /// read before the snapshot, so a commit between the two is read now
    /// and again next time, never missed.
    pub fn follow(&mut self, db: &Db, creds: &CredCache) -> StoreResult<i64> {
        let dv = store::data_version(&self.conn).inspect_err(|_| creds.mark_stale())?;
        if dv != self.data_version || creds.is_stale() {
            db.bump_generation();
            let applied = creds.sync(&self.conn).inspect_err(|_| creds.mark_stale())?;
            let counter = if applied {
                &creds.followed_applied
            } else {
                &creds.followed_unchanged
            };
            counter.fetch_add(1, Ordering::Relaxed);
            self.data_version = dv;
        }
        Ok(creds.seen_seq())
    }
}
