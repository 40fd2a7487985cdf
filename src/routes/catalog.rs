//! Workspace templates (`/templates`), the plugin registry (`/plugins`),
//! the org plugin allowlist, and plugins installed on workspaces.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::workspaces::workspace_id;
use crate::auth::{Need, Principal};
use crate::db::audit;
use crate::db::catalog::{self, Plugin, WorkspaceTemplate};
use crate::error::{ApiError, ApiResult};
use crate::model::{check_name, rfc3339, Role};
use crate::org_plan::is_plugin_name;
use crate::org_yaml::{check_files, Files};
use crate::state::AppState;

pub const SCHEMES: [&str; 1] = ["local"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    let big = || web::PayloadConfig::new(crate::org_yaml::MAX_TOTAL_BYTES + 256 * 1024);
    let big_json = || super::json_config(crate::org_yaml::MAX_TOTAL_BYTES + 256 * 1024);
    cfg.service(web::resource("/templates").get(list_templates))
        .service(
            web::resource("/templates/import")
                .app_data(big())
                .app_data(big_json())
                .post(import_template),
        )
        .service(
            web::resource("/plugins")
                .app_data(big())
                .app_data(big_json())
                .get(list_plugins)
                .post(register_plugin),
        )
        .service(web::resource("/plugins/sources").get(plugin_sources))
        .service(
            web::resource("/org/plugins/allowlist")
                .get(get_allowlist)
                .put(put_allowlist),
        )
        .service(
            web::resource("/workspaces/{id}/plugins")
                .get(list_installed)
                .post(install),
        )
        .service(web::resource("/workspaces/{id}/plugins/{name}").delete(uninstall))
        .service(web::resource("/workspaces/{id}/plugins/{name}/download").get(download));
}

fn bad(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

// ---- workspace templates ------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportTemplate {
    name: String,
    files: Files,
}

#[derive(Default)]
struct TemplateDefaults {
    runtime: Option<String>,
    model: Option<String>,
    tier: Option<i64>,
    description: Option<String>,
}

/// Reads the runtime, model, tier and description a template's
/// `config.yaml` sets (top level, or `runtime_config.model`).
fn template_defaults(files: &Files) -> Result<TemplateDefaults, String> {
    let Some(text) = files.get("config.yaml") else {
        return Ok(TemplateDefaults::default());
    };
    let single = Files::from([("config.yaml".to_string(), text.clone())]);
    let doc = crate::org_yaml::expand(&single, "config.yaml")?;
    let s = |v: &Value| v.as_str().map(str::to_string);
    let model = s(&doc["model"]).or_else(|| s(&doc["runtime_config"]["model"]));
    let tier = doc["tier"].as_i64();
    if let Some(t) = tier {
        crate::model::check_tier(t).map_err(|e| format!("config.yaml: {e}"))?;
    }
    // The same rules as POST /workspaces: these become workspace fields.
    for (field, value, max) in [
        ("runtime", s(&doc["runtime"]), crate::model::MAX_RUNTIME),
        ("model", model.clone(), crate::model::MAX_MODEL),
        ("description", s(&doc["description"]), crate::model::MAX_WORKSPACE_ROLE),
    ] {
        if let Some(v) = value {
            check_name(field, &v, max).map_err(|e| format!("config.yaml: {e}"))?;
        }
    }
    Ok(TemplateDefaults {
        runtime: s(&doc["runtime"]),
        model,
        tier,
        description: s(&doc["description"]),
    })
}
async fn import_template(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<ImportTemplate>,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let ImportTemplate { name, files } = body.into_inner();
    let id = super::org::dir_name(&name);
    if id.is_empty() {
        return Err(ApiError::invalid("name must contain a letter or digit"));
    }
    // Every path and size is checked before anything is stored.
    let files = check_files(&files).map_err(|e| bad("invalid_template", e))?;
    let TemplateDefaults {
        runtime,
        model,
        tier,
        description,
    } = template_defaults(&files).map_err(|e| bad("invalid_template", e))?;
    let t = WorkspaceTemplate {
        name: id.clone(),
        description,
        runtime,
        model,
        tier,
        files,
        created_at: state.now(),
    };
    state
        .write(who, move |ctx, who| {
            let t = WorkspaceTemplate {
                created_at: ctx.now,
                ..t
            };
            catalog::insert_workspace_template(ctx, &t)?;
            audit::append(
                ctx,
                &who.actor(),
                "template.import",
                Some(&t.name),
                json!({"files": t.files.len()}),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({ "status": "imported", "id": id, "name": name })))
}

async fn list_templates(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    who.org_role(Role::ReadOnly)?;
    let rows = state.read(catalog::list_workspace_templates).await?;
    let out: Vec<Value> = rows
        .iter()
        .map(|t| {
            json!({
                "id": t.name, "name": t.name, "description": t.description, "runtime": t.runtime,
                "model": t.model, "tier": t.tier, "files": t.files.keys().collect::<Vec<_>>(),
                "created_at": rfc3339(t.created_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

// ---- plugins -------------------------------------------------------------------

/// SHA-256 over every file, sorted by path, as `path \0 content \0`:
/// what `"sha256"` on install pins.
pub fn plugin_digest(files: &Files) -> String {
    let mut h = Sha256::new();
    for (path, content) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(content.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterPlugin {
    name: String,
    version: String,
    description: Option<String>,
    #[serde(default)]
    runtimes: Vec<String>,
    files: Files,
}

fn plugin_json(p: &Plugin) -> Value {
    json!({
        "name": p.name, "version": p.version, "description": p.description, "runtimes": p.runtimes,
        "files": p.files.keys().collect::<Vec<_>>(), "sha256": p.sha256, "created_at": rfc3339(p.created_at),
    })
}

async fn register_plugin(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<RegisterPlugin>,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let b = body.into_inner();
    if !is_plugin_name(&b.name) {
        return Err(ApiError::invalid("name must match ^[a-z0-9][a-z0-9._-]{0,127}$"));
    }
    check_name("version", &b.version, 64).map_err(ApiError::invalid)?;
    if let Some(bad_rt) = b.runtimes.iter().find(|r| check_name("runtime", r, 100).is_err()) {
        return Err(ApiError::invalid(format!("runtimes: {bad_rt:?} is not a runtime name")));
    }
    let files = check_files(&b.files).map_err(|e| bad("invalid_plugin", e))?;
    let p = Plugin {
        sha256: plugin_digest(&files),
        name: b.name,
        version: b.version,
        description: b.description,
        runtimes: b.runtimes,
        files,
        created_at: state.now(),
    };
    // The response shows what was stored, stamped inside the transaction.
    let body = state
        .write(who, move |ctx, who| {
            let p = Plugin {
                created_at: ctx.now,
                ..p
            };
            catalog::insert_plugin(ctx, &p)?;
            let detail = json!({"version": p.version, "sha256": p.sha256});
            audit::append(ctx, &who.actor(), "plugin.register", Some(&p.name), detail)?;
            Ok(plugin_json(&p))
        })
        .await?;
    Ok(HttpResponse::Created().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeQuery {
    runtime: Option<String>,
}

fn same_runtime(a: &str, b: &str) -> bool {
    a.replace('_', "-").eq_ignore_ascii_case(&b.replace('_', "-"))
}

async fn list_plugins(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<RuntimeQuery>,
) -> ApiResult<HttpResponse> {
    who.org_role(Role::ReadOnly)?;
    let rows = state.read(catalog::list_plugins).await?;
    let out: Vec<Value> = rows
        .iter()
        .filter(|p| match &q.runtime {
            // A plugin that names no runtime works on all of them.
            Some(rt) => p.runtimes.is_empty() || p.runtimes.iter().any(|r| same_runtime(r, rt)),
            None => true,
        })
        .map(plugin_json)
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

async fn plugin_sources(who: Principal) -> ApiResult<HttpResponse> {
    who.org_role(Role::ReadOnly)?;
    Ok(HttpResponse::Ok().json(json!({ "schemes": SCHEMES })))
}

// ---- allowlist -------------------------------------------------------------------

async fn get_allowlist(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    who.org_wide(Role::ReadOnly)?;
    let rows = state.read(catalog::allowlist).await?;
    let plugins: Vec<Value> = rows
        .iter()
        .map(|(n, by, at)| json!({"plugin_name": n, "enabled_by": by, "enabled_at": rfc3339(*at)}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "allow_all": plugins.is_empty(), "plugins": plugins })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PutAllowlist {
    plugins: Vec<String>,
}

async fn put_allowlist(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<PutAllowlist>,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let mut names = body.into_inner().plugins;
    if let Some(bad_name) = names.iter().find(|n| !is_plugin_name(n)) {
        return Err(ApiError::invalid(format!("plugins: {bad_name:?} is not a plugin name")));
    }
    if names.len() > 1000 {
        return Err(ApiError::invalid("plugins: at most 1000 names"));
    }
    names.sort();
    names.dedup();
    let out = names.clone();
    state
        .write(who, move |ctx, who| {
            catalog::set_allowlist(ctx, &names, &who.actor().name)?;
            audit::append(
                ctx,
                &who.actor(),
                "plugin_allowlist.set",
                None,
                json!({"plugins": names}),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "allow_all": out.is_empty(), "plugins": out })))
}

// ---- installed plugins -------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Install {
    source: String,
    sha256: Option<String>,
}

/// `local://name` or a bare name; any other scheme is refused.
fn plugin_source(source: &str) -> ApiResult<String> {
    let source = source.trim();
    if source.is_empty() {
        return Err(ApiError::invalid(
            "source is required, e.g. \"local://my-plugin\" or \"my-plugin\"",
        ));
    }
    let name = match source.split_once("://") {
        Some(("local", name)) => name,
        Some((scheme, _)) => {
            return Err(bad(
                "unsupported_source",
                format!("plugin source scheme {scheme:?} is not available"),
            )
            .with("available_schemes", json!(SCHEMES)))
        }
        None => source,
    };
    if !is_plugin_name(name) {
        return Err(ApiError::invalid(format!(
            "{name:?} is not a plugin name (^[a-z0-9][a-z0-9._-]{{0,127}}$)"
        )));
    }
    Ok(name.to_string())
}

async fn install(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<Install>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let Install { source, sha256 } = body.into_inner();
    let name = plugin_source(&source)?;
    let out = name.clone();
    state
        .write(who, move |ctx, who| {
            let workspace = who.workspace(ctx, &id, Need::Write)?;
            let plugin = catalog::check_installable(ctx, &name)?;
            if !plugin.runtimes.is_empty() && !plugin.runtimes.iter().any(|r| same_runtime(r, &workspace.runtime)) {
                return Err(ApiError::invalid(format!(
                    "plugin {name:?} supports runtimes {:?}; this workspace runs {:?}",
                    plugin.runtimes, workspace.runtime
                ))
                .into());
            }
            if let Some(want) = &sha256 {
                if !want.eq_ignore_ascii_case(&plugin.sha256) {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "sha256_mismatch",
                        format!("sha256 does not match the registered {name} ({})", plugin.sha256),
                    )
                    .into());
                }
            }
            let source = format!("local://{name}");
            catalog::install_plugin(ctx, &id, &name, &source, &who.actor().name)?;
            let detail = json!({"workspace_id": id, "version": plugin.version, "source": source});
            audit::append(ctx, &who.actor(), "plugin.install", Some(&name), detail)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "installed", "plugin": out, "source": format!("local://{out}") })))
}

async fn list_installed(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let rows = state
        .read(move |conn| {
            who.workspace(conn, &id, Need::ReadOrAgent)?;
            catalog::installed_plugins(conn, &id)
        })
        .await?;
    let out: Vec<Value> = rows
        .iter()
        .map(|(n, src, by, at)| json!({"name": n, "source": src, "installed_by": by, "installed_at": rfc3339(*at)}))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

async fn uninstall(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (raw, name) = path.into_inner();
    let id = workspace_id(&raw)?;
    let out = name.clone();
    state
        .write(who, move |ctx, who| {
            who.workspace(ctx, &id, Need::Write)?;
            if !catalog::uninstall_plugin(ctx, &id, &name)? {
                return Err(ApiError::not_found("installed plugin").into());
            }
            audit::append(
                ctx,
                &who.actor(),
                "plugin.uninstall",
                Some(&name),
                json!({"workspace_id": id}),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "uninstalled", "plugin": out })))
}

/// The agent fetches an installed plugin's files with its own token.
async fn download(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (raw, name) = path.into_inner();
    let id = workspace_id(&raw)?;
    let plugin = state
        .read(move |conn| {
            who.check_workspace(conn, &id, Need::Agent)?;
            let installed = catalog::installed_plugins(conn, &id)?.iter().any(|(n, ..)| *n == name);
            if !installed {
                return Err(ApiError::not_found("installed plugin").into());
            }
            // Taken off the allowlist since install: no longer served.
            catalog::check_installable(conn, &name)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "name": plugin.name, "version": plugin.version, "sha256": plugin.sha256, "files": plugin.files,
    })))
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<ImportTemplate>(out);
    crate::openapi::add::<RegisterPlugin>(out);
    crate::openapi::add::<PutAllowlist>(out);
    crate::openapi::add::<Install>(out);
}
