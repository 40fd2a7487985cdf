//! Workspaces: the tree, its lifecycle, and the agent's heartbeat.

mod list;
mod view;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

pub use list::{list, ListQuery, Listed};
pub use view::{CreatedWorkspace, OwnedView, WorkspaceView};

use super::secrets::store as store_secrets;
use super::ws_tokens::{self, workspace_id};
use super::{App, Principal};
use crate::domain::audit::{Action, Actor};
use crate::domain::authz::{self, Need};
use crate::domain::ids::WorkspaceId;
use crate::domain::role::Role;
use crate::domain::secrets::Scope;
use crate::domain::text::check_name;
use crate::domain::workspace::{
    check_tier, DEFAULT_RUNTIME, DEFAULT_TIER, MAX_ACTIVE_TASKS, MAX_CREATE_SECRETS, MAX_DEPTH, MAX_LISTED_CHILDREN,
    MAX_MODEL, MAX_NAME, MAX_ROLE, MAX_RUNTIME, MAX_TASK,
};
use crate::domain::{Code, Error, Result};
use crate::store::workspaces::{self as ws, NewWorkspace, WorkspacePatch, WorkspaceRow};
use crate::store::{audit, catalog, channels, secrets, tokens, WriteCtx};

fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    check_name(field, value, max).map_err(Error::invalid)
}

fn view(app: &App, row: WorkspaceRow) -> OwnedView {
    OwnedView {
        row,
        now: app.now(),
        thresholds: app.settings.thresholds(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    name: String,
    role: Option<String>,
    tier: Option<i64>,
    runtime: Option<String>,
    model: Option<String>,
    /// A workspace template (POST /templates/import): fills runtime, model
    /// and tier the body leaves out, and gives the workspace its files.
    template: Option<String>,
    parent_id: Option<String>,
    /// Stored, sealed, in the same transaction as the workspace.
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

/// Checks a new workspace's parent: live, and not at the maximum depth.
fn check_parent(ctx: &WriteCtx, parent: WorkspaceId) -> Result<()> {
    if ws::get(ctx, parent)?.is_none() {
        return Err(Error::invalid("parent_id: no such workspace"));
    }
    if ws::ancestors(ctx, parent)?.len() as i64 >= MAX_DEPTH {
        return Err(Error::invalid(format!(
            "parent_id: workspaces nest at most {MAX_DEPTH} deep"
        )));
    }
    Ok(())
}

/// Creates a workspace with its first token (never outliving the key that
/// made it) and, when given, its config; records `workspace.create`, with
/// `extra` added to the entry. Shared by the API, org import and bundles.
pub fn create_in(
    ctx: &mut WriteCtx,
    who: &Principal,
    new: NewWorkspace,
    source: &str,
    config: Option<&Value>,
    extra: Value,
) -> Result<(WorkspaceRow, String)> {
    if let Some(parent) = new.parent_id {
        check_parent(ctx, parent)?;
    }
    let row = ws::insert(ctx, new)?;
    let expires_at = who.cap_expiry(ctx, ctx.now, None)?;
    let actor = who.actor();
    let (tok, token) = ws_tokens::insert(ctx, row.id, &actor, expires_at)?;
    if let Some(config) = config {
        catalog::put_config(ctx, row.id, source, config)?;
    }
    let mut detail = json!({
        "name": row.name, "parent_id": row.parent_id, "tier": row.tier, "runtime": row.runtime,
        "token_id": tok.id, "token_prefix": tok.prefix, "source": source,
    });
    if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    audit::append(ctx, &actor, Action::WorkspaceCreate, Some(&row.id.to_string()), detail)?;
    Ok((row, token))
}

/// Marks a workspace and its descendants removed and revokes every one of
/// their tokens in the same transaction. Returns how many were removed.
pub fn remove_subtree(ctx: &mut WriteCtx, actor: &Actor, root: &WorkspaceRow) -> Result<usize> {
    let revoked = tokens::revoke_subtree(ctx, root.id)?;
    // Nothing secret outlives its workspace at rest.
    secrets::delete_subtree(ctx, root.id)?;
    channels::delete_subtree(ctx, root.id)?;
    let ids = ws::mark_subtree_deleted(ctx, root.id)?;
    let detail = json!({
        "name": root.name,
        "cascade_deleted": ids.len() - 1,
        "removed": ids.iter().take(MAX_LISTED_CHILDREN as usize).collect::<Vec<_>>(),
        "tokens_revoked": revoked,
    });
    audit::append(ctx, actor, Action::WorkspaceDelete, Some(&root.id.to_string()), detail)?;
    Ok(ids.len())
}

pub async fn create(app: &App, who: Principal, b: CreateWorkspace) -> Result<CreatedWorkspace> {
    who.org_role(Role::WorkspaceWrite)?;
    check_text("name", &b.name, MAX_NAME)?;
    if let Some(r) = &b.role {
        check_text("role", r, MAX_ROLE)?;
    }
    if let Some(r) = &b.runtime {
        check_text("runtime", r, MAX_RUNTIME)?;
    }
    if let Some(m) = &b.model {
        check_text("model", m, MAX_MODEL)?;
    }
    if let Some(t) = b.tier {
        check_tier(t).map_err(Error::invalid)?;
    }
    let parent_id = match &b.parent_id {
        Some(p) => Some(workspace_id(p).map_err(|_| Error::invalid("parent_id must be a workspace id"))?),
        None => {
            authz::may_create_root(&who.grant())?;
            None
        }
    };
    if b.secrets.len() > MAX_CREATE_SECRETS {
        return Err(Error::invalid(format!("secrets: at most {MAX_CREATE_SECRETS} at once")));
    }
    for (k, v) in &b.secrets {
        crate::domain::secrets::check(k, v).map_err(|e| Error::invalid(format!("secrets: {}", e.message)))?;
    }
    let ring = app.keyring.clone();
    let CreateWorkspace {
        name,
        role,
        tier: asked_tier,
        runtime: asked_runtime,
        model,
        template,
        secrets: initial_secrets,
        ..
    } = b;
    let (row, token) = app
        .write(who, move |ctx, who| {
            if let Some(p) = parent_id {
                who.check_workspace(ctx, p, Need::Write)?;
            }
            let tpl = match &template {
                Some(t) => Some(
                    catalog::get_workspace_template(ctx, t)?
                        .ok_or_else(|| Error::invalid(format!("template: no workspace template named {t:?}")))?,
                ),
                None => None,
            };
            let pick = |asked: Option<String>, from: Option<&Option<String>>| asked.or_else(|| from.cloned().flatten());
            let runtime =
                pick(asked_runtime, tpl.as_ref().map(|t| &t.runtime)).unwrap_or_else(|| DEFAULT_RUNTIME.into());
            let model = pick(model, tpl.as_ref().map(|t| &t.model));
            let tier = asked_tier.or(tpl.as_ref().and_then(|t| t.tier)).unwrap_or(DEFAULT_TIER);
            let new = NewWorkspace {
                name,
                role,
                tier,
                runtime,
                parent_id,
            };
            let config = (tpl.is_some() || model.is_some()).then(|| {
                let files = tpl.as_ref().map(|t| t.files.clone()).unwrap_or_default();
                json!({"model": model, "template": template, "files": files})
            });
            let source = template.as_ref().map_or("api".to_string(), |t| format!("template:{t}"));
            let (row, plaintext) = create_in(ctx, who, new, &source, config.as_ref(), json!({}))?;
            store_secrets(ctx, &ring, who, Scope::Workspace(row.id), &initial_secrets)?;
            Ok((row, plaintext))
        })
        .await?;
    Ok(CreatedWorkspace {
        workspace: view(app, row),
        auth_token: token,
        warning: "copy this workspace token now; it will not be shown again",
    })
}

pub async fn get(app: &App, who: Principal, raw: &str) -> Result<OwnedView> {
    let id = workspace_id(raw)?;
    let row = app.read(move |conn| who.workspace(conn, id, Need::ReadOrAgent)).await?;
    Ok(view(app, row))
}

/// Reads an optional nullable string field of a PATCH body.
fn nullable_text(obj: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(Error::invalid(format!("{field} must be a string or null"))),
    }
}

const PATCHABLE: [&str; 5] = ["name", "role", "tier", "runtime", "parent_id"];

fn parse_patch(obj: &Map<String, Value>) -> Result<WorkspacePatch> {
    if let Some(unknown) = obj.keys().find(|k| !PATCHABLE.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "unknown field {unknown:?}; patchable: {}",
            PATCHABLE.join(", ")
        )));
    }
    let mut patch = WorkspacePatch {
        role: nullable_text(obj, "role")?,
        ..Default::default()
    };
    for (field, max) in [("name", MAX_NAME), ("runtime", MAX_RUNTIME)] {
        match nullable_text(obj, field)? {
            None => {}
            Some(None) => return Err(Error::invalid(format!("{field} cannot be null"))),
            Some(Some(v)) => {
                check_text(field, &v, max)?;
                *(if field == "name" {
                    &mut patch.name
                } else {
                    &mut patch.runtime
                }) = Some(v);
            }
        }
    }
    if let Some(Some(r)) = &patch.role {
        check_text("role", r, MAX_ROLE)?;
    }
    if let Some(t) = obj.get("tier") {
        let t = t.as_i64().ok_or_else(|| Error::invalid("tier must be an integer"))?;
        patch.tier = Some(check_tier(t).map_err(Error::invalid)?);
    }
    patch.parent_id = match nullable_text(obj, "parent_id")? {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => {
            Some(Some(workspace_id(&p).map_err(|_| {
                Error::invalid("parent_id must be a workspace id or null")
            })?))
        }
    };
    Ok(patch)
}

/// Checks a move under `parent`: live, no cycle, no deeper than allowed.
fn check_move(ctx: &WriteCtx, id: WorkspaceId, parent: WorkspaceId) -> Result<()> {
    if ws::get(ctx, parent)?.is_none() {
        return Err(Error::invalid("parent_id: no such workspace"));
    }
    if ws::subtree(ctx, id)?.contains(&parent) {
        return Err(Error::new(
            Code::ParentCycle,
            "parent_id: a workspace cannot be moved under itself or one of its descendants",
        ));
    }
    if ws::ancestors(ctx, parent)?.len() as i64 + ws::height(ctx, id)? > MAX_DEPTH {
        return Err(Error::invalid(format!(
            "parent_id: workspaces nest at most {MAX_DEPTH} deep"
        )));
    }
    Ok(())
}

pub async fn patch(app: &App, who: Principal, raw: &str, body: Value) -> Result<OwnedView> {
    let id = workspace_id(raw)?;
    who.org_role(Role::WorkspaceWrite)?;
    let obj = body
        .as_object()
        .ok_or_else(|| Error::invalid("the body must be a JSON object"))?;
    let patch = parse_patch(obj)?;
    let changed: Vec<String> = obj.keys().cloned().collect();
    let row = app
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, id, Need::Write)?;
            match patch.parent_id {
                Some(Some(p)) => who.check_workspace(ctx, p, Need::Write)?,
                Some(None) => authz::may_make_root(&who.grant())?,
                None => {}
            }
            let before = ws::get(ctx, id)?.ok_or_else(|| Error::not_found("workspace"))?;
            if changed.is_empty() {
                return Ok(before);
            }
            if let Some(Some(p)) = patch.parent_id {
                check_move(ctx, id, p)?;
            }
            let after = ws::update(ctx, &before, patch)?;
            let pick = |w: &WorkspaceRow| {
                let all = json!({"name": w.name, "role": w.role, "tier": w.tier, "runtime": w.runtime, "parent_id": w.parent_id});
                Value::Object(changed.iter().filter_map(|f| Some((f.clone(), all.get(f)?.clone()))).collect())
            };
            let detail = json!({ "fields": changed, "before": pick(&before), "after": pick(&after) });
            audit::append(ctx, &who.actor(), Action::WorkspaceUpdate, Some(&id.to_string()), detail)?;
            Ok(after)
        })
        .await?;
    Ok(view(app, row))
}

pub async fn delete(app: &App, who: Principal, raw: &str, confirm: bool) -> Result<Value> {
    let id = workspace_id(raw)?;
    let removed = app
        .write(who, move |ctx, who| {
            let row = who.workspace(ctx, id, Need::Write)?;
            let (children, total) = ws::children(ctx, id, MAX_LISTED_CHILDREN)?;
            if total > 0 && !confirm {
                let list: Vec<Value> = children
                    .iter()
                    .map(|(id, name)| json!({"id": id, "name": name}))
                    .collect();
                return Err(Error::new(
                    Code::ConfirmationRequired,
                    "this workspace has sub-workspaces; delete with ?confirm=true to remove them all",
                )
                .with("children_count", json!(total))
                .with("children", json!(list)));
            }
            remove_subtree(ctx, &who.actor(), &row)
        })
        .await?;
    Ok(json!({ "status": "removed", "cascade_deleted": removed - 1 }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    #[serde(default)]
    active_tasks: i64,
    current_task: Option<String>,
}

/// Heartbeats are telemetry from the agent, not admin changes, so they
/// update the workspace without an audit entry (one every few seconds per
/// workspace would drown the trail).
pub async fn heartbeat(app: &App, who: Principal, raw: &str, hb: Option<Heartbeat>) -> Result<OwnedView> {
    let id = workspace_id(raw)?;
    let hb = hb.unwrap_or(Heartbeat {
        active_tasks: 0,
        current_task: None,
    });
    if !(0..=MAX_ACTIVE_TASKS).contains(&hb.active_tasks) {
        return Err(Error::invalid(format!(
            "active_tasks must be between 0 and {MAX_ACTIVE_TASKS}"
        )));
    }
    let task = hb.current_task.filter(|t| !t.is_empty());
    if let Some(t) = &task {
        check_text("current_task", t, MAX_TASK)?;
    }
    let offline_after = app.settings.thresholds().offline_after;
    let row = app
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, id, Need::Agent)?;
            let offline_before = ctx.now.saturating_sub(offline_after);
            ws::heartbeat(ctx, id, hb.active_tasks, task.as_deref(), offline_before)?
                .ok_or_else(|| Error::not_found("workspace"))
        })
        .await?;
    Ok(view(app, row))
}

pub async fn set_paused(app: &App, who: Principal, raw: &str, paused: bool) -> Result<OwnedView> {
    let id = workspace_id(raw)?;
    let row = app
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, id, Need::Write)?;
            let (row, changed) = ws::set_paused(ctx, id, paused)?.ok_or_else(|| Error::not_found("workspace"))?;
            if changed {
                let action = if paused {
                    Action::WorkspacePause
                } else {
                    Action::WorkspaceResume
                };
                audit::append(ctx, &who.actor(), action, Some(&id.to_string()), json!({}))?;
            }
            Ok(row)
        })
        .await?;
    Ok(view(app, row))
}

/// What a template, bundle or org import gave the workspace: prompts,
/// files, schedules, model, plugins. The agent reads its own; org keys
/// read it too (it holds no secrets: those live in secrets and channels).
pub async fn config(app: &App, who: Principal, raw: &str) -> Result<Value> {
    let id = workspace_id(raw)?;
    let (source, config) = app
        .read(move |conn| {
            who.workspace(conn, id, Need::ReadOrAgent)?;
            Ok(catalog::get_config(conn, id)?.unwrap_or_else(|| ("api".into(), json!({}))))
        })
        .await?;
    Ok(json!({ "source": source, "config": config }))
}
