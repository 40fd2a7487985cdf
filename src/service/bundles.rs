//! Bundles: import a workspace tree atomically, like org import; export
//! one, so that export then import gives an equivalent tree.

use serde_json::{json, Value};

use super::workspaces::create_in;
use super::ws_tokens::workspace_id;
use super::{App, Principal};
use crate::domain::audit::Action;
use crate::domain::authz::Need;
use crate::domain::bundle::{self, runtime_of, Bundle, MAX_DEPTH, MAX_NODES};
use crate::domain::ids::WorkspaceId;
use crate::domain::role::Role;
use crate::domain::workspace::DEFAULT_TIER;
use crate::domain::{Code, Error, Result};
use crate::store::workspaces::{self as ws, Layout, NewWorkspace, Settings};
use crate::store::{audit, catalog, WriteCtx};

fn create(ctx: &mut WriteCtx, who: &Principal, b: &Bundle, parent: Option<WorkspaceId>) -> Result<Value> {
    let new = NewWorkspace {
        name: b.name.clone(),
        role: b.description.clone(),
        tier: b.tier.unwrap_or(DEFAULT_TIER),
        runtime: runtime_of(b),
        parent_id: parent,
        layout: Layout::default(),
        settings: Settings::default(),
        url: None,
    };
    let (files, skills) = bundle::files_of(b).map_err(Error::invalid)?;
    let config = bundle::stored_config(b, files, skills);
    let source = format!("bundle:{}", b.id.clone().unwrap_or_default());
    let (row, token) = create_in(ctx, who, new, &source, Some(&config), json!({}))?;
    let mut children = Vec::new();
    for child in &b.sub_workspaces {
        children.push(create(ctx, who, child, Some(row.id))?);
    }
    Ok(json!({
        "workspace_id": row.id, "name": row.name, "tier": row.tier, "runtime": row.runtime,
        "parent_id": row.parent_id, "auth_token": token, "status": "created", "children": children,
    }))
}

pub async fn import(app: &App, who: Principal, bundle: Bundle) -> Result<Value> {
    who.org_wide(Role::Admin)?;
    bundle::check(&bundle, "bundle", 0, &mut 0).map_err(|e| Error::new(Code::InvalidBundle, e))?;
    app.write(who, move |ctx, who| {
        let tree = create(ctx, who, &bundle, None)?;
        let detail = json!({"bundle_id": bundle.id, "name": bundle.name});
        audit::append(
            ctx,
            &who.actor(),
            Action::BundleImport,
            tree["workspace_id"].as_str(),
            detail,
        )?;
        Ok(tree)
    })
    .await
}

/// Rebuilds a workspace's bundle from what is stored: its fields, its
/// config's files (system prompt, prompts, skills) and its live children.
fn export_tree(conn: &rusqlite::Connection, id: WorkspaceId, depth: usize, count: &mut usize) -> Result<Bundle> {
    let w = ws::get(conn, id)?.ok_or_else(|| Error::not_found("workspace"))?;
    *count += 1;
    let config = catalog::get_config(conn, id)?.map(|(_, c)| c).unwrap_or(Value::Null);
    let mut b = bundle::from_stored(bundle::Stored {
        id: w.id.to_string(),
        name: &w.name,
        role: w.role.as_deref(),
        tier: w.tier,
        runtime: &w.runtime,
        config: &config,
    });
    let (children, total) = ws::children(conn, id, MAX_NODES as i64)?;
    if total > children.len() as i64 || (depth + 1 >= MAX_DEPTH && total > 0) || *count > MAX_NODES {
        return Err(Error::invalid(format!(
            "{:?} holds more than a bundle can (at most {MAX_NODES} workspaces, {MAX_DEPTH} deep)",
            w.name
        )));
    }
    for (child, _) in children {
        b.sub_workspaces.push(export_tree(conn, child, depth + 1, count)?);
    }
    Ok(b)
}

pub async fn export(app: &App, who: Principal, raw: &str) -> Result<Bundle> {
    let id = workspace_id(raw)?;
    app.read(move |conn| {
        who.check_workspace(conn, id, Need::Read)?;
        export_tree(conn, id, 0, &mut 0)
    })
    .await
}
