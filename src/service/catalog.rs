//! Workspace templates (`/templates`), the plugin registry (`/plugins`),
//! the org plugin allowlist, and plugins installed on workspaces.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ws_tokens::workspace_id;
use super::{App, Principal};
use crate::domain::audit::Action;
use crate::domain::authz::Need;
use crate::domain::catalog::{
    plugin_digest, plugin_source, same_runtime, template_defaults, TemplateDefaults, SCHEMES,
};
use crate::domain::org_yaml::{check_files, Files};
use crate::domain::role::Role;
use crate::domain::text::{check_name, dir_name, PluginName};
use crate::domain::time::Time;
use crate::domain::{Code, Error, Result};
use crate::store::audit;
use crate::store::catalog::{self, Plugin, WorkspaceTemplate};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportTemplate {
    name: String,
    files: Files,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPlugin {
    name: String,
    version: String,
    description: Option<String>,
    #[serde(default)]
    runtimes: Vec<String>,
    files: Files,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutAllowlist {
    plugins: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Install {
    source: String,
    sha256: Option<String>,
}

#[derive(Serialize)]
pub struct PluginView {
    name: String,
    version: String,
    description: Option<String>,
    runtimes: Vec<String>,
    files: Vec<String>,
    sha256: String,
    created_at: Time,
}

impl PluginView {
    fn of(p: &Plugin) -> PluginView {
        PluginView {
            name: p.name.clone(),
            version: p.version.clone(),
            description: p.description.clone(),
            runtimes: p.runtimes.clone(),
            files: p.files.keys().cloned().collect(),
            sha256: p.sha256.clone(),
            created_at: Time(p.created_at),
        }
    }
}

// ---- workspace templates ------------------------------------------------------

pub async fn import_template(app: &App, who: Principal, req: ImportTemplate) -> Result<Value> {
    who.org_wide(Role::Admin)?;
    let ImportTemplate { name, files } = req;
    let id = dir_name(&name);
    if id.is_empty() {
        return Err(Error::invalid("name must contain a letter or digit"));
    }
    let bad = |e: String| Error::new(Code::InvalidTemplate, e);
    // Every path and size is checked before anything is stored.
    let files = check_files(&files).map_err(bad)?;
    let TemplateDefaults {
        runtime,
        model,
        tier,
        description,
    } = template_defaults(&files).map_err(bad)?;
    let mut t = WorkspaceTemplate {
        name: id.clone(),
        description,
        runtime,
        model,
        tier,
        files,
        created_at: 0,
    };
    app.write(who, move |ctx, who| {
        if catalog::workspace_template_exists(ctx, &t.name)? {
            return Err(Error::new(
                Code::TemplateExists,
                format!("a workspace template named {:?} exists", t.name),
            )
            .with("id", json!(t.name)));
        }
        t.created_at = ctx.now;
        catalog::insert_workspace_template(ctx, &t)?;
        let detail = json!({"files": t.files.len()});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::TemplateImport,
            Some(&t.name),
            detail,
        )?)
    })
    .await?;
    Ok(json!({ "status": "imported", "id": id, "name": name }))
}

pub async fn list_templates(app: &App, who: Principal) -> Result<Vec<Value>> {
    who.org_role(Role::ReadOnly)?;
    let rows = app.read(|conn| Ok(catalog::list_workspace_templates(conn)?)).await?;
    Ok(rows
        .iter()
        .map(|t| {
            json!({
                "id": t.name, "name": t.name, "description": t.description, "runtime": t.runtime,
                "model": t.model, "tier": t.tier, "files": t.files.keys().collect::<Vec<_>>(),
                "created_at": Time(t.created_at),
            })
        })
        .collect())
}

// ---- plugins -------------------------------------------------------------------

pub async fn register_plugin(app: &App, who: Principal, b: RegisterPlugin) -> Result<PluginView> {
    who.org_wide(Role::Admin)?;
    if PluginName::parse(&b.name).is_none() {
        return Err(Error::invalid("name must match ^[a-z0-9][a-z0-9._-]{0,127}$"));
    }
    check_name("version", &b.version, 64).map_err(Error::invalid)?;
    if let Some(bad_rt) = b.runtimes.iter().find(|r| check_name("runtime", r, 100).is_err()) {
        return Err(Error::invalid(format!("runtimes: {bad_rt:?} is not a runtime name")));
    }
    let files = check_files(&b.files).map_err(|e| Error::new(Code::InvalidPlugin, e))?;
    let mut p = Plugin {
        sha256: plugin_digest(&files),
        name: b.name,
        version: b.version,
        description: b.description,
        runtimes: b.runtimes,
        files,
        created_at: 0,
    };
    // The answer shows what was stored, stamped inside the transaction.
    app.write(who, move |ctx, who| {
        if catalog::plugin_exists(ctx, &p.name)? {
            return Err(Error::new(
                Code::PluginExists,
                format!("a plugin named {:?} is registered", p.name),
            ));
        }
        p.created_at = ctx.now;
        catalog::insert_plugin(ctx, &p)?;
        let detail = json!({"version": p.version, "sha256": p.sha256});
        audit::append(ctx, &who.actor(), Action::PluginRegister, Some(&p.name), detail)?;
        Ok(PluginView::of(&p))
    })
    .await
}

pub async fn list_plugins(app: &App, who: Principal, runtime: Option<String>) -> Result<Vec<PluginView>> {
    who.org_role(Role::ReadOnly)?;
    let rows = app.read(|conn| Ok(catalog::list_plugins(conn)?)).await?;
    Ok(rows
        .iter()
        .filter(|p| match &runtime {
            // A plugin that names no runtime works on all of them.
            Some(rt) => p.runtimes.is_empty() || p.runtimes.iter().any(|r| same_runtime(r, rt)),
            None => true,
        })
        .map(PluginView::of)
        .collect())
}

pub fn plugin_sources(who: &Principal) -> Result<Value> {
    who.org_role(Role::ReadOnly)?;
    Ok(json!({ "schemes": SCHEMES }))
}

// ---- allowlist -------------------------------------------------------------------

fn allowlist_view(rows: &[(String, String, i64)]) -> Value {
    let plugins: Vec<Value> = rows
        .iter()
        .map(|(n, by, at)| json!({"plugin_name": n, "enabled_by": by, "enabled_at": Time(*at)}))
        .collect();
    json!({ "allow_all": plugins.is_empty(), "plugins": plugins })
}

pub async fn get_allowlist(app: &App, who: Principal) -> Result<Value> {
    who.org_wide(Role::ReadOnly)?;
    let rows = app.read(|conn| Ok(catalog::allowlist(conn)?)).await?;
    Ok(allowlist_view(&rows))
}

pub async fn put_allowlist(app: &App, who: Principal, req: PutAllowlist) -> Result<Value> {
    who.org_wide(Role::Admin)?;
    let mut names = req.plugins;
    if let Some(bad_name) = names.iter().find(|n| PluginName::parse(n).is_none()) {
        return Err(Error::invalid(format!("plugins: {bad_name:?} is not a plugin name")));
    }
    if names.len() > 1000 {
        return Err(Error::invalid("plugins: at most 1000 names"));
    }
    names.sort();
    names.dedup();
    let out = names.clone();
    app.write(who, move |ctx, who| {
        catalog::set_allowlist(ctx, &names, &who.actor().name)?;
        let detail = json!({"plugins": names});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::PluginAllowlistSet,
            None,
            detail,
        )?)
    })
    .await?;
    Ok(json!({ "allow_all": out.is_empty(), "plugins": out }))
}

// ---- installed plugins -------------------------------------------------------------

/// Refuses a plugin that is unregistered or not allowed. Reads inside the
/// caller's transaction, so any error refuses (fails closed).
fn installable(conn: &rusqlite::Connection, name: &str) -> Result<Plugin> {
    let plugin = catalog::get_plugin(conn, name)?.ok_or_else(|| {
        Error::new(
            Code::PluginNotFound,
            format!("no plugin named {name:?} is registered (POST /plugins)"),
        )
    })?;
    let allowed = catalog::allowlist(conn)?;
    if !allowed.is_empty() && !allowed.iter().any(|(n, _, _)| n == name) {
        return Err(Error::forbidden(format!("plugin {name:?} is not in the org allowlist")));
    }
    Ok(plugin)
}

pub async fn install(app: &App, who: Principal, raw: &str, req: Install) -> Result<Value> {
    let id = workspace_id(raw)?;
    let Install { source, sha256 } = req;
    let name = plugin_source(&source)?.into_string();
    let out = name.clone();
    app.write(who, move |ctx, who| {
        let workspace = who.workspace(ctx, id, Need::Write)?;
        let plugin = installable(ctx, &name)?;
        if !plugin.runtimes.is_empty() && !plugin.runtimes.iter().any(|r| same_runtime(r, &workspace.runtime)) {
            return Err(Error::invalid(format!(
                "plugin {name:?} supports runtimes {:?}; this workspace runs {:?}",
                plugin.runtimes, workspace.runtime
            )));
        }
        if let Some(want) = &sha256 {
            if !want.eq_ignore_ascii_case(&plugin.sha256) {
                return Err(Error::new(
                    Code::Sha256Mismatch,
                    format!("sha256 does not match the registered {name} ({})", plugin.sha256),
                ));
            }
        }
        let source = format!("local://{name}");
        catalog::install_plugin(ctx, id, &name, &source, &who.actor().name)?;
        let detail = json!({"workspace_id": id, "version": plugin.version, "source": source});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::PluginInstall,
            Some(&name),
            detail,
        )?)
    })
    .await?;
    Ok(json!({ "status": "installed", "plugin": out, "source": format!("local://{out}") }))
}

pub async fn list_installed(app: &App, who: Principal, raw: &str) -> Result<Vec<Value>> {
    let id = workspace_id(raw)?;
    let rows = app
        .read(move |conn| {
            who.workspace(conn, id, Need::ReadOrAgent)?;
            Ok(catalog::installed_plugins(conn, id)?)
        })
        .await?;
    Ok(rows
        .iter()
        .map(|(n, src, by, at)| json!({"name": n, "source": src, "installed_by": by, "installed_at": Time(*at)}))
        .collect())
}

pub async fn uninstall(app: &App, who: Principal, raw: &str, name: String) -> Result<Value> {
    let id = workspace_id(raw)?;
    let out = name.clone();
    app.write(who, move |ctx, who| {
        who.workspace(ctx, id, Need::Write)?;
        if !catalog::uninstall_plugin(ctx, id, &name)? {
            return Err(Error::not_found("installed plugin"));
        }
        let detail = json!({"workspace_id": id});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::PluginUninstall,
            Some(&name),
            detail,
        )?)
    })
    .await?;
    Ok(json!({ "status": "uninstalled", "plugin": out }))
}

/// The agent fetches an installed plugin's files with its own token.
pub async fn download(app: &App, who: Principal, raw: &str, name: String) -> Result<Plugin> {
    let id = workspace_id(raw)?;
    app.read(move |conn| {
        who.check_workspace(conn, id, Need::Agent)?;
        let installed = catalog::installed_plugins(conn, id)?.iter().any(|(n, ..)| *n == name);
        if !installed {
            return Err(Error::not_found("installed plugin"));
        }
        // Taken off the allowlist since install: no longer served.
        installable(conn, &name)
    })
    .await
}
