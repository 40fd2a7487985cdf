//! Minting and rotating org keys, over HTTP and on the box: never broader
//! than the minter, never past the org's policy (unless an operator on the
//! box overrides it, on the record).

use serde_json::{json, Value};

use super::{key_id, manages, MintKeyRequest, MintedKey, RotateRequest};
use crate::domain::audit::{Action, Actor};
use crate::domain::authz::{self, MINT_OUTSIDE_BINDINGS};
use crate::domain::key_policy::{cidrs, MAX_DESCRIPTION_CHARS};
use crate::domain::keys::{self as rules, Limits, NewKey};
use crate::domain::role::{Role, ROLE_NAMES};
use crate::domain::text::{check_name, optional_prose};
use crate::domain::time::Time;
use crate::domain::token::TokenKind;
use crate::domain::{Code, Error, Result};
use crate::service::{mint as mint_token, App, Principal};
use crate::store::keys::{self, KeyRow};
use crate::store::{audit, policy, workspaces, Db, WriteCtx};

/// The limits a request asks for, checked.
pub(super) fn limits(
    description: Option<String>,
    allowed_cidrs: Option<&[String]>,
    rate_limit: Option<crate::domain::key_policy::RateLimit>,
) -> Result<Limits> {
    Ok(Limits {
        description: optional_prose("description", description, MAX_DESCRIPTION_CHARS).map_err(Error::invalid)?,
        allowed_cidrs: cidrs(allowed_cidrs.unwrap_or_default())?,
        rate_limit: rate_limit.map(|r| r.check()).transpose()?,
    })
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
    let l = &row.limits;
    let mut detail = json!({
        "name": row.name, "prefix": row.prefix, "role": row.role,
        "workspaces": row.workspaces, "expires_at": row.expires_at.map(Time),
    });
    if !l.allowed_cidrs.is_empty() {
        detail["allowed_cidrs"] = json!(l.allowed_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    if let Some(r) = l.rate_limit {
        detail["rate_limit"] = json!(r);
    }
    if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    audit::append(ctx, actor, action, Some(&row.id.to_string()), detail)?;
    Ok((row, minted.plaintext))
}

/// Refuses a key broader than its minter: a higher role, a workspace
/// outside the minter's bindings (or no binding when the minter is bound),
/// or a later expiry (the minter's is inherited when none is asked for);
/// then the org's policy.
fn narrow_to_minter(who: &Principal, ctx: &WriteCtx, new: &mut NewKey) -> Result<()> {
    authz::may_mint_role(&who.grant(), new.role)?;
    if !who.covers(ctx, &new.workspaces)? {
        return Err(Error::forbidden(MINT_OUTSIDE_BINDINGS));
    }
    new.expires_at = who.cap_expiry(ctx, ctx.now, new.expires_at)?;
    policy::get(ctx)?.policy.enforce(ctx.now, new.expires_at)
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
        limits: limits(req.description, req.allowed_cidrs.as_deref(), req.rate_limit)?,
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

/// A new token for a key: same role, bindings, description, ranges and
/// rate; the same expiry unless a new one is given (the policy applies).
pub async fn rotate(app: &App, who: Principal, raw: &str, req: Option<RotateRequest>) -> Result<MintedKey> {
    who.org_role(Role::Admin)?;
    let id = key_id(raw)?;
    let req = req.unwrap_or_default();
    let grace = req.grace_seconds;
    rules::grace_end(0, grace, None)?;
    let new_expiry = rules::expiry(app.now(), req.expires_in, req.expires_at.as_deref())?;
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
            if old.disabled_at.is_some() {
                return Err(Error::invalid("this key is disabled; enable it before rotating it"));
            }
            let actor = who.actor();
            let mut new = NewKey {
                name: old.name.clone(),
                role: old.role,
                workspaces: old.workspaces.clone(),
                expires_at: new_expiry.or(old.expires_at),
                created_by: actor.name.clone(),
                limits: old.limits.clone(),
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

/// What `mint-key` asks for.
pub struct BoxMint {
    pub label: String,
    pub role: Role,
    pub workspaces: Vec<String>,
    pub expires_at: Option<i64>,
    pub allowed_cidrs: Vec<String>,
    /// Break-glass: mint past the org's key policy (recorded as such).
    pub override_policy: bool,
}

/// Mints a key on the box, recorded as made by `cli`: the bootstrap for the
/// first key. Returns the key and its token.
pub fn mint_on_box(db: &Db, req: BoxMint, now: i64) -> Result<(KeyRow, String)> {
    check_name("label", &req.label, rules::MAX_NAME_CHARS).map_err(Error::invalid)?;
    let new = NewKey {
        name: req.label,
        role: req.role,
        workspaces: rules::bindings(&req.workspaces)?,
        expires_at: req.expires_at,
        created_by: "cli".into(),
        limits: limits(None, Some(&req.allowed_cidrs), None)?,
    };
    db.write_with(now, |ctx| {
        let breach = policy::get(ctx)?.policy.breach(ctx.now, new.expires_at);
        let extra = match (breach, req.override_policy) {
            (None, _) => json!({}),
            (Some(why), false) => {
                return Err(Error::new(
                    Code::PolicyViolation,
                    format!("{why} (an operator on the box may pass --override-policy; it is recorded)"),
                ))
            }
            (Some(why), true) => json!({ "policy_overridden": why }),
        };
        record_mint(ctx, &Actor::cli(), &new, Action::OrgKeyMint, extra)
    })
}
