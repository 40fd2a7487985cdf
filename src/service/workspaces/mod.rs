//! Workspaces: the tree, its lifecycle, and the agent's heartbeat.

mod create;
mod list;
mod patch;
mod view;

use serde_json::{json, Value};

pub use create::{create, CanvasPosition, CreateWorkspace};
pub use list::{list, ListQuery, Listed};
pub use patch::patch;
pub use view::{Connection, CreatedWorkspace, OwnedView, WorkspaceView};

use super::ws_tokens::{self, workspace_id};
use super::{App, Principal};
use crate::domain::audit::{Action, Actor};
use crate::domain::authz::Need;
use crate::domain::ids::WorkspaceId;
use crate::domain::text::check_name;
use crate::domain::workspace::{MAX_DEPTH, MAX_LISTED_CHILDREN};
use crate::domain::{Code, Error, Result};
use crate::store::workspaces::{self as ws, NewWorkspace, WorkspaceRow};
use crate::store::{audit, catalog, channels, secrets, tokens, WriteCtx};

pub(super) fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    check_name(field, value, max).map_err(Error::invalid)
}

/// A row as every route shows it, with any newer heartbeat held in memory.
pub fn view(app: &App, row: WorkspaceRow) -> OwnedView {
    OwnedView {
        beat: app.beats.get(row.id),
        row,
        now: app.now(),
        thresholds: app.settings.thresholds(),
    }
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
/// their tokens in the same transaction. Returns the ids removed (whose
/// held heartbeats the caller forgets once this commits).
pub fn remove_subtree(ctx: &mut WriteCtx, actor: &Actor, root: &WorkspaceRow) -> Result<Vec<WorkspaceId>> {
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
    Ok(ids)
}

pub async fn get(app: &App, who: Principal, raw: &str) -> Result<OwnedView> {
    get_as(app, who, workspace_id(raw)?, Need::ReadOrAgent).await
}

/// A workspace the caller may reach with `need`; a deleted one is a 404 in
/// the shape upstream's agents read (`deleted: true`).
pub async fn get_as(app: &App, who: Principal, id: WorkspaceId, need: Need) -> Result<OwnedView> {
    let row = app
        .read(move |conn| {
            who.check_workspace(conn, id, need)?;
            ws::get(conn, id)?.ok_or_else(|| {
                Error::not_found("workspace")
                    .with("workspace_id", json!(id))
                    .with("status", json!("removed"))
                    .with("deleted", json!(true))
            })
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
    app.beats.forget(&removed);
    Ok(json!({ "status": "removed", "cascade_deleted": removed.len() - 1 }))
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
    if !paused {
        app.beats.resumed(id);
    }
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
