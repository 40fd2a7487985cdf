//! `/org/tokens` and `/org/whoami`: org API keys.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::creds::CredKind;
use crate::db::audit::{self, Actor};
use crate::db::keys::{self, KeyRow, NewKey};
use crate::db::sessions;
use crate::db::{StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};
use crate::model::{check_name, is_uuid, opt_rfc3339, parse_rfc3339, rfc3339, Role, Time, ROLE_NAMES};
use crate::routes::OptionalJson;
use crate::state::AppState;

pub const WARNING: &str = "copy this token now; it will not be shown again";
const MAX_NAME_CHARS: usize = 100;
/// Keys may live at most ten years; a longer horizon is almost surely a typo.
pub const MAX_LIFETIME_MS: i64 = 10 * 366 * 24 * 3600 * 1000;
const MAX_GRACE_SECONDS: i64 = 30 * 24 * 3600;
const MAX_BINDINGS: usize = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/org/whoami").get(whoami))
        .service(web::resource("/org/tokens").get(list_keys).post(mint_key))
        .service(web::resource("/org/tokens/{id}").delete(revoke_key))
        .service(web::resource("/org/tokens/{id}/rotate").post(rotate_key));
}

pub fn key_json(k: &KeyRow, last_used: Option<i64>) -> Value {
    json!({
        "id": k.id,
        "prefix": k.prefix,
        "name": k.name,
        "role": k.role.as_str(),
        "workspaces": k.workspaces,
        "created_by": k.created_by,
        "created_at": rfc3339(k.created_at),
        "last_used_at": opt_rfc3339(last_used.max(k.last_used_at)),
        "expires_at": opt_rfc3339(k.expires_at),
    })
}

fn minted_json(k: &KeyRow, token: String) -> Value {
    json!({
        "id": k.id,
        "prefix": k.prefix,
        "name": k.name,
        "role": k.role.as_str(),
        "workspaces": k.workspaces,
        "expires_at": opt_rfc3339(k.expires_at),
        "created_by": k.created_by,
        "created_at": rfc3339(k.created_at),
        "auth_token": token,
        "warning": WARNING,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MintKeyRequest {
    name: String,
    role: Option<String>,
    #[serde(default)]
    workspaces: Vec<String>,
    expires_in: Option<i64>,
    expires_at: Option<String>,
}

/// Turns `expires_in` (seconds) or `expires_at` (RFC 3339) into a time.
pub fn expiry(now: i64, expires_in: Option<i64>, expires_at: Option<&str>) -> Result<Option<i64>, ApiError> {
    let at = match (expires_in, expires_at) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give expires_in or expires_at, not both")),
        (None, None) => return Ok(None),
        (Some(secs), None) => {
            if secs <= 0 {
                return Err(ApiError::invalid("expires_in must be a positive number of seconds"));
            }
            now.saturating_add(secs.saturating_mul(1000))
        }
        (None, Some(s)) => parse_rfc3339(s)
            .ok_or_else(|| ApiError::invalid("expires_at must be an RFC 3339 time, e.g. 2030-01-31T00:00:00Z"))?,
    };
    if at <= now {
        return Err(ApiError::invalid("the expiry must be in the future"));
    }
    if at - now > MAX_LIFETIME_MS {
        return Err(ApiError::invalid("a key may live at most ten years"));
    }
    Ok(Some(at))
}

fn check_mint_request(req: &MintKeyRequest, now: i64) -> ApiResult<NewKey> {
    check_name("name", &req.name, MAX_NAME_CHARS).map_err(ApiError::invalid)?;
    let role = match &req.role {
        None => Role::Admin,
        Some(r) => Role::parse(r).ok_or_else(|| ApiError::invalid(format!("role must be one of {ROLE_NAMES}")))?,
    };
    if req.workspaces.len() > MAX_BINDINGS {
        return Err(ApiError::invalid(format!(
            "workspaces: a key may be bound to at most {MAX_BINDINGS}"
        )));
    }
    if let Some(bad) = req.workspaces.iter().find(|w| !is_uuid(w)) {
        return Err(ApiError::invalid(format!("workspaces: {bad:?} is not a workspace id")));
    }
    Ok(NewKey {
        name: req.name.clone(),
        role,
        workspaces: req.workspaces.clone(),
        expires_at: expiry(now, req.expires_in, req.expires_at.as_deref())?,
        created_by: String::new(),
    })
}

/// The expiry for a credential the caller mints: what was asked for, or
/// the caller's own expiry when nothing was; refused when it would outlive
/// the caller. The caller's expiry is read inside the transaction, so a
/// rotation that just shortened it counts.
pub fn cap_expiry(ctx: &WriteCtx, who: &Principal, asked: Option<i64>) -> StoreResult<Option<i64>> {
    let limit = match who.cred.kind {
        CredKind::Org { .. } => keys::find_live(ctx, &who.cred.id(), ctx.now)?.and_then(|k| k.expires_at),
        CredKind::Workspace { .. } => who.cred.expires_at(),
        // A session opened with a key mints within that key's life; one
        // opened with a login link (from the box) mints as the CLI does.
        CredKind::Session { .. } => sessions::opener_expiry(ctx, &who.cred.id())?,
    };
    match (limit, asked) {
        (None, asked) => Ok(asked),
        (Some(limit), None) => Ok(Some(limit)),
        (Some(limit), Some(at)) if at <= limit => Ok(Some(at)),
        (Some(_), Some(_)) => Err(ApiError::forbidden("a key cannot mint a credential that outlives it").into()),
    }
}

/// Refuses a key broader than its minter: a higher role, a workspace
/// outside the minter's bindings (or no binding when the minter is bound),
/// or a later expiry (the minter's is inherited when none is asked for).
fn narrow_to_minter(who: &Principal, ctx: &WriteCtx, new: &mut NewKey) -> StoreResult<()> {
    let (role, _) = who.org_role(Role::Admin)?;
    if new.role > role {
        return Err(ApiError::forbidden("a key cannot mint a key with a higher role than its own").into());
    }
    if !who.covers(ctx, &new.workspaces)? {
        return Err(ApiError::forbidden("a key bound to workspaces can only mint keys bound within them").into());
    }
    new.expires_at = cap_expiry(ctx, who, new.expires_at)?;
    Ok(())
}
/// Whether the caller may see and manage `key`: unbound admins see every
/// key; bound admins see the keys bound within their own bindings.
fn manages(who: &Principal, conn: &rusqlite::Connection, key: &KeyRow) -> StoreResult<bool> {
    Ok(who.cred.id() == key.id || who.covers(conn, &key.workspaces)?)
}

async fn list_keys(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    who.org_role(Role::Admin)?;
    let now = state.now();
    let rows = state
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
    let tokens: Vec<Value> = rows
        .iter()
        .map(|k| key_json(k, state.db.creds.last_used(&k.token_hash)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "count": tokens.len(), "tokens": tokens })))
}

fn mint_in(
    ctx: &mut WriteCtx,
    actor: &Actor,
    new: NewKey,
    action: &str,
    extra: Value,
) -> StoreResult<(KeyRow, String)> {
    let (row, token) = keys::insert(ctx, new)?;
    let mut detail = json!({
        "name": row.name, "prefix": row.prefix, "role": row.role.as_str(),
        "workspaces": row.workspaces, "expires_at": opt_rfc3339(row.expires_at),
    });
    if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    audit::append(ctx, actor, action, Some(&row.id), detail)?;
    Ok((row, token))
}

async fn mint_key(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<MintKeyRequest>,
) -> ApiResult<HttpResponse> {
    who.org_role(Role::Admin)?;
    let mut new = check_mint_request(&body, state.now())?;
    let (row, token) = state
        .write(who, move |ctx, who| {
            narrow_to_minter(who, ctx, &mut new)?;
            new.created_by = who.actor().name;
            mint_in(ctx, &who.actor(), new, "org_key.mint", json!({}))
        })
        .await?;
    tracing::info!(prefix = %row.prefix, role = row.role.as_str(), "org key minted");
    Ok(HttpResponse::Created().json(minted_json(&row, token)))
}
fn key_id(raw: &str) -> ApiResult<String> {
    // Ids are UUIDs; anything else cannot name a key.
    if is_uuid(raw) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::not_found("key"))
    }
}

async fn revoke_key(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = key_id(&path)?;
    // Any key may revoke itself; revoking another takes an admin key.
    if !who.cred.is(&id) {
        who.org_role(Role::Admin)?;
    }
    let revoked = id.clone();
    state
        .write(who, move |ctx, who| {
            let key = keys::find_live(ctx, &id, ctx.now)?.ok_or_else(|| ApiError::not_found("key"))?;
            if !manages(who, ctx, &key)? {
                return Err(ApiError::not_found("key").into());
            }
            keys::revoke(ctx, &id)?;
            let detail = json!({"prefix": key.prefix, "name": key.name});
            audit::append(ctx, &who.actor(), "org_key.revoke", Some(&id), detail)
        })
        .await?;
    tracing::info!(key = %revoked, "org key revoked");
    Ok(HttpResponse::Ok().json(json!({ "revoked": revoked })))
}
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    #[serde(default)]
    grace_seconds: i64,
}

async fn rotate_key(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: OptionalJson<RotateRequest>,
) -> ApiResult<HttpResponse> {
    who.org_role(Role::Admin)?;
    let id = key_id(&path)?;
    let grace = body.0.unwrap_or_default().grace_seconds;
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        return Err(ApiError::invalid(format!(
            "grace_seconds must be between 0 and {MAX_GRACE_SECONDS}"
        )));
    }
    let (row, token, old_until) = state
        .write(who, move |ctx, who| {
            let old = keys::find_live(ctx, &id, ctx.now)?.ok_or_else(|| ApiError::not_found("key"))?;
            if !manages(who, ctx, &old)? {
                return Err(ApiError::not_found("key").into());
            }
            if let Some(successor) = &old.rotated_to {
                return Err(ApiError::conflict(
                    "already_rotated",
                    format!("this key was already rotated (to {successor}) and is in its grace period"),
                )
                .into());
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
            let grace_end = ctx.now.saturating_add(grace * 1000);
            let until = old.expires_at.map_or(grace_end, |e| e.min(grace_end));
            let extra = json!({"rotated_from": old.id, "old_key_expires_at": rfc3339(until)});
            let (row, token) = mint_in(ctx, &actor, new, "org_key.rotate", extra)?;
            keys::retire(ctx, &old.id, until, &row.id)?;
            Ok((row, token, until))
        })
        .await?;
    let mut body = minted_json(&row, token);
    body["rotated_from"] = json!(path.into_inner());
    body["old_key_expires_at"] = json!(rfc3339(old_until));
    Ok(HttpResponse::Created().json(body))
}
/// `GET /org/whoami`, serialised without building a JSON tree: it is the
/// route agents poll, and the auth-overhead benchmark's.
#[derive(serde::Serialize)]
struct WhoAmI<'a> {
    kind: &'static str,
    id: crate::creds::Id,
    prefix: crate::creds::Shown<'a>,
    role: &'static str,
    workspaces: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace_id: Option<&'a str>,
    expires_at: Option<Time>,
}

async fn whoami(who: Principal) -> HttpResponse {
    let c = &who.cred;
    let own = who.workspace_id().map(|w| [w]);
    let (kind, role, workspaces): (_, _, &[String]) = match &c.kind {
        CredKind::Org { role, workspaces } => ("org", role.as_str(), workspaces),
        CredKind::Workspace { .. } => ("workspace", "agent", own.as_ref().map_or(&[], |o| &o[..])),
        CredKind::Session { .. } => ("session", Role::Admin.as_str(), &[]),
    };
    HttpResponse::Ok().json(WhoAmI {
        kind,
        id: c.raw_id(),
        prefix: c.shown(),
        role,
        workspaces,
        workspace_id: own.as_ref().map(|o| o[0].as_str()),
        expires_at: c.expires_at().map(Time),
    })
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<MintKeyRequest>(out);
    crate::openapi::add::<RotateRequest>(out);
}
