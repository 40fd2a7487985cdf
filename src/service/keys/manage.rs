//! Managing a key: revoking it; renaming, describing, restricting,
//! disabling or enabling it (`PATCH /org/tokens/:id`); and the CLI's list
//! and revoke on the box.

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::mint::limits;
use super::{key_id, manages, KeyView, Seen};
use crate::domain::audit::{Action, Actor};
use crate::domain::ids::KeyId;
use crate::domain::key_policy::RateLimit;
use crate::domain::keys as rules;
use crate::domain::role::Role;
use crate::domain::text::check_name;
use crate::domain::{Code, Error, Result};
use crate::service::{App, Principal};
use crate::store::keys::{self, KeyRow};
use crate::store::{audit, policy, Db};

/// Absent: leave alone; `null`: clear; a value: set.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// `[]` lets it be used from anywhere again.
    allowed_cidrs: Option<Vec<String>>,
    /// `null` removes the rate.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<Option<RateLimit>>,
    /// Disabled keys are kept, and refused like revoked ones; enabling one
    /// brings it back.
    disabled: Option<bool>,
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

/// What a key's row shows of the fields a PATCH may change.
fn editable(k: &KeyRow) -> Value {
    let l = &k.limits;
    json!({
        "name": k.name, "description": l.description,
        "allowed_cidrs": l.allowed_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "rate_limit": l.rate_limit, "disabled": k.disabled_at.is_some(),
    })
}

pub async fn patch(app: &App, who: Principal, raw: &str, req: PatchKey) -> Result<KeyView> {
    who.org_role(Role::Admin)?;
    let id = key_id(raw)?;
    if let Some(name) = &req.name {
        check_name("name", name, rules::MAX_NAME_CHARS).map_err(Error::invalid)?;
    }
    // Checked once, before the transaction; applied over the row inside it.
    let checked = limits(
        req.description.clone().flatten(),
        req.allowed_cidrs.as_deref(),
        req.rate_limit.flatten(),
    )?;
    let (row, seen) = app
        .write(who, move |ctx, who| {
            let old = keys::find_live(ctx, id, ctx.now)?.ok_or_else(|| Error::not_found("key"))?;
            if !manages(who, ctx, &old)? {
                return Err(Error::not_found("key"));
            }
            let mut l = old.limits.clone();
            if req.description.is_some() {
                l.description = checked.description;
            }
            if req.allowed_cidrs.is_some() {
                l.allowed_cidrs = checked.allowed_cidrs;
            }
            if req.rate_limit.is_some() {
                l.rate_limit = checked.rate_limit;
            }
            let name = req.name.clone().unwrap_or_else(|| old.name.clone());
            if name != old.name || l != old.limits {
                keys::update(ctx, id, &name, &l)?;
            }
            match req.disabled {
                Some(d) if d != old.disabled_at.is_some() => keys::set_disabled(ctx, id, d)?,
                _ => {}
            }
            let new = keys::find_live(ctx, id, ctx.now)?.ok_or_else(|| Error::not_found("key"))?;
            let (before, after) = (editable(&old), editable(&new));
            if before != after {
                let changed: Vec<&String> = after
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, v)| before.get(k.as_str()) != Some(v))
                    .map(|(k, _)| k)
                    .collect();
                let action = match (old.disabled_at.is_some(), new.disabled_at.is_some()) {
                    (false, true) => Action::OrgKeyDisable,
                    (true, false) => Action::OrgKeyEnable,
                    _ => Action::OrgKeyUpdate,
                };
                let detail = json!({"prefix": new.prefix, "fields": changed, "before": before, "after": after});
                audit::append(ctx, &who.actor(), action, Some(&id.to_string()), detail)?;
            }
            let seen = Seen {
                now: ctx.now,
                policy: policy::get(ctx)?.policy,
            };
            Ok((new, seen))
        })
        .await?;
    let used = app.creds.last_used(&row.token_hash);
    Ok(KeyView::of(row, used, &seen))
}

pub fn list_on_box(db: &Db, now: i64) -> Result<Vec<KeyView>> {
    let (rows, policy) =
        db.read_with(|conn| -> Result<_> { Ok((keys::list_live(conn, now)?, policy::get(conn)?.policy)) })?;
    let seen = Seen { now, policy };
    Ok(rows.into_iter().map(|k| KeyView::of(k, None, &seen)).collect())
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
        let seen = Seen {
            now: ctx.now,
            policy: policy::get(ctx)?.policy,
        };
        Ok(KeyView::of(key, None, &seen))
    })
}
