//! Every live credential (org keys, workspace tokens, browser sessions), in
//! memory, keyed by the blake3 hash of the token.
//!
//! The map is only ever filled from committed rows: at start-up, right
//! after a write that changed a credential, before its response
//! (`Db::write`, the group writer), and when another process has changed
//! one (the watcher, `Db::watch`). If a fill fails, the map is marked stale
//! and no credential is accepted (503) until one succeeds: a revocation
//! that did not reach memory must not leave the key working. Each fill reads one snapshot and is applied only if
//! that snapshot is newer than the last one applied, so an older read can
//! never re-insert a key that a newer revocation removed. A miss means
//! unknown or revoked, never "not loaded yet". Expiry is checked on every
//! lookup against the caller's clock, not by a sweeper.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::Connection;

use crate::auth::Failure;
use crate::db::{keys, sessions, tokens, StoreResult};
use crate::model::Role;
use crate::token::TokenKind;

/// A credential's id in 16 bytes: every id this server makes is a
/// canonical UUID, and the map holds one per live key, token and session
/// (a tenant may have hundreds of thousands).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Id([u8; 16]);

impl Id {
    /// `None` for anything but a canonical (lowercase, hyphenated) UUID.
    pub fn new(s: &str) -> Option<Id> {
        if !crate::model::is_uuid(s) {
            return None;
        }
        uuid::Uuid::try_parse(s).ok().map(|u| Id(*u.as_bytes()))
    }

    /// Whether this is the id `s`, without allocating.
    pub fn is(&self, s: &str) -> bool {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::from_bytes(self.0).hyphenated().encode_lower(&mut buf) == s
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", uuid::Uuid::from_bytes(self.0).hyphenated())
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// The map's key: the first 16 bytes of a token's blake3 hash. Finding a
/// token that matches a live one on 128 bits is a 2^128 search; the full
/// hash stays in the database.
pub type Key = [u8; 16];

pub fn key(hash: &[u8; 32]) -> Key {
    let mut k = [0u8; 16];
    k.copy_from_slice(&hash[..16]);
    k
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredKind {
    /// Bindings: empty = every workspace (bound keys are rare).
    Org {
        role: Role,
        workspaces: Box<[String]>,
    },
    Workspace {
        workspace_id: Id,
    },
    /// A browser session: the surface of an unbound admin key. It ends
    /// after `idle_ms` without a request.
    Session {
        idle_ms: i64,
    },
}

/// Kept small on purpose (see `Id`): no field allocates but a bound key's
/// bindings.
#[derive(Debug)]
pub struct Credential {
    id: Id,
    /// What lists and logs show after the token's tag (the first secret
    /// characters); a session is shown by its id's first characters.
    shown: [u8; 8],
    pub kind: CredKind,
    /// `i64::MAX`: never.
    expires_at: i64,
    /// Last successful use, in memory; written to the database in batches.
    last_used: AtomicI64,
    flushed: AtomicI64,
}

impl Credential {
    /// `None` when `id` is not a canonical UUID: such a row was not made
    /// by this server, and cannot authenticate.
    pub fn new(
        id: &str,
        prefix: &str,
        kind: CredKind,
        expires_at: Option<i64>,
        last_used: Option<i64>,
    ) -> Option<Self> {
        let used = last_used.unwrap_or(0);
        let mut shown = [b'?'; 8];
        let tail = &prefix.as_bytes()[prefix.len().saturating_sub(8)..];
        shown[..tail.len()].copy_from_slice(tail);
        Some(Credential {
            id: Id::new(id)?,
            shown,
            kind,
            expires_at: expires_at.unwrap_or(i64::MAX),
            last_used: AtomicI64::new(used),
            flushed: AtomicI64::new(used),
        })
    }

    pub fn id(&self) -> String {
        self.id.to_string()
    }

    /// Whether this is the credential with id `s`.
    pub fn is(&self, s: &str) -> bool {
        self.id.is(s)
    }

    /// The display prefix (`mol_org_AbCd1234`; a session's first 8 id
    /// characters).
    pub fn prefix(&self) -> String {
        self.shown().to_string()
    }

    /// The display prefix, written where it is needed without allocating.
    pub fn shown(&self) -> Shown<'_> {
        Shown(self)
    }

    pub fn raw_id(&self) -> Id {
        self.id
    }

    pub fn expires_at(&self) -> Option<i64> {
        (self.expires_at != i64::MAX).then_some(self.expires_at)
    }

    pub fn is_session(&self) -> bool {
        matches!(self.kind, CredKind::Session { .. })
    }

    pub fn token_kind(&self) -> TokenKind {
        match self.kind {
            CredKind::Org { .. } => TokenKind::Org,
            CredKind::Workspace { .. } => TokenKind::Workspace,
            CredKind::Session { .. } => TokenKind::Session,
        }
    }

    /// Past its expiry, or (sessions) idle for too long. A session's last
    /// use starts at its creation, so it is never idle from birth.
    pub fn is_expired(&self, now: i64) -> bool {
        let idle = |ms: i64| self.last_used.load(Ordering::Relaxed).saturating_add(ms) <= now;
        self.expires_at <= now || matches!(self.kind, CredKind::Session { idle_ms } if idle(idle_ms))
    }

    pub fn last_used(&self) -> Option<i64> {
        Some(self.last_used.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }
}

/// A credential's display prefix, as `Display` and `Serialize`.
pub struct Shown<'a>(&'a Credential);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.0;
        let tag = match c.kind {
            CredKind::Org { .. } => TokenKind::Org.tag(),
            CredKind::Workspace { .. } => TokenKind::Workspace.tag(),
            CredKind::Session { .. } => "",
        };
        f.write_str(tag)?;
        f.write_str(std::str::from_utf8(&c.shown).unwrap_or("????????"))
    }
}

impl serde::Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One row's state, as read from the database.
pub enum CredChange {
    Live([u8; 32], Credential),
    Gone([u8; 32]),
}

impl CredChange {
    /// A live row, or — when its ids are not this server's canonical UUIDs
    /// (a row written by hand) — one that cannot authenticate.
    pub fn live(hash: [u8; 32], cred: Option<Credential>) -> CredChange {
        match cred {
            Some(c) => CredChange::Live(hash, c),
            None => {
                tracing::error!("a credential row has a malformed id; it cannot be used");
                CredChange::Gone(hash)
            }
        }
    }
}

/// A pending `last_used_at` write.
pub struct Usage {
    pub kind: TokenKind,
    pub id: String,
    pub at: i64,
}

pub struct CredCache {
    map: RwLock<HashMap<Key, Arc<Credential>>>,
    /// The highest `cred_seq` applied; -1 before the first load.
    seen: AtomicI64,
    /// Serialises applying snapshots (not reading them).
    apply: Mutex<()>,
    /// A committed change could not be applied: see the module comment.
    stale: AtomicBool,
}

impl Default for CredCache {
    fn default() -> Self {
        CredCache {
            map: RwLock::default(),
            seen: AtomicI64::new(-1),
            apply: Mutex::new(()),
            stale: AtomicBool::new(false),
        }
    }
}

impl CredCache {
    pub fn seen_seq(&self) -> i64 {
        self.seen.load(Ordering::Acquire)
    }

    /// The live, unexpired credential for a token hash, marking it used
    /// (unless `poll` and it is a session: background refreshes do not keep
    /// a session from going idle); otherwise why not (for counting only:
    /// callers answer both alike).
    pub fn authenticate(&self, hash: &[u8; 32], now: i64, poll: bool) -> Result<Arc<Credential>, Failure> {
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
        if !(poll && cred.is_session()) {
            cred.last_used.fetch_max(now, Ordering::Relaxed);
        }
        Ok(cred)
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
    pub fn sync(&self, conn: &Connection) -> StoreResult<()> {
        self.apply_since(conn)?;
        self.stale.store(false, Ordering::Release);
        Ok(())
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Release);
    }

    fn apply_since(&self, conn: &Connection) -> StoreResult<()> {
        // The counter and the rows come from one read snapshot.
        let tx = conn.unchecked_transaction()?;
        let seq: i64 = tx
            .prepare_cached("SELECT v FROM meta WHERE k = 'cred_seq'")?
            .query_row([], |r| r.get(0))?;
        let seen = self.seen_seq();
        if seq <= seen {
            return Ok(());
        }
        let mut changes = keys::changed_since(&tx, seen)?;
        changes.extend(tokens::changed_since(&tx, seen)?);
        changes.extend(sessions::changed_since(&tx, seen)?);
        drop(tx);
        let _applying = self.apply.lock().unwrap_or_else(|e| e.into_inner());
        if seq <= self.seen_seq() {
            // A newer snapshot was applied while this one was read.
            return Ok(());
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for change in changes {
            match change {
                CredChange::Live(hash, cred) => {
                    let hash = key(&hash);
                    if let Some(old) = map.get(&hash) {
                        cred.last_used
                            .fetch_max(old.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
                        cred.flushed
                            .store(old.flushed.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                    map.insert(hash, Arc::new(cred));
                }
                CredChange::Gone(hash) => {
                    map.remove(&key(&hash));
                }
            }
        }
        self.seen.store(seq, Ordering::Release);
        Ok(())
    }

    /// Uses not yet written to the database. They are marked flushed at
    /// once; a failed flush only loses a timestamp.
    pub fn take_unflushed(&self) -> Vec<Usage> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter_map(|c| {
                let used = c.last_used.load(Ordering::Relaxed);
                let before = c.flushed.fetch_max(used, Ordering::Relaxed);
                (used > before).then(|| Usage {
                    kind: c.token_kind(),
                    id: c.id(),
                    at: used,
                })
            })
            .collect()
    }
}
