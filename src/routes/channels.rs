//! Channels: `/channels/adapters` and `/workspaces/{id}/channels`.
//!
//! Org keys see credential-bearing fields masked, always. The workspace's
//! own token sees its channels in full: that is how the agent posts.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::workspaces::workspace_id;
use crate::auth::{Need, Principal};
use crate::channels::{self as adapters, Config};
use crate::crypto::Keyring;
use crate::db::channels::{self, ChannelRow};
use crate::db::{audit, StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};
use crate::model::{is_uuid, new_id, rfc3339};
use crate::state::AppState;

const MAX_ALLOWED_USERS: usize = 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/channels/adapters").get(list_adapters))
        .service(
            web::resource("/workspaces/{id}/channels")
                .get(list_channels)
                .post(create_channel),
        )
        .service(
            web::resource("/workspaces/{id}/channels/{channel_id}")
                .patch(patch_channel)
                .delete(delete_channel),
        );
}

async fn list_adapters(_who: Principal) -> HttpResponse {
    HttpResponse::Ok().json(adapters::adapters())
}

/// A channel as the caller may see it: in full for the workspace's own
/// token, masked for everyone else.
fn channel_json(row: &ChannelRow, sensitive: &Config, full: bool) -> Value {
    let mut config: BTreeMap<&str, String> = row.plain.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    for (k, v) in sensitive {
        config.insert(k, if full { v.clone() } else { adapters::mask(k, v) });
    }
    json!({
        "id": row.id, "workspace_id": row.workspace_id, "channel_type": row.kind, "config": config,
        "enabled": row.enabled, "allowed_users": row.allowed_users,
        "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at),
    })
}

pub fn check_users(users: &[String]) -> ApiResult<()> {
    if users.len() > MAX_ALLOWED_USERS || users.iter().any(|u| u.is_empty() || u.chars().count() > 200) {
        return Err(ApiError::invalid(format!(
            "allowed_users: at most {MAX_ALLOWED_USERS} non-empty ids of at most 200 characters"
        )));
    }
    Ok(())
}

async fn list_channels(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let ring = state.keyring.clone();
    let out = state
        .read(move |conn| {
            who.workspace(conn, &id, Need::ReadOrAgent)?;
            let full = who.workspace_id().as_deref() == Some(id.as_str());
            let mut out = Vec::new();
            for row in channels::list(conn, &id)? {
                // One channel whose credentials fail to open must not hide
                // the others; it is listed with its plain config and the error.
                match channels::open(&ring, &row) {
                    Ok(sensitive) => out.push(channel_json(&row, &sensitive, full)),
                    Err(e) => {
                        tracing::error!(channel = %row.id, error = %e, "channel credentials failed to decrypt");
                        let mut j = channel_json(&row, &Config::new(), full);
                        j["config_error"] = json!("the channel's credentials failed to decrypt");
                        out.push(j);
                    }
                }
            }
            Ok(out)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    channel_type: String,
    #[serde(default)]
    config: Config,
    enabled: Option<bool>,
    #[serde(default)]
    allowed_users: Vec<String>,
}

fn adapter(kind: &str) -> ApiResult<&'static adapters::Adapter> {
    adapters::find(kind).ok_or_else(|| {
        ApiError::invalid(format!(
            "unsupported channel_type {kind:?}; available: {}",
            adapters::type_names()
        ))
    })
}

/// Creates a channel in the caller's transaction: sealed, audited, one per
/// type per workspace. Shared by `POST /workspaces/:id/channels` and org
/// import. The config must already be validated.
pub struct NewChannel<'a> {
    pub adapter: &'static adapters::Adapter,
    pub config: &'a Config,
    pub enabled: bool,
    pub allowed_users: Vec<String>,
}

pub fn create_in(
    ctx: &WriteCtx,
    ring: &Keyring,
    who: &Principal,
    workspace_id: &str,
    new: NewChannel,
) -> StoreResult<(ChannelRow, Config)> {
    let NewChannel {
        adapter,
        config,
        enabled,
        allowed_users,
    } = new;
    let (plain, sensitive) = adapter.split(config);
    let channel_id = new_id();
    let row = ChannelRow {
        sealed: channels::seal(ring, &channel_id, workspace_id, &sensitive)?,
        id: channel_id,
        workspace_id: workspace_id.to_string(),
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
    audit::append(ctx, &who.actor(), "channel.create", Some(&row.id), detail)?;
    Ok((row, sensitive))
}

async fn create_channel(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<CreateChannel>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let b = body.into_inner();
    let adapter = adapter(&b.channel_type)?;
    adapter.validate(&b.config).map_err(ApiError::invalid)?;
    check_users(&b.allowed_users)?;
    let ring = state.keyring.clone();
    let (row, sensitive) = state
        .write(who, move |ctx, who| {
            who.workspace(ctx, &id, Need::Write)?;
            let enabled = b.enabled.unwrap_or(true);
            let new = NewChannel {
                adapter,
                config: &b.config,
                enabled,
                allowed_users: b.allowed_users,
            };
            create_in(ctx, &ring, who, &id, new)
        })
        .await?;
    Ok(HttpResponse::Created().json(channel_json(&row, &sensitive, false)))
}
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchChannel {
    /// Keys given with a string replace that field, keys given as null
    /// remove it; fields not named keep their (possibly masked) value.
    config: Option<BTreeMap<String, Option<String>>>,
    enabled: Option<bool>,
    allowed_users: Option<Vec<String>>,
}

fn channel_id(raw: &str) -> ApiResult<String> {
    if is_uuid(raw) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::not_found("channel"))
    }
}

async fn patch_channel(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<PatchChannel>,
) -> ApiResult<HttpResponse> {
    let (raw_ws, raw_channel) = path.into_inner();
    let (id, cid) = (workspace_id(&raw_ws)?, channel_id(&raw_channel)?);
    let patch = body.into_inner();
    if let Some(users) = &patch.allowed_users {
        check_users(users)?;
    }
    let ring = state.keyring.clone();
    let (row, sensitive) = state
        .write(who, move |ctx, who| -> StoreResult<_> {
            who.check_workspace(ctx, &id, Need::Write)?;
            let mut row = channels::get(ctx, &id, &cid)?.ok_or_else(|| ApiError::not_found("channel"))?;
            let adapter = adapter(&row.kind)?;
            let mut config: Config = row.plain.clone();
            config.extend(channels::open(&ring, &row)?);
            let changed: Vec<String> = patch
                .config
                .as_ref()
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            for (k, v) in patch.config.unwrap_or_default() {
                if v.as_deref().is_some_and(|v| v.contains(adapters::MASK)) {
                    return Err(ApiError::invalid(format!(
                        "config.{k} holds a masked value; send the real credential, or leave the key out to keep it"
                    ))
                    .into());
                }
                match v {
                    Some(v) => config.insert(k, v),
                    None => config.remove(&k),
                };
            }
            // Validated on every change, not only on create.
            adapter.validate(&config).map_err(ApiError::invalid)?;
            let (plain, sensitive) = adapter.split(&config);
            row.sealed = channels::seal(&ring, &row.id, &row.workspace_id, &sensitive)?;
            row.plain = plain;
            row.enabled = patch.enabled.unwrap_or(row.enabled);
            row.allowed_users = patch.allowed_users.unwrap_or(row.allowed_users);
            row.updated_at = ctx.now;
            channels::update(ctx, &row)?;
            let detail =
                json!({"workspace_id": id, "channel_type": row.kind, "config_keys": changed, "enabled": row.enabled});
            audit::append(ctx, &who.actor(), "channel.update", Some(&cid), detail)?;
            Ok((row, sensitive))
        })
        .await?;
    Ok(HttpResponse::Ok().json(channel_json(&row, &sensitive, false)))
}

async fn delete_channel(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (raw_ws, raw_channel) = path.into_inner();
    let (id, cid) = (workspace_id(&raw_ws)?, channel_id(&raw_channel)?);
    state
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, &id, Need::Write)?;
            let row = channels::get(ctx, &id, &cid)?.ok_or_else(|| ApiError::not_found("channel"))?;
            channels::delete(ctx, &id, &cid)?;
            let detail = json!({"workspace_id": id, "channel_type": row.kind});
            audit::append(ctx, &who.actor(), "channel.delete", Some(&cid), detail)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "deleted" })))
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<CreateChannel>(out);
    crate::openapi::add::<PatchChannel>(out);
}
