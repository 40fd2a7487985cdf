//! The authenticated caller, and the rules of `domain::authz` applied to it
//! where they need the database (the workspace tree, the caller's row).

use std::net::IpAddr;
use std::sync::Arc;

use rusqlite::Connection;

use crate::creds::{CredKind, Credential};
use crate::domain::audit::Actor;
use crate::domain::authz::{self, Grant, Need, Reach};
use crate::domain::ids::WorkspaceId;
use crate::domain::role::Role;
use crate::domain::{Error, Result};
use crate::store::workspaces::{self, WorkspaceRow};
use crate::store::{keys, sessions, tokens, StoreResult};

#[derive(Clone, Debug)]
pub struct Principal {
    pub cred: Arc<Credential>,
    pub client: Option<IpAddr>,
    /// The door the request came through, when not the plain API: `mcp`.
    pub via: Option<&'static str>,
}

impl Principal {
    pub fn grant(&self) -> Grant<'_> {
        self.cred.grant()
    }

    /// How the audit trail and `created_by` name this caller.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.cred.actor_name(),
            client: self.client.map(|ip| ip.to_string()),
            via: self.via,
        }
    }

    pub fn org_role(&self, min: Role) -> Result<(Role, Reach<'_>)> {
        authz::org_role(&self.grant(), min)
    }

    pub fn org_wide(&self, min: Role) -> Result<Role> {
        authz::org_wide(&self.grant(), min)
    }

    /// The workspace of a workspace token.
    pub fn workspace_id(&self) -> Option<WorkspaceId> {
        self.cred.workspace_id()
    }

    /// The roots a list is limited to: `None` for every workspace.
    pub fn roots(&self, min: Role) -> Result<Option<Vec<WorkspaceId>>> {
        Ok(match self.org_role(min)?.1 {
            Reach::Everything => None,
            Reach::Within(b) => Some(b.to_vec()),
        })
    }

    /// Checks access to one workspace. Run inside a storage call: bound
    /// keys need the tree to decide.
    pub fn check_workspace(&self, conn: &Connection, id: WorkspaceId, need: Need) -> Result<()> {
        match authz::workspace(&self.grant(), id, need)? {
            Reach::Everything => Ok(()),
            Reach::Within(roots) if workspaces::within(conn, id, roots)? => Ok(()),
            Reach::Within(_) => Err(Error::forbidden(authz::NOT_BOUND)),
        }
    }

    /// Checks access to a workspace and returns it; 404 when the caller
    /// may reach it but it does not exist (or was deleted).
    pub fn workspace(&self, conn: &Connection, id: WorkspaceId, need: Need) -> Result<WorkspaceRow> {
        self.check_workspace(conn, id, need)?;
        workspaces::get(conn, id)?.ok_or_else(|| Error::not_found("workspace"))
    }

    /// Whether every one of `targets` lies within what this caller may bind
    /// a credential to (an unbound key covers everything; nothing covers
    /// "all" but unbound).
    pub fn covers(&self, conn: &Connection, targets: &[WorkspaceId]) -> Result<bool> {
        match authz::coverage(&self.grant()) {
            None => Ok(false),
            Some(Reach::Everything) => Ok(true),
            Some(Reach::Within(_)) if targets.is_empty() => Ok(false),
            Some(Reach::Within(roots)) => {
                for t in targets {
                    if !workspaces::within(conn, *t, roots)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    /// Whether this credential is still live in the database, read inside
    /// the caller's transaction rather than from the in-memory map.
    pub fn still_live(&self, conn: &Connection, now: i64) -> StoreResult<bool> {
        match self.cred.kind {
            CredKind::Org { id, .. } => keys::is_live(conn, id, now),
            CredKind::Workspace { id, .. } => tokens::is_live(conn, id, now),
            CredKind::Session { id, .. } => sessions::is_live(conn, id, now),
        }
    }

    /// The latest a credential this caller mints may live, read inside the
    /// transaction (a rotation may have just shortened the caller's life).
    /// A session opened with a key mints within that key's life; one opened
    /// with a login link (from the box) mints as the CLI does.
    pub fn expiry_limit(&self, conn: &Connection, now: i64) -> Result<Option<i64>> {
        Ok(match self.cred.kind {
            CredKind::Org { id, .. } => keys::live_expiry(conn, id, now)?,
            CredKind::Workspace { .. } => self.cred.expires_at(),
            CredKind::Session { id, .. } => sessions::opener_expiry(conn, id)?,
        })
    }

    /// The expiry of a credential this caller mints (see `authz::cap_expiry`).
    pub fn cap_expiry(&self, conn: &Connection, now: i64, asked: Option<i64>) -> Result<Option<i64>> {
        authz::cap_expiry(self.expiry_limit(conn, now)?, asked)
    }
}
