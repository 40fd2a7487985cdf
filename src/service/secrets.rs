//! Secrets, per workspace and global. Org keys see names and times, never
//! values, whatever their role. The only route that returns values is the
//! agent's own, with the workspace's token.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ws_tokens::workspace_id;
use super::{App, Principal};
use crate::crypto::Keyring;
use crate::domain::audit::Action;
use crate::domain::authz::Need;
use crate::domain::role::Role;
use crate::domain::secrets::{self as rules, aad, Scope};
use crate::domain::time::Time;
use crate::domain::{Code, Error, Result};
use crate::store::secrets::{self, SecretMeta};
use crate::store::{audit, WriteCtx};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    key: String,
    value: String,
}

#[derive(Serialize)]
pub struct SecretView {
    key: String,
    has_value: bool,
    scope: &'static str,
    created_at: Time,
    updated_at: Time,
}

fn meta_view(m: SecretMeta, scope: &'static str) -> SecretView {
    SecretView {
        key: m.name,
        has_value: true,
        scope,
        created_at: Time(m.created_at),
        updated_at: Time(m.updated_at),
    }
}

/// Seals and stores a set of secrets in the caller's transaction, with one
/// audit entry each (names, never values).
pub fn store(
    ctx: &WriteCtx,
    ring: &Keyring,
    who: &Principal,
    scope: Scope,
    values: &BTreeMap<String, String>,
) -> Result<()> {
    let key = scope.key();
    for (name, value) in values {
        let sealed = ring.seal(value.as_bytes(), &aad(&key, name)).map_err(Error::internal)?;
        let replaced = secrets::put(ctx, &key, name, &sealed)?;
        let detail = json!({"scope": scope.label(), "key": name, "replaced": replaced});
        audit::append(ctx, &who.actor(), Action::SecretSet, Some(&key), detail)?;
    }
    Ok(())
}

/// Every value a workspace sees, opened: globals first, its own on top.
/// All or nothing: if any value fails to open, the error names every
/// failing one as `scope:NAME` and no value is returned.
fn open_for_workspace(
    conn: &rusqlite::Connection,
    ring: &Keyring,
    id: crate::domain::ids::WorkspaceId,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    let mut failed = Vec::new();
    for scope in [Scope::Global, Scope::Workspace(id)] {
        let key = scope.key();
        for (name, sealed) in secrets::sealed_in(conn, &key)? {
            match ring.open(&sealed, &aad(&key, &name)).map(String::from_utf8) {
                Ok(Ok(v)) => {
                    values.insert(name, v);
                }
                _ => failed.push(format!("{}:{name}", scope.label())),
            }
        }
    }
    if failed.is_empty() {
        return Ok(values);
    }
    tracing::error!(keys = ?failed, "secret values failed to decrypt");
    Err(Error::new(
        Code::DecryptionFailed,
        "one or more secrets failed to decrypt; refusing to return a partial set",
    )
    .with("failed_keys", json!(failed)))
}

/// The global values that open (for `${VAR}` in org imports; a value that
/// fails to open is left out and its reference stays unresolved).
pub fn open_globals(conn: &rusqlite::Connection, ring: &Keyring) -> Result<BTreeMap<String, String>> {
    let key = Scope::Global.key();
    Ok(secrets::sealed_in(conn, &key)?
        .into_iter()
        .filter_map(|(name, sealed)| {
            let value = String::from_utf8(ring.open(&sealed, &aad(&key, &name)).ok()?).ok()?;
            Some((name, value))
        })
        .collect())
}

pub async fn list_for_workspace(app: &App, who: Principal, raw: &str) -> Result<Vec<SecretView>> {
    let id = workspace_id(raw)?;
    let (own, global) = app
        .read(move |conn| {
            who.workspace(conn, id, Need::ReadOrAgent)?;
            Ok((
                secrets::list(conn, &Scope::Workspace(id).key())?,
                secrets::list(conn, &Scope::Global.key())?,
            ))
        })
        .await?;
    // Globals the workspace inherits: those it does not override.
    let inherited: Vec<SecretMeta> = global
        .into_iter()
        .filter(|g| !own.iter().any(|o| o.name == g.name))
        .collect();
    let mut out: Vec<SecretView> = own.into_iter().map(|m| meta_view(m, "workspace")).collect();
    out.extend(inherited.into_iter().map(|m| meta_view(m, "global")));
    Ok(out)
}

/// Sets one secret in `scope` (the route decides which, and who may).
async fn put(app: &App, who: Principal, scope: Scope, body: PutSecret) -> Result<String> {
    let PutSecret { key, value } = body;
    rules::check(&key, &value)?;
    let ring = app.keyring.clone();
    let name = key.clone();
    app.write(who, move |ctx, who| {
        if let Scope::Workspace(id) = scope {
            who.workspace(ctx, id, Need::Write)?;
        }
        store(ctx, &ring, who, scope, &BTreeMap::from([(name, value)]))
    })
    .await?;
    Ok(key)
}

pub async fn put_for_workspace(app: &App, who: Principal, raw: &str, body: PutSecret) -> Result<String> {
    let id = workspace_id(raw)?;
    put(app, who, Scope::Workspace(id), body).await
}

pub async fn put_global(app: &App, who: Principal, body: PutSecret) -> Result<String> {
    who.org_wide(Role::Admin)?;
    put(app, who, Scope::Global, body).await
}

async fn delete(app: &App, who: Principal, scope: Scope, key: String) -> Result<String> {
    let name = key.clone();
    app.write(who, move |ctx, who| {
        if let Scope::Workspace(id) = scope {
            who.check_workspace(ctx, id, Need::Write)?;
        }
        let target = scope.key();
        if !secrets::delete(ctx, &target, &name)? {
            return Err(Error::not_found("secret"));
        }
        let detail = json!({"scope": scope.label(), "key": name});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::SecretDelete,
            Some(&target),
            detail,
        )?)
    })
    .await?;
    Ok(key)
}

pub async fn delete_for_workspace(app: &App, who: Principal, raw: &str, key: String) -> Result<String> {
    let id = workspace_id(raw)?;
    delete(app, who, Scope::Workspace(id), key).await
}

pub async fn delete_global(app: &App, who: Principal, key: String) -> Result<String> {
    who.org_wide(Role::Admin)?;
    delete(app, who, Scope::Global, key).await
}

/// The agent's route: every value its workspace sees, decrypted, in one
/// piece or not at all.
pub async fn values(app: &App, who: Principal, raw: &str) -> Result<BTreeMap<String, String>> {
    let id = workspace_id(raw)?;
    let ring = app.keyring.clone();
    app.read(move |conn| {
        who.check_workspace(conn, id, Need::Agent)?;
        open_for_workspace(conn, &ring, id)
    })
    .await
}

pub async fn list_global(app: &App, who: Principal) -> Result<Vec<SecretView>> {
    who.org_wide(Role::ReadOnly)?;
    let rows = app.read(|conn| Ok(secrets::list(conn, &Scope::Global.key())?)).await?;
    Ok(rows.into_iter().map(|m| meta_view(m, "global")).collect())
}

/// The names of the global secrets (what `required_env` is checked against).
pub fn global_names(conn: &rusqlite::Connection) -> Result<Vec<String>> {
    Ok(secrets::list(conn, &Scope::Global.key())?
        .into_iter()
        .map(|m| m.name)
        .collect())
}
