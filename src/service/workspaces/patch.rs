//! `PATCH /workspaces/:id`: upstream's update fields, checked, and a move
//! in the tree checked for cycles and depth.

use serde_json::{json, Map, Value};

use super::create::{check_access, check_budget, check_concurrency, check_number};
use super::{check_text, view, OwnedView};
use crate::domain::audit::Action;
use crate::domain::authz::{self, Need};
use crate::domain::ids::WorkspaceId;
use crate::domain::role::Role;
use crate::domain::text::check_prose;
use crate::domain::workspace::{check_tier, MAX_DEPTH, MAX_NAME, MAX_ROLE, MAX_RUNTIME};
use crate::domain::{Code, Error, Result};
use crate::service::ws_tokens::workspace_id;
use crate::service::{App, Principal};
use crate::store::workspaces::{self as ws, WorkspacePatch, WorkspaceRow};
use crate::store::{audit, WriteCtx};

/// Reads an optional nullable string field of a PATCH body.
fn nullable_text(obj: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(Error::invalid(format!("{field} must be a string or null"))),
    }
}

/// What a PATCH may name: upstream's update fields. `workspace_dir` and
/// `workspace_access` are accepted and ignored (see `CreateWorkspace`).
const PATCHABLE: [&str; 12] = [
    "name",
    "role",
    "tier",
    "runtime",
    "parent_id",
    "x",
    "y",
    "collapsed",
    "budget_limit",
    "max_concurrent_tasks",
    "workspace_dir",
    "workspace_access",
];

const IGNORED: [&str; 2] = ["workspace_dir", "workspace_access"];

fn number(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>> {
    match obj.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|n| check_number(field, n))
            .transpose()?
            .ok_or_else(|| Error::invalid(format!("{field} must be a number")))
            .map(Some),
    }
}

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
        check_prose("role", r, MAX_ROLE).map_err(Error::invalid)?;
    }
    if let Some(t) = obj.get("tier") {
        let t = t.as_i64().ok_or_else(|| Error::invalid("tier must be an integer"))?;
        patch.tier = Some(check_tier(t).map_err(Error::invalid)?);
    }
    patch.x = number(obj, "x")?;
    patch.y = number(obj, "y")?;
    if let Some(c) = obj.get("collapsed") {
        patch.collapsed = Some(
            c.as_bool()
                .ok_or_else(|| Error::invalid("collapsed must be true or false"))?,
        );
    }
    patch.budget_limit = match obj.get("budget_limit") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => Some(Some(check_budget(number(obj, "budget_limit")?.unwrap_or(0.0))?)),
    };
    if let Some(m) = obj.get("max_concurrent_tasks") {
        let m = m
            .as_i64()
            .ok_or_else(|| Error::invalid("max_concurrent_tasks must be an integer"))?;
        patch.max_concurrent_tasks = Some(check_concurrency(m)?);
    }
    match obj.get("workspace_dir") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err(Error::invalid("workspace_dir must be a string or null")),
    }
    match obj.get("workspace_access") {
        None | Some(Value::Null) => {}
        Some(a) => check_access(a.as_str().unwrap_or(""))?,
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
    // The ignored fields change nothing: no write, no audit entry.
    let changed: Vec<String> = obj.keys().filter(|k| !IGNORED.contains(&k.as_str())).cloned().collect();
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
                let all = json!({
                    "name": w.name, "role": w.role, "tier": w.tier, "runtime": w.runtime, "parent_id": w.parent_id,
                    "x": w.layout.x, "y": w.layout.y, "collapsed": w.layout.collapsed,
                    "budget_limit": w.settings.budget_limit, "max_concurrent_tasks": w.settings.max_concurrent_tasks,
                });
                Value::Object(
                    changed
                        .iter()
                        .filter_map(|f| Some((f.clone(), all.get(f)?.clone())))
                        .collect(),
                )
            };
            let detail = json!({ "fields": changed, "before": pick(&before), "after": pick(&after) });
            audit::append(
                ctx,
                &who.actor(),
                Action::WorkspaceUpdate,
                Some(&id.to_string()),
                detail,
            )?;
            Ok(after)
        })
        .await?;
    Ok(view(app, row))
}
