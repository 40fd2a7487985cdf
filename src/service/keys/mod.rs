//! Org API keys: mint, list, revoke, rotate, edit, disable; and the CLI's
//! on-box mint, list and revoke, which take the same paths without a
//! caller.

mod leaked;
mod manage;
mod mint;

use serde::{Deserialize, Serialize};

pub use leaked::{report as report_leaked, revoke_on_box as revoke_leaked_on_box, LeakReport};
pub use manage::{list_on_box, patch, revoke, revoke_on_box, PatchKey, Target};
pub use mint::{mint, mint_on_box, rotate, BoxMint};

use super::{App, Principal};
use crate::creds::CredKind;
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::key_policy::{expires_within, Policy, RateLimit};
use crate::domain::keys::{Limits, WARNING};
use crate::domain::role::Role;
use crate::domain::time::Time;
use crate::domain::{Error, Result};
use crate::store::keys::{self, KeyRow};
use crate::store::policy;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintKeyRequest {
    /// Optional, as upstream's canvas sends `{}` for a blank label; the key
    /// is then named after its prefix.
    name: Option<String>,
    role: Option<String>,
    #[serde(default)]
    workspaces: Vec<String>,
    expires_in: Option<i64>,
    expires_at: Option<String>,
    description: Option<String>,
    /// Address ranges the key may be used from (empty: anywhere).
    allowed_cidrs: Option<Vec<String>>,
    rate_limit: Option<RateLimit>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    #[serde(default)]
    grace_seconds: i64,
    /// A new expiry for the new key (else the old one's).
    expires_in: Option<i64>,
    expires_at: Option<String>,
}

/// What a list says of a key beyond its row: what a reader should act on.
pub struct Seen {
    pub now: i64,
    pub policy: Policy,
}

/// A key's limits as the API shows them.
#[derive(Serialize)]
pub struct LimitsView {
    pub description: Option<String>,
    pub allowed_cidrs: Vec<String>,
    pub rate_limit: Option<RateLimit>,
}

impl From<Limits> for LimitsView {
    fn from(l: Limits) -> Self {
        LimitsView {
            description: l.description,
            allowed_cidrs: l.allowed_cidrs.iter().map(ToString::to_string).collect(),
            rate_limit: l.rate_limit,
        }
    }
}

/// A key as lists show it (never its token).
#[derive(Serialize)]
pub struct KeyView {
    pub id: KeyId,
    pub prefix: String,
    pub name: String,
    pub role: Role,
    pub workspaces: Vec<WorkspaceId>,
    pub created_by: String,
    pub created_at: Time,
    pub last_used_at: Option<Time>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
    pub expires_at: Option<Time>,
    /// `"7d"` or `"30d"`: it expires within that window (and has not been
    /// rotated: a replaced key's end is planned).
    pub expires_soon: Option<String>,
    /// It breaks the org's key policy (minted before it, or over it with
    /// `--override-policy`).
    pub breaks_policy: bool,
    pub disabled: bool,
    #[serde(flatten)]
    pub limits: LimitsView,
}

impl KeyView {
    /// `last_used`: the in-memory last use, newer than the row's until the
    /// next flush.
    pub fn of(k: KeyRow, last_used: Option<i64>, seen: &Seen) -> KeyView {
        KeyView {
            last_used_at: last_used.max(k.last_used_at).map(Time),
            expires_soon: expires_within(seen.now, k.expires_at)
                .filter(|_| k.rotated_to.is_none())
                .map(|d| format!("{d}d")),
            breaks_policy: seen.policy.flags(k.created_at, k.expires_at),
            disabled: k.disabled_at.is_some(),
            id: k.id,
            prefix: k.prefix,
            name: k.name,
            role: k.role,
            workspaces: k.workspaces,
            created_by: k.created_by,
            created_at: Time(k.created_at),
            expires_at: k.expires_at.map(Time),
            last_used_ip: k.last_used_ip,
            last_used_user_agent: k.last_used_user_agent,
            limits: k.limits.into(),
        }
    }
}

#[derive(Serialize)]
pub struct KeyList {
    pub count: usize,
    pub tokens: Vec<KeyView>,
}

/// A key just minted, with its token: the one time it is shown.
#[derive(Serialize)]
pub struct MintedKey {
    pub id: KeyId,
    pub prefix: String,
    pub name: String,
    pub role: Role,
    pub workspaces: Vec<WorkspaceId>,
    pub expires_at: Option<Time>,
    pub created_by: String,
    pub created_at: Time,
    #[serde(flatten)]
    pub limits: LimitsView,
    pub auth_token: String,
    pub warning: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<KeyId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_key_expires_at: Option<Time>,
}

impl MintedKey {
    fn of(k: KeyRow, token: String) -> MintedKey {
        MintedKey {
            id: k.id,
            prefix: k.prefix,
            name: k.name,
            role: k.role,
            workspaces: k.workspaces,
            expires_at: k.expires_at.map(Time),
            created_by: k.created_by,
            created_at: Time(k.created_at),
            limits: k.limits.into(),
            auth_token: token,
            warning: WARNING,
            rotated_from: None,
            old_key_expires_at: None,
        }
    }
}

/// The key a request names; anything but an id names none.
fn key_id(raw: &str) -> Result<KeyId> {
    KeyId::parse(raw).ok_or_else(|| Error::not_found("key"))
}

/// Whether the caller may see and manage `key`: unbound admins see every
/// key; bound admins see the keys bound within their own bindings.
pub(crate) fn manages(who: &Principal, conn: &rusqlite::Connection, key: &KeyRow) -> Result<bool> {
    Ok(who.cred.key_id() == Some(key.id) || who.covers(conn, &key.workspaces)?)
}

pub async fn list(app: &App, who: Principal) -> Result<KeyList> {
    who.org_role(Role::Admin)?;
    let now = app.now();
    let (rows, policy) = app
        .read(move |conn| {
            let mut out = Vec::new();
            for k in keys::list_live(conn, now)? {
                if manages(&who, conn, &k)? {
                    out.push(k);
                }
            }
            Ok((out, policy::get(conn)?.policy))
        })
        .await?;
    let seen = Seen { now, policy };
    let tokens: Vec<KeyView> = rows
        .into_iter()
        .map(|k| {
            let used = app.creds.last_used(&k.token_hash);
            KeyView::of(k, used, &seen)
        })
        .collect();
    Ok(KeyList {
        count: tokens.len(),
        tokens,
    })
}

/// `GET /org/whoami`: serialised from borrowed fields without building a
/// JSON tree (it is the route agents poll).
#[derive(Serialize)]
pub struct WhoAmI<'a> {
    kind: &'static str,
    id: Id,
    prefix: crate::creds::Shown<'a>,
    role: &'static str,
    workspaces: &'a [WorkspaceId],
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace_id: Option<WorkspaceId>,
    expires_at: Option<Time>,
}

/// Any kind of credential id.
#[derive(Serialize)]
#[serde(untagged)]
enum Id {
    Key(KeyId),
    Token(crate::domain::ids::TokenId),
    Session(crate::domain::ids::SessionId),
}

pub fn whoami(who: &Principal) -> WhoAmI<'_> {
    let c = &who.cred;
    let (kind, id, role, workspaces, own): (_, _, _, &[WorkspaceId], _) = match &c.kind {
        CredKind::Org { id, role, workspaces } => ("org", Id::Key(*id), role.as_str(), workspaces, None),
        CredKind::Workspace { id, workspace_id } => (
            "workspace",
            Id::Token(*id),
            "agent",
            std::slice::from_ref(workspace_id),
            Some(*workspace_id),
        ),
        CredKind::Session { id, .. } => ("session", Id::Session(*id), Role::Admin.as_str(), &[], None),
    };
    WhoAmI {
        kind,
        id,
        prefix: c.shown(),
        role,
        workspaces,
        workspace_id: own,
        expires_at: c.expires_at().map(Time),
    }
}
