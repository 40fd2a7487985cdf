//! One live credential as the map holds it: kept small on purpose (a
//! tenant may have hundreds of thousands), with no field that allocates
//! but a bound key's bindings.

use std::sync::atomic::{AtomicI64, Ordering};

use super::guard::{Guard, RateState};
use crate::domain::authz::Grant;
use crate::domain::ids::{KeyId, SessionId, TokenId, WorkspaceId};
use crate::domain::role::Role;
use crate::domain::token::TokenKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredKind {
    /// Bindings: empty = every workspace (bound keys are rare).
    Org {
        id: KeyId,
        role: Role,
        workspaces: Box<[WorkspaceId]>,
    },
    Workspace {
        id: TokenId,
        workspace_id: WorkspaceId,
    },
    /// A browser session: the surface of an unbound admin key. It ends
    /// after `idle_ms` without a request.
    Session {
        id: SessionId,
        idle_ms: i64,
    },
}

#[derive(Debug)]
pub struct Credential {
    /// What lists and logs show after the token's tag (the first secret
    /// characters); a session is shown by its id's first characters.
    shown: [u8; 8],
    pub kind: CredKind,
    /// `i64::MAX`: never.
    expires_at: i64,
    /// Last successful use, in memory; written to the database in batches.
    pub(super) last_used: AtomicI64,
    pub(super) flushed: AtomicI64,
    /// Ranges it may be used from, and its rate (keys that have either).
    pub(super) guard: Option<Box<Guard>>,
}

impl Credential {
    pub fn new(prefix: &str, kind: CredKind, expires_at: Option<i64>, last_used: Option<i64>) -> Self {
        let used = last_used.unwrap_or(0);
        let mut shown = [b'?'; 8];
        let tail = &prefix.as_bytes()[prefix.len().saturating_sub(8)..];
        shown[..tail.len()].copy_from_slice(tail);
        Credential {
            shown,
            kind,
            expires_at: expires_at.unwrap_or(i64::MAX),
            last_used: AtomicI64::new(used),
            flushed: AtomicI64::new(used),
            guard: None,
        }
    }

    pub fn with_guard(mut self, guard: Option<Box<Guard>>) -> Self {
        self.guard = guard;
        self
    }

    /// Counts a request against the key's rate, if it has one.
    pub fn take_rate(&self) -> Option<RateState> {
        self.guard.as_ref()?.take()
    }

    /// What the credential may do, for the authorization rules.
    pub fn grant(&self) -> Grant<'_> {
        match &self.kind {
            CredKind::Org { role, workspaces, .. } => Grant::Org {
                role: *role,
                bindings: workspaces,
            },
            CredKind::Workspace { workspace_id, .. } => Grant::Workspace(*workspace_id),
            CredKind::Session { .. } => Grant::Session,
        }
    }

    /// The id, as text.
    pub fn id(&self) -> String {
        match &self.kind {
            CredKind::Org { id, .. } => id.to_string(),
            CredKind::Workspace { id, .. } => id.to_string(),
            CredKind::Session { id, .. } => id.to_string(),
        }
    }

    /// Whether this is the credential with id `s`.
    pub fn is(&self, s: &str) -> bool {
        match &self.kind {
            CredKind::Org { id, .. } => id.is(s),
            CredKind::Workspace { id, .. } => id.is(s),
            CredKind::Session { id, .. } => id.is(s),
        }
    }

    pub fn key_id(&self) -> Option<KeyId> {
        match self.kind {
            CredKind::Org { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn session_id(&self) -> Option<SessionId> {
        match self.kind {
            CredKind::Session { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The workspace of a workspace token.
    pub fn workspace_id(&self) -> Option<WorkspaceId> {
        match self.kind {
            CredKind::Workspace { workspace_id, .. } => Some(workspace_id),
            _ => None,
        }
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

    /// How the audit trail and `created_by` name this credential.
    pub fn actor_name(&self) -> String {
        let kind = match self.kind {
            CredKind::Org { .. } => "org-token",
            CredKind::Workspace { .. } => "workspace-token",
            CredKind::Session { .. } => "session",
        };
        format!("{kind}:{}", self.shown())
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
        self.expires_at <= now || matches!(self.kind, CredKind::Session { idle_ms, .. } if idle(idle_ms))
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
