//! `/org/templates` (a registry in the database) and `POST /org/import`.
//!
//! An import is one transaction: the whole tree (and, in `replace` mode,
//! the removal of every existing workspace) commits, or nothing does and
//! the error names the node. A dry run runs the very same code in a
//! transaction that is always rolled back.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::channels::{check_users, create_in, NewChannel};
use super::workspaces::remove_subtree;
use crate::auth::Principal;
use crate::crypto::Keyring;
use crate::db::secrets::{self, GLOBAL};
use crate::db::workspaces::{self as ws, NewWorkspace};
use crate::db::{audit, catalog, StoreError, StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};
use crate::model::{rfc3339, Role};
use crate::org_plan::{self, missing_env, resolve_vars, Plan, PlannedNode};
use crate::org_yaml::{self, Files, ENTRY};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Templates may be larger than other bodies (see org_yaml's limits).
    let big = || web::PayloadConfig::new(org_yaml::MAX_TOTAL_BYTES + 256 * 1024);
    cfg.service(
        web::resource("/org/templates")
            .app_data(big())
            .get(list_templates)
            .post(register_template),
    )
    .service(
        web::resource("/org/templates/{dir}")
            .get(get_template)
            .delete(delete_template),
    )
    .service(web::resource("/org/import").app_data(big()).post(import));
}

/// The registry name of a template: lower case, `[a-z0-9_-]`, spaces and
/// dots to dashes.
pub fn dir_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' | '_' | '-' => out.push(c),
            ' ' | '.' | '/' => out.push('-'),
            _ => {}
        }
    }
    out.trim_matches('-').chars().take(100).collect()
}

fn is_yaml(req: &HttpRequest) -> bool {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(
        ct.as_str(),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml"
    )
}

fn bad_template(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_template", message)
}

/// Parses and plans a template off the async workers: YAML parsing of
/// hostile input is bounded but not free.
async fn plan_files(files: Files) -> ApiResult<(Files, Plan)> {
    web::block(move || {
        let files = org_yaml::check_files(&files).map_err(bad_template)?;
        let doc = org_yaml::expand(&files, ENTRY).map_err(bad_template)?;
        let plan = org_plan::plan(doc, Some(&files)).map_err(bad_template)?;
        Ok((files, plan))
    })
    .await
    .map_err(|e| ApiError::internal(format!("blocking pool: {e}")))?
}

fn summary(dir: &str, plan: &Plan) -> Json {
    json!({
        "dir": dir, "name": plan.name, "description": plan.description,
        "workspaces": plan.nodes.len(),
        "required_env": plan.required_env, "recommended_env": plan.recommended_env,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterJson {
    yaml: Option<String>,
    name: Option<String>,
    files: Option<Files>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceQuery {
    #[serde(default)]
    replace: bool,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("invalid body: {e}")))
}

fn utf8(body: web::Bytes) -> ApiResult<String> {
    String::from_utf8(body.to_vec()).map_err(|_| ApiError::invalid("the YAML body must be UTF-8"))
}

async fn register_template(
    state: web::Data<AppState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<ReplaceQuery>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let (name, files) = if is_yaml(&req) {
        (None, Files::from([(ENTRY.to_string(), utf8(body)?)]))
    } else {
        match json_body::<RegisterJson>(&body)? {
            RegisterJson {
                yaml: Some(y),
                files: None,
                name,
            } => (name, Files::from([(ENTRY.to_string(), y)])),
            RegisterJson {
                yaml: None,
                files: Some(f),
                name,
            } => (name, f),
            _ => {
                return Err(ApiError::invalid(
                    "send an org YAML (yaml, or a YAML body) or a multi-file template (name and files)",
                ))
            }
        }
    };
    let (files, plan) = plan_files(files).await?;
    let dir = dir_name(name.as_deref().unwrap_or(&plan.name));
    if dir.is_empty() {
        return Err(ApiError::invalid("the template's name must contain a letter or digit"));
    }
    let (replace, dir2, name2) = (query.replace, dir.clone(), plan.name.clone());
    let listing = summary(&dir, &plan);
    let replaced = state
        .write(who, move |ctx, who| {
            let replaced = catalog::put_org_template(ctx, &dir2, &name2, &files, &listing, replace)?;
            let detail = json!({"name": name2, "files": files.len(), "replaced": replaced});
            audit::append(ctx, &who.actor(), "org_template.register", Some(&dir2), detail)?;
            Ok(replaced)
        })
        .await?;
    let mut body = summary(&dir, &plan);
    body["replaced"] = json!(replaced);
    Ok(HttpResponse::Created().json(body))
}

async fn list_templates(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    who.org_wide(Role::ReadOnly)?;
    // Summaries were computed at registration: listing parses nothing.
    let rows = state.read(catalog::list_org_templates).await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn get_template(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    who.org_wide(Role::ReadOnly)?;
    let dir = path.into_inner();
    let row = state
        .read(move |c| catalog::get_org_template(c, &dir)?.ok_or_else(|| ApiError::not_found("org template").into()))
        .await?;
    let (files, plan) = plan_files(row.files).await?;
    let mut body = summary(&row.dir, &plan);
    body["files"] = json!(files);
    body["created_at"] = json!(rfc3339(row.created_at));
    body["updated_at"] = json!(rfc3339(row.updated_at));
    body["tree"] = json!(plan.nodes);
    Ok(HttpResponse::Ok().json(body))
}

async fn delete_template(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let dir = path.into_inner();
    let gone = dir.clone();
    state
        .write(who, move |ctx, who| {
            if !catalog::delete_org_template(ctx, &dir)? {
                return Err(ApiError::not_found("org template").into());
            }
            audit::append(ctx, &who.actor(), "org_template.delete", Some(&dir), json!({}))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "deleted", "dir": gone })))
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Merge,
    Replace,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportJson {
    dir: Option<String>,
    #[schema(value_type = Option<Object>)]
    template: Option<Json>,
    yaml: Option<String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    force: bool,
}

async fn import(
    state: web::Data<AppState>,
    who: Principal,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let (plan, opts) = if is_yaml(&req) {
        let opts = web::Query::<Options>::from_query(req.query_string())
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("invalid query string: {e}"),
                )
            })?
            .into_inner();
        (
            plan_files(Files::from([(ENTRY.to_string(), utf8(body)?)])).await?.1,
            opts,
        )
    } else {
        if !req.query_string().is_empty() {
            // Ignoring ?dry_run=true here would run a real import.
            return Err(ApiError::invalid(
                "with a JSON body, give mode, dry_run and force in the body, not the query string",
            ));
        }
        let b: ImportJson = json_body(&body)?;
        let opts = Options {
            mode: b.mode,
            dry_run: b.dry_run,
            force: b.force,
        };
        let plan = match (b.dir, b.template, b.yaml) {
            (Some(dir), None, None) => {
                let row = state
                    .read(move |c| {
                        catalog::get_org_template(c, &dir)?
                            .ok_or_else(|| ApiError::not_found(&format!("org template {dir:?}")).into())
                    })
                    .await?;
                plan_files(row.files).await?.1
            }
            (None, Some(doc), None) => web::block(move || org_plan::plan(doc, None).map_err(bad_template))
                .await
                .map_err(|e| ApiError::internal(format!("blocking pool: {e}")))??,
            (None, None, Some(yaml)) => plan_files(Files::from([(ENTRY.to_string(), yaml)])).await?.1,
            _ => {
                return Err(ApiError::invalid(
                    "give exactly one of dir, template or yaml (or send a YAML body)",
                ))
            }
        };
        (plan, opts)
    };
    let ring = state.keyring.clone();
    let run = move |ctx: &mut WriteCtx, who: &Principal| run_import(ctx, who, &ring, &plan, opts);
    let outcome = if opts.dry_run {
        state.rehearse(who, run).await?
    } else {
        state.write(who, run).await?
    };
    if opts.dry_run {
        return Ok(HttpResponse::Ok().json(outcome.plan));
    }
    Ok(HttpResponse::Created().json(outcome.result))
}

struct Outcome {
    plan: Json,
    result: Json,
}

/// The global secrets an import may use for `${VAR}`: opened, those that
/// open. Their names are what `required_env` is checked against.
fn global_vars(ctx: &WriteCtx, ring: &Keyring) -> StoreResult<(BTreeSet<String>, BTreeMap<String, String>)> {
    let names: BTreeSet<String> = secrets::list(ctx, GLOBAL)?.into_iter().map(|m| m.name).collect();
    Ok((names, secrets::open_scope(ctx, ring, GLOBAL)?))
}

fn run_import(ctx: &mut WriteCtx, who: &Principal, ring: &Keyring, plan: &Plan, opts: Options) -> StoreResult<Outcome> {
    let (present, vars) = global_vars(ctx, ring)?;
    let missing = missing_env(&plan.required_env, &present);
    if !missing.is_empty() && !opts.force && !opts.dry_run {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "missing_env",
            "missing required environment variables; set them as global secrets (PUT /settings/secrets) or pass force: true",
        )
        .with("missing_env", json!(missing))
        .with("required_env", json!(plan.required_env))
        .into());
    }
    // Everything that would refuse a node, found before anything is written.
    let known_plugins = catalog::plugin_names(ctx)?;
    let allowed: BTreeSet<String> = catalog::allowlist(ctx)?.into_iter().map(|(n, _, _)| n).collect();
    let mut problems = Vec::new();
    for node in &plan.nodes {
        for p in &node.plugins {
            if !known_plugins.contains(p) {
                problems.push(json!({"workspace": node.label(), "plugin": p, "problem": "not in the plugin registry"}));
            } else if !allowed.is_empty() && !allowed.contains(p) {
                problems.push(json!({"workspace": node.label(), "plugin": p, "problem": "not in the org allowlist"}));
            }
        }
        if let Some(t) = &node.template {
            if catalog::get_workspace_template(ctx, t)?.is_none() {
                problems
                    .push(json!({"workspace": node.label(), "template": t, "problem": "no such workspace template"}));
            }
        }
    }
    if !problems.is_empty() && !opts.dry_run {
        return Err(
            bad_template(format!("{} problem(s) in the template; see problems", problems.len()))
                .with("problems", json!(problems))
                .into(),
        );
    }

    let actor = who.actor();
    let mut removed = Vec::new();
    if opts.mode == Mode::Replace {
        let roots = ws::list(ctx, None)?
            .into_iter()
            .filter(|w| w.parent_id.is_none())
            .collect::<Vec<_>>();
        for root in roots {
            let n = remove_subtree(ctx, &actor, &root)?;
            removed.push(json!({"id": root.id, "name": root.name, "workspaces": n}));
        }
    }

    let source = format!("org:{}", plan.name);
    let mut ids: Vec<String> = Vec::with_capacity(plan.nodes.len());
    let mut created = Vec::new();
    let mut planned = Vec::new();
    let (mut channel_count, mut skipped_count) = (0, 0);
    let env = ImportEnv {
        who,
        ring,
        known_plugins: &known_plugins,
        vars: &vars,
        source: &source,
    };
    for node in &plan.nodes {
        let parent_id = node.parent.map(|i| ids[i].clone());
        let made = create_node(ctx, &env, node, parent_id).map_err(|e| name_node(e, node))?;
        channel_count += made.channels.len();
        skipped_count += made.skipped.len();
        planned.push(json!({
            "path": node.path, "name": made.row.name, "tier": made.row.tier, "runtime": made.row.runtime,
            "parent": node.parent.map(|i| plan.nodes[i].path.clone()), "plugins": node.plugins,
            "channels": made.channels, "channels_skipped": made.skipped,
        }));
        created.push(json!({
            "id": made.row.id, "name": made.row.name, "tier": made.row.tier, "parent_id": made.row.parent_id,
            "auth_token": made.token, "channels": made.channels, "channels_skipped": made.skipped,
        }));
        ids.push(made.row.id);
    }
    let detail = json!({
        "org": plan.name, "mode": format!("{:?}", opts.mode).to_lowercase(), "created": ids.len(),
        "removed_roots": removed.len(), "channels": channel_count, "channels_skipped": skipped_count, "forced": opts.force && !missing.is_empty(),
    });
    audit::append(ctx, &actor, "org.import", None, detail)?;
    let plan_json = json!({
        "dry_run": true, "org": plan.name, "mode": format!("{:?}", opts.mode).to_lowercase(),
        "create": planned, "remove": removed, "count": ids.len(),
        "problems": problems, "missing_env": missing,
        "required_env": plan.required_env, "recommended_env": plan.recommended_env,
    });
    let result = json!({ "org": plan.name, "workspaces": created, "count": ids.len(), "removed": removed });
    Ok(Outcome {
        plan: plan_json,
        result,
    })
}

/// Refusals keep their status with the node named; a busy database stays a
/// 503; anything else (a database fault) is a 500 that names the node but
/// shows no internals.
fn name_node(e: StoreError, node: &PlannedNode) -> StoreError {
    match e {
        StoreError::Api(a) => ApiError::new(a.status, a.code, format!("{}: {}", node.label(), a.message)).into(),
        StoreError::Busy => StoreError::Busy,
        other => {
            tracing::error!(node = %node.label(), error = %other, "org import failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("internal error while creating {}; nothing was imported", node.label()),
            )
            .into()
        }
    }
}

/// What every node of one import shares.
struct ImportEnv<'a> {
    who: &'a Principal,
    ring: &'a Keyring,
    known_plugins: &'a BTreeSet<String>,
    vars: &'a BTreeMap<String, String>,
    source: &'a str,
}

struct MadeNode {
    row: crate::db::workspaces::WorkspaceRow,
    token: String,
    channels: Vec<String>,
    skipped: Vec<Json>,
}

/// Creates one planned workspace: row, token, plugins, config, channels,
/// and its audit entry.
fn create_node(
    ctx: &mut WriteCtx,
    env: &ImportEnv,
    node: &PlannedNode,
    parent_id: Option<String>,
) -> StoreResult<MadeNode> {
    let actor = env.who.actor();
    let new = NewWorkspace {
        name: node.name.clone(),
        role: node.role.clone(),
        tier: node.tier,
        runtime: node.runtime.clone(),
        parent_id,
    };
    // A workspace template under the node supplies its files and model;
    // what the org template gives the node wins.
    let (mut files, mut model) = (crate::org_yaml::Files::new(), node.model.clone());
    if let Some(t) = node
        .template
        .as_ref()
        .map(|t| catalog::get_workspace_template(ctx, t))
        .transpose()?
        .flatten()
    {
        files = t.files;
        model = model.or(t.model);
    }
    files.extend(node.files.clone());
    let config = json!({
        "model": model, "template": node.template, "plugins": node.plugins, "files": files,
        "schedules": node.schedules, "idle_interval_seconds": node.idle_interval_seconds,
        "external": node.external, "url": node.url, "canvas": node.canvas,
    });
    let plugins: Vec<&String> = node.plugins.iter().filter(|p| env.known_plugins.contains(*p)).collect();
    let extra = json!({ "plugins_installed": plugins });
    let (row, token) = super::workspaces::create_in(ctx, env.who, new, env.source, Some(&config), extra)?;
    for p in &plugins {
        catalog::install_plugin(ctx, &row.id, p, &format!("local://{p}"), &actor.name)?;
    }
    let (mut channels, mut skipped) = (Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    for spec in &node.channels {
        let verdict = (|| {
            let adapter =
                crate::channels::find(&spec.kind).ok_or_else(|| format!("unknown channel type {:?}", spec.kind))?;
            if !seen.insert(spec.kind.clone()) {
                return Err(format!("a second {} channel on one workspace", spec.kind));
            }
            // Global secrets may fill only credential fields, which are
            // sealed and masked; a plain field would show them to any key.
            if let Some((k, _)) = spec
                .config
                .iter()
                .find(|(k, v)| v.contains("${") && !adapter.is_sensitive(k))
            {
                return Err(format!("config.{k}: ${{VAR}} may only fill credential fields"));
            }
            let config = resolve_vars(&spec.config, env.vars)?;
            adapter.validate(&config)?;
            check_users(&spec.allowed_users).map_err(|e| e.message)?;
            Ok((adapter, config))
        })();
        match verdict {
            Ok((adapter, config)) => {
                let enabled = spec.enabled.unwrap_or(true);
                let new = NewChannel {
                    adapter,
                    config: &config,
                    enabled,
                    allowed_users: spec.allowed_users.clone(),
                };
                create_in(ctx, env.ring, env.who, &row.id, new)?;
                channels.push(spec.kind.clone());
            }
            Err(reason) => skipped.push(json!({"workspace": row.name, "type": spec.kind, "reason": reason})),
        }
    }
    Ok(MadeNode {
        row,
        token,
        channels,
        skipped,
    })
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<RegisterJson>(out);
    crate::openapi::add::<ImportJson>(out);
    crate::openapi::add::<Mode>(out);
}
