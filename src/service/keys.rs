//! Org API keys: mint, list, revoke, rotate; and the CLI's on-box mint,
//! list and revoke, which take the same paths without a caller.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{mint as mint_token, App, Principal};
use crate::creds::CredKind;
use crate::domain::audit::{Action, Actor};
use crate::domain::authz::{self, MINT_OUTSIDE_BINDINGS};
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::keys::{self as rules, NewKey, WARNING};
use crate::domain::role::{Role, ROLE_NAMES};
use crate::domain::text::check_name;
use crate::domain::time::Time;
use crate::domain::token::TokenKind;
use crate::domain::{Code, Error, Result};
use crate::store::keys::{self, KeyRow};
use crate::store::{audit, workspaces, Db, WriteCtx};

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
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    #[serde(default)]
    grace_seconds: i64,
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
    pub expires_at: Option<Time>,
}

impl KeyView {
    /// `last_used`: the in-memory last use, newer than the row's until the
    /// next flush.
    pub fn of(k: KeyRow, last_used: Option<i64>) -> KeyView {
        KeyView {
            last_used_at: last_used.max(k.last_used_at).map(Time),
            id: k.id,
            prefix: k.prefix,
            name: k.name,
            role: k.role,
            workspaces: k.workspaces,
            created_by: k.created_by,
            created_at: Time(k.created_at),
            expires_at: k.expires_at.map(Time),
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

/// Mints inside the caller's transaction and records it.
fn record_mint(
    ctx: &mut WriteCtx,
    actor: &Actor,
    new: &NewKey,
    action: Action,
    extra: Value,
) -> Result<(KeyRow, String)> {
    if !workspaces::all_live(ctx, &new.workspaces)? {
        return Err(Error::invalid("workspaces: every id must be an existing workspace"));
    }
    let minted = mint_token(TokenKind::Org)?;
    let named;
    let new = if new.name.is_empty() {
        named = NewKey {
            name: format!("key {}", minted.prefix),
            ..new.clone()
        };
        &named
    } else {
        new
    };
    let row = keys::insert(ctx, new, &minted)?;
    let mut detail = json!({
        "name": row.name, "prefix": row.prefix, "role": row.role,
        "workspaces": row.workspaces, "expires_at": row.expires_at.map(Time),
    });
    if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    audit::append(ctx, actor, action, Some(&row.id.to_string()), detail)?;
    Ok((row, minted.plaintext))
}

/// Refuses a key broader than its minter: a higher role, a workspace
/// outside the minter's bindings (or no binding when the minter is bound),
/// or a later expiry (the minter's is inherited when none is asked for).
fn narrow_to_minter(who: &Principal, ctx: &WriteCtx, new: &mut NewKey) -> Result<()> {
    authz::may_mint_role(&who.grant(), new.role)?;
    if !who.covers(ctx, &new.workspaces)? {
        return Err(Error::forbidden(MINT_OUTSIDE_BINDINGS));
    }
    new.expires_at = who.cap_expiry(ctx, ctx.now, new.expires_at)?;
    Ok(())
}

/// Whether the caller may see and manage `key`: unbound admins see every
/// key; bound admins see the keys bound within their own bindings.
fn manages(who: &Principal, conn: &rusqlite::Connection, key: &KeyRow) -> Result<bool> {
    Ok(who.cred.key_id() == Some(key.id) || who.covers(conn, &key.workspaces)?)
}

pub async fn list(app: &App, who: Principal) -> Result<KeyList> {
    who.org_role(Role::Admin)?;
    let now = app.now();
    let rows = app
        .read(move |conn| {
            let mut out = Vec::new();
            for k in keys::list_live(conn, now)? {
                if manages(&who, conn, &k)? {
                    out.push(k);
                }
            }
            Ok(out)
        })
        .await?;
    let tokens: Vec<KeyView> = rows
        .into_iter()
        .map(|k| {
            let used = app.creds.last_used(&k.token_hash);
            KeyView::of(k, used)
        })
        .collect();
    Ok(KeyList {
        count: tokens.len(),
        tokens,
    })
}

pub async fn mint(app: &App, who: Principal, req: MintKeyRequest) -> Result<MintedKey> {
    who.org_role(Role::Admin)?;
    if let Some(name) = &req.name {
        check_name("name", name, rules::MAX_NAME_CHARS).map_err(Error::invalid)?;
    }
    let role = match &req.role {
        None => Role::Admin,
        Some(r) => Role::parse(r).ok_or_else(|| Error::invalid(format!("role must be one of {ROLE_NAMES}")))?,
    };
    let mut new = NewKey {
        name: req.name.unwrap_or_default(),
        role,
        workspaces: rules::bindings(&req.workspaces)?,
        expires_at: rules::expiry(app.now(), req.expires_in, req.expires_at.as_deref())?,
        created_by: String::new(),
    };
    let (row, token) = app
        .write(who, move |ctx, who| {
            narrow_to_minter(who, ctx, &mut new)?;
            new.created_by = who.actor().name;
            record_mint(ctx, &who.actor(), &new, Action::OrgKeyMint, json!({}))
        })
        .await?;
    tracing::info!(prefix = %row.prefix, role = row.role.as_str(), "org key minted");
    Ok(MintedKey::of(row, token))
}

pub async fn revoke(app: &App, who: Principal, raw: &str) -> Result<KeyId> {
    let id = key_id(raw)?;
    // Any key may revoke itself; revoking another takes an admin key.
    if who.cred.key_id() != Some(id) {
        who.org_role(Role::Admin)?;
    }
    app.write(who, move |ctx, who| {
        let key = keys::find_live(ctx, id, ctx.now)?.ok_or_else(|| Error::not_found("key"))?;
        if !manages(who, ctx, &key)? {
            return Err(Error::not_found("key"));
        }
        keys::revoke(ctx, id)?;
        let detail = json!({"prefix": key.prefix, "name": key.name});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::OrgKeyRevoke,
            Some(&id.to_string()),
            detail,
        )?)
    })
    .await?;
    tracing::info!(key = %id, "org key revoked");
    Ok(id)
}

pub async fn rotate(app: &App, who: Principal, raw: &str, req: Option<RotateRequest>) -> Result<MintedKey> {
    who.org_role(Role::Admin)?;
    let id = key_id(raw)?;
    let grace = req.unwrap_or_default().grace_seconds;
    rules::grace_end(0, grace, None)?;
    let (row, token, until) = app
        .write(who, move |ctx, who| {
            let old = keys::find_live(ctx, id, ctx.now)?.ok_or_else(|| Error::not_found("key"))?;
            if !manages(who, ctx, &old)? {
                return Err(Error::not_found("key"));
            }
            if let Some(successor) = &old.rotated_to {
                return Err(Error::new(
                    Code::AlreadyRotated,
                    format!("this key was already rotated (to {successor}) and is in its grace period"),
                ));
            }
            let actor = who.actor();
            let mut new = NewKey {
                name: old.name.clone(),
                role: old.role,
                workspaces: old.workspaces.clone(),
                expires_at: old.expires_at,
                created_by: actor.name.clone(),
            };
            narrow_to_minter(who, ctx, &mut new)?;
            let until = rules::grace_end(ctx.now, grace, old.expires_at)?;
            let extra = json!({"rotated_from": old.id, "old_key_expires_at": Time(until)});
            let (row, token) = record_mint(ctx, &actor, &new, Action::OrgKeyRotate, extra)?;
            keys::retire(ctx, old.id, until, row.id)?;
            Ok((row, token, until))
        })
        .await?;
    let mut out = MintedKey::of(row, token);
    out.rotated_from = Some(id);
    out.old_key_expires_at = Some(Time(until));
    Ok(out)
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

// ---- on the box (the CLI) ------------------------------------------------

/// What `mint-key` asks for.
pub struct BoxMint {
    pub label: String,
    pub role: Role,
    pub workspaces: Vec<String>,
    pub expires_at: Option<i64>,
}

/// Mints a key on the box, recorded as made by `cli`: the bootstrap for the
/// first key. Returns the key and its token.
pub fn mint_on_box(db: &Db, req: BoxMint, now: i64) -> Result<(KeyView, String)> {
    check_name("label", &req.label, rules::MAX_NAME_CHARS).map_err(Error::invalid)?;
    let new = NewKey {
        name: req.label,
        role: req.role,
        workspaces: rules::bindings(&req.workspaces)?,
        expires_at: req.expires_at,
        created_by: "cli".into(),
    };
    let (row, token) = db.write_with(now, |ctx| {
        record_mint(ctx, &Actor::cli(), &new, Action::OrgKeyMint, json!({}))
    })?;
    Ok((KeyView::of(row, None), token))
}

pub fn list_on_box(db: &Db, now: i64) -> Result<Vec<KeyView>> {
    let rows = db.read_with(|conn| -> Result<_> { Ok(keys::list_live(conn, now)?) })?;
    Ok(rows.into_iter().map(|k| KeyView::of(k, None)).collect())
}

/// What `revoke-key` was given.
pub enum Target {
    Id(KeyId),
    Prefix(String),
    Token([u8; 32]),
}

/// Revokes the one live key `target` names, recorded as done by `cli`.
pub fn revoke_on_box(db: &Db, target: &Target, now: i64) -> Result<KeyView> {
    db.write_with(now, |ctx| {
        let matches: Vec<KeyRow> = match target {
            Target::Id(id) => keys::find_live(ctx, *id, ctx.now)?.into_iter().collect(),
            Target::Prefix(p) => keys::find_live_by_prefix(ctx, p, ctx.now)?,
            Target::Token(hash) => keys::find_live_by_hash(ctx, hash, ctx.now)?.into_iter().collect(),
        };
        let key = match matches.as_slice() {
            [one] => one.clone(),
            [] => return Err(Error::new(Code::NotFound, "no live org key matches (see list-keys)")),
            many => {
                let ids: Vec<_> = many
                    .iter()
                    .map(|k| format!("{} {} {:?}", k.id, k.prefix, k.name))
                    .collect();
                return Err(Error::invalid(format!(
                    "that prefix matches several keys; give the id:\n  {}",
                    ids.join("\n  ")
                )));
            }
        };
        keys::revoke(ctx, key.id)?;
        let detail = json!({"prefix": key.prefix, "name": key.name});
        audit::append(
            ctx,
            &Actor::cli(),
            Action::OrgKeyRevoke,
            Some(&key.id.to_string()),
            detail,
        )?;
        Ok(KeyView::of(key, None))
    })
}
