//! Channels. Org keys see credential-bearing fields masked, always. The
//! workspace's own token sees its channels in full: that is how the agent
//! posts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ws_tokens::workspace_id;
use super::{App, Principal};
use crate::crypto::Keyring;
use crate::domain::audit::Action;
use crate::domain::authz::Need;
use crate::domain::channels::{self as adapters, aad, check_users, Adapter, Config};
use crate::domain::ids::{ChannelId, WorkspaceId};
use crate::domain::secrets::Sealed;
use crate::domain::time::Time;
use crate::domain::{Code, Error, Result};
use crate::store::channels::{self, ChannelRow};
use crate::store::{audit, WriteCtx};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    channel_type: String,
    #[serde(default)]
    config: Config,
    enabled: Option<bool>,
    #[serde(default)]
    allowed_users: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChannel {
    /// Keys given with a string replace that field, keys given as null
    /// remove it; fields not named keep their (possibly masked) value.
    config: Option<BTreeMap<String, Option<String>>>,
    enabled: Option<bool>,
    allowed_users: Option<Vec<String>>,
}

/// A channel as the caller may see it: in full for the workspace's own
/// token, masked for everyone else.
#[derive(Serialize)]
pub struct ChannelView {
    id: ChannelId,
    workspace_id: WorkspaceId,
    channel_type: String,
    config: BTreeMap<String, String>,
    enabled: bool,
    allowed_users: Vec<String>,
    created_at: Time,
    updated_at: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_error: Option<&'static str>,
}

fn view(row: ChannelRow, sensitive: &Config, full: bool) -> ChannelView {
    let mut config = row.plain;
    for (k, v) in sensitive {
        config.insert(k.clone(), if full { v.clone() } else { adapters::mask(k, v) });
    }
    ChannelView {
        id: row.id,
        workspace_id: row.workspace_id,
        channel_type: row.kind,
        config,
        enabled: row.enabled,
        allowed_users: row.allowed_users,
        created_at: Time(row.created_at),
        updated_at: Time(row.updated_at),
        config_error: None,
    }
}

fn seal(ring: &Keyring, id: ChannelId, workspace: WorkspaceId, sensitive: &Config) -> Result<Sealed> {
    let json = serde_json::to_vec(sensitive).map_err(Error::internal)?;
    ring.seal(&json, &aad(&id.to_string(), &workspace.to_string()))
        .map_err(Error::internal)
}

/// The sensitive half of a channel's config, opened.
pub(crate) fn open(ring: &Keyring, row: &ChannelRow) -> Result<Config> {
    let plain = ring
        .open(&row.sealed, &aad(&row.id.to_string(), &row.workspace_id.to_string()))
        .map_err(|e| Error::internal(format!("channel {}: {e}", row.id)))?;
    serde_json::from_slice(&plain).map_err(Error::internal)
}

pub fn adapter(kind: &str) -> Result<&'static Adapter> {
    adapters::find(kind).ok_or_else(|| {
        Error::invalid(format!(
            "unsupported channel_type {kind:?}; available: {}",
            adapters::type_names()
        ))
    })
}

pub fn list_adapters(_who: &Principal) -> &'static [Adapter] {
    adapters::adapters()
}

/// A channel to create in the caller's transaction: sealed, audited, one
/// per type per workspace. Shared by `POST /workspaces/:id/channels` and
/// org import. The config must already be validated.
pub struct NewChannel<'a> {
    pub adapter: &'static Adapter,
    pub config: &'a Config,
    pub enabled: bool,
    pub allowed_users: Vec<String>,
}

pub fn create_in(
    ctx: &WriteCtx,
    ring: &Keyring,
    who: &Principal,
    workspace_id: WorkspaceId,
    new: NewChannel,
) -> Result<(ChannelRow, Config)> {
    let NewChannel {
        adapter,
        config,
        enabled,
        allowed_users,
    } = new;
    if channels::has_type(ctx, workspace_id, adapter.kind)? {
        return Err(Error::new(
            Code::ChannelExists,
            format!(
                "this workspace already has a {} channel; PATCH or DELETE it",
                adapter.kind
            ),
        ));
    }
    let (plain, sensitive) = adapter.split(config);
    let id = ChannelId::generate();
    let row = ChannelRow {
        sealed: seal(ring, id, workspace_id, &sensitive)?,
        id,
        workspace_id,
        kind: adapter.kind.to_string(),
        enabled,
        plain,
        allowed_users,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    channels::insert(ctx, &row)?;
    let keys: Vec<&String> = config.keys().collect();
    let detail = json!({"workspace_id": row.workspace_id, "channel_type": row.kind, "config_keys": keys});
    audit::append(
        ctx,
        &who.actor(),
        Action::ChannelCreate,
        Some(&row.id.to_string()),
        detail,
    )?;
    Ok((row, sensitive))
}

pub async fn list(app: &App, who: Principal, raw: &str) -> Result<Vec<ChannelView>> {
    let id = workspace_id(raw)?;
    let ring = app.keyring.clone();
    app.read(move |conn| {
        who.workspace(conn, id, Need::ReadOrAgent)?;
        let full = who.workspace_id() == Some(id);
        let mut out = Vec::new();
        for row in channels::list(conn, id)? {
            // One channel whose credentials fail to open must not hide the
            // others; it is listed with its plain config and the error.
            match open(&ring, &row) {
                Ok(sensitive) => out.push(view(row, &sensitive, full)),
                Err(e) => {
                    tracing::error!(channel = %row.id, error = %e, "channel credentials failed to decrypt");
                    let mut v = view(row, &Config::new(), full);
                    v.config_error = Some("the channel's credentials failed to decrypt");
                    out.push(v);
                }
            }
        }
        Ok(out)
    })
    .await
}

pub async fn create(app: &App, who: Principal, raw: &str, b: CreateChannel) -> Result<ChannelView> {
    let id = workspace_id(raw)?;
    let adapter = adapter(&b.channel_type)?;
    adapter.validate(&b.config).map_err(Error::invalid)?;
    check_users(&b.allowed_users).map_err(Error::invalid)?;
    let ring = app.keyring.clone();
    let (row, sensitive) = app
        .write(who, move |ctx, who| {
            who.workspace(ctx, id, Need::Write)?;
            let new = NewChannel {
                adapter,
                config: &b.config,
                enabled: b.enabled.unwrap_or(true),
                allowed_users: b.allowed_users,
            };
            create_in(ctx, &ring, who, id, new)
        })
        .await?;
    Ok(view(row, &sensitive, false))
}

fn channel_id(raw: &str) -> Result<ChannelId> {
    ChannelId::parse(raw).ok_or_else(|| Error::not_found("channel"))
}

pub async fn patch(
    app: &App,
    who: Principal,
    raw_ws: &str,
    raw_channel: &str,
    patch: PatchChannel,
) -> Result<ChannelView> {
    let (id, cid) = (workspace_id(raw_ws)?, channel_id(raw_channel)?);
    if let Some(users) = &patch.allowed_users {
        check_users(users).map_err(Error::invalid)?;
    }
    let ring = app.keyring.clone();
    let (row, sensitive) = app
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, id, Need::Write)?;
            let mut row = channels::get(ctx, id, cid)?.ok_or_else(|| Error::not_found("channel"))?;
            let adapter = adapter(&row.kind)?;
            let mut config: Config = row.plain.clone();
            config.extend(open(&ring, &row)?);
            let changed: Vec<String> = patch
                .config
                .as_ref()
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            for (k, v) in patch.config.unwrap_or_default() {
                if v.as_deref().is_some_and(|v| v.contains(adapters::MASK)) {
                    return Err(Error::invalid(format!(
                        "config.{k} holds a masked value; send the real credential, or leave the key out to keep it"
                    )));
                }
                match v {
                    Some(v) => config.insert(k, v),
                    None => config.remove(&k),
                };
            }
            // Validated on every change, not only on create.
            adapter.validate(&config).map_err(Error::invalid)?;
            let (plain, sensitive) = adapter.split(&config);
            row.sealed = seal(&ring, row.id, row.workspace_id, &sensitive)?;
            row.plain = plain;
            row.enabled = patch.enabled.unwrap_or(row.enabled);
            row.allowed_users = patch.allowed_users.unwrap_or(row.allowed_users);
            row.updated_at = ctx.now;
            channels::update(ctx, &row)?;
            let detail =
                json!({"workspace_id": id, "channel_type": row.kind, "config_keys": changed, "enabled": row.enabled});
            audit::append(ctx, &who.actor(), Action::ChannelUpdate, Some(&cid.to_string()), detail)?;
            Ok((row, sensitive))
        })
        .await?;
    Ok(view(row, &sensitive, false))
}

pub async fn delete(app: &App, who: Principal, raw_ws: &str, raw_channel: &str) -> Result<Value> {
    let (id, cid) = (workspace_id(raw_ws)?, channel_id(raw_channel)?);
    app.write(who, move |ctx, who| {
        who.check_workspace(ctx, id, Need::Write)?;
        let row = channels::get(ctx, id, cid)?.ok_or_else(|| Error::not_found("channel"))?;
        channels::delete(ctx, id, cid)?;
        let detail = json!({"workspace_id": id, "channel_type": row.kind});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::ChannelDelete,
            Some(&cid.to_string()),
            detail,
        )?)
    })
    .await?;
    Ok(json!({ "status": "deleted" }))
}
