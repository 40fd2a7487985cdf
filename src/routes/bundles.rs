//! Bundles: a workspace tree as one JSON document (the upstream format,
//! with `sub_workspaces`). Import is atomic, like org import; export then
//! import gives an equivalent tree.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::workspaces::workspace_id;
use crate::auth::{Need, Principal};
use crate::db::workspaces::{self as ws, NewWorkspace};
use crate::db::{audit, catalog, StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};
use crate::model::{
    check_name, check_tier, Role, DEFAULT_RUNTIME, DEFAULT_TIER, MAX_RUNTIME, MAX_WORKSPACE_NAME, MAX_WORKSPACE_ROLE,
};
use crate::org_plan::is_plugin_name;
use crate::org_yaml::{check_relpath, Files};
use crate::state::AppState;

const MAX_NODES: usize = 1000;
/// As deep as workspaces may nest, so an export is never cut short.
const MAX_DEPTH: usize = crate::db::workspaces::MAX_DEPTH as usize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let big = || super::json_config(crate::org_yaml::MAX_TOTAL_BYTES + 256 * 1024);
    cfg.service(web::resource("/bundles/import").app_data(big()).post(import_bundle))
        .service(web::resource("/bundles/export/{id}").get(export_bundle));
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default)]
pub struct Skill {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub files: Files,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default)]
pub struct Bundle {
    pub schema: Option<String>,
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub tier: Option<i64>,
    pub model: Option<String>,
    pub runtime: Option<String>,
    pub system_prompt: Option<String>,
    pub skills: Vec<Skill>,
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Value>,
    pub prompts: Files,
    #[schema(no_recursion)]
    pub sub_workspaces: Vec<Bundle>,
    #[schema(value_type = Option<Object>)]
    pub agent_card: Option<Value>,
    pub author: Option<String>,
    pub version: Option<String>,
}

/// Checks a bundle tree before anything is written; errors name the node.
fn check(b: &Bundle, path: &str, depth: usize, count: &mut usize) -> Result<(), String> {
    *count += 1;
    if *count > MAX_NODES || depth >= MAX_DEPTH {
        return Err(format!(
            "a bundle may hold at most {MAX_NODES} workspaces, {MAX_DEPTH} deep"
        ));
    }
    let at = |e: String| format!("{path} ({:?}): {e}", b.name);
    check_name("name", &b.name, MAX_WORKSPACE_NAME).map_err(at)?;
    if let Some(d) = &b.description {
        check_name("description", d, MAX_WORKSPACE_ROLE).map_err(at)?;
    }
    if let Some(t) = b.tier {
        check_tier(t).map_err(at)?;
    }
    for (field, v) in [("model", &b.model), ("runtime", &b.runtime)] {
        if let Some(v) = v {
            check_name(field, v, MAX_RUNTIME).map_err(at)?;
        }
    }
    for s in &b.skills {
        if !is_plugin_name(&s.id) {
            return Err(at(format!(
                "skill id {:?} must match ^[a-z0-9][a-z0-9._-]{{0,127}}$",
                s.id
            )));
        }
        for p in s.files.keys() {
            check_relpath(p).map_err(|e| at(format!("skill {}: {e}", s.id)))?;
        }
    }
    for p in b.prompts.keys() {
        let p = check_relpath(p).map_err(at)?;
        // Those names belong to skills and the system prompt; a prompt
        // under them would not survive export and import unchanged.
        if p == "system-prompt.md" || p.starts_with("skills/") {
            return Err(at(format!("prompt {p:?}: skills/ and system-prompt.md are reserved")));
        }
    }
    check_name("runtime", &runtime_of(b), MAX_RUNTIME).map_err(at)?;
    for (i, child) in b.sub_workspaces.iter().enumerate() {
        check(child, &format!("{path}.sub_workspaces[{i}]"), depth + 1, count)?;
    }
    Ok(())
}

/// The runtime a bundle asks for: its own field, else a `runtime:` line
/// in its `config.yaml` prompt, else the default.
fn runtime_of(b: &Bundle) -> String {
    b.runtime
        .clone()
        .or_else(|| {
            b.prompts.get("config.yaml")?.lines().find_map(|l| {
                let v = l
                    .strip_prefix("runtime:")?
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'');
                (!v.is_empty()).then(|| v.to_string())
            })
        })
        .unwrap_or_else(|| DEFAULT_RUNTIME.into())
}

fn create(ctx: &mut WriteCtx, who: &Principal, b: &Bundle, parent: Option<&str>) -> StoreResult<Value> {
    let new = NewWorkspace {
        name: b.name.clone(),
        role: b.description.clone(),
        tier: b.tier.unwrap_or(DEFAULT_TIER),
        runtime: runtime_of(b),
        parent_id: parent.map(str::to_string),
    };
    let mut files = Files::new();
    if let Some(p) = &b.system_prompt {
        files.insert("system-prompt.md".into(), p.clone());
    }
    for (path, content) in &b.prompts {
        files.insert(check_relpath(path).map_err(ApiError::invalid)?, content.clone());
    }
    for s in &b.skills {
        for (path, content) in &s.files {
            files.insert(
                format!("skills/{}/{}", s.id, check_relpath(path).map_err(ApiError::invalid)?),
                content.clone(),
            );
        }
    }
    let skills: Vec<Value> = b
        .skills
        .iter()
        .map(|s| json!({"id": s.id, "name": s.name, "description": s.description}))
        .collect();
    let config = json!({
        "model": b.model, "files": files,
        "bundle": {"id": b.id, "schema": b.schema, "author": b.author, "version": b.version,
                   "agent_card": b.agent_card, "tools": b.tools, "skills": skills, "system_prompt": b.system_prompt.is_some()},
    });
    let source = format!("bundle:{}", b.id.clone().unwrap_or_default());
    let (row, token) = super::workspaces::create_in(ctx, who, new, &source, Some(&config), json!({}))?;
    let mut children = Vec::new();
    for child in &b.sub_workspaces {
        children.push(create(ctx, who, child, Some(&row.id))?);
    }
    Ok(json!({
        "workspace_id": row.id, "name": row.name, "tier": row.tier, "runtime": row.runtime,
        "parent_id": row.parent_id, "auth_token": token, "status": "created", "children": children,
    }))
}

async fn import_bundle(state: web::Data<AppState>, who: Principal, body: web::Json<Bundle>) -> ApiResult<HttpResponse> {
    who.org_wide(Role::Admin)?;
    let bundle = body.into_inner();
    check(&bundle, "bundle", 0, &mut 0)
        .map_err(|e| ApiError::new(actix_web::http::StatusCode::BAD_REQUEST, "invalid_bundle", e))?;
    let tree = state
        .write(who, move |ctx, who| {
            let tree = create(ctx, who, &bundle, None)?;
            audit::append(
                ctx,
                &who.actor(),
                "bundle.import",
                tree["workspace_id"].as_str(),
                json!({"bundle_id": bundle.id, "name": bundle.name}),
            )?;
            Ok(tree)
        })
        .await?;
    Ok(HttpResponse::Created().json(tree))
}

/// Rebuilds a workspace's bundle from what is stored: its fields, its
/// config's files (system prompt, prompts, skills) and its live children.
fn export(conn: &rusqlite::Connection, id: &str, depth: usize, count: &mut usize) -> StoreResult<Bundle> {
    let w = ws::get(conn, id)?.ok_or_else(|| ApiError::not_found("workspace"))?;
    *count += 1;
    let config = catalog::get_config(conn, id)?.map(|(_, c)| c).unwrap_or(Value::Null);
    let files: Files = serde_json::from_value(config["files"].clone()).unwrap_or_default();
    let meta = &config["bundle"];
    let mut b = Bundle {
        schema: Some("1.0".into()),
        id: Some(w.id.clone()),
        name: w.name.clone(),
        description: w.role.clone(),
        tier: Some(w.tier),
        model: config["model"].as_str().map(str::to_string),
        runtime: Some(w.runtime.clone()),
        tools: serde_json::from_value(meta["tools"].clone()).unwrap_or_default(),
        agent_card: Some(meta["agent_card"].clone()).filter(|v| !v.is_null()),
        author: meta["author"].as_str().map(str::to_string),
        version: Some(meta["version"].as_str().unwrap_or("1.0.0").to_string()),
        ..Default::default()
    };
    let skill_meta: Vec<Skill> = serde_json::from_value(meta["skills"].clone()).unwrap_or_default();
    for (path, content) in files {
        if path == "system-prompt.md" {
            b.system_prompt = Some(content);
        } else if let Some(rest) = path.strip_prefix("skills/") {
            let (skill, rel) = rest.split_once('/').unwrap_or((rest, ""));
            if !b.skills.iter().any(|s| s.id == skill) {
                let m = skill_meta.iter().find(|s| s.id == skill).cloned().unwrap_or_default();
                b.skills.push(Skill {
                    id: skill.to_string(),
                    name: m.name,
                    description: m.description,
                    files: Files::new(),
                });
            }
            if let Some(s) = b.skills.iter_mut().find(|s| s.id == skill) {
                s.files.insert(rel.to_string(), content);
            }
        } else {
            b.prompts.insert(path, content);
        }
    }
    for s in skill_meta {
        if !b.skills.iter().any(|k| k.id == s.id) {
            b.skills.push(Skill {
                files: Files::new(),
                ..s
            });
        }
    }
    let (children, total) = ws::children(conn, id, MAX_NODES as i64)?;
    if total > children.len() as i64 || (depth + 1 >= MAX_DEPTH && total > 0) || *count > MAX_NODES {
        return Err(ApiError::invalid(format!(
            "{:?} holds more than a bundle can (at most {MAX_NODES} workspaces, {MAX_DEPTH} deep)",
            w.name
        ))
        .into());
    }
    for (child, _) in children {
        b.sub_workspaces.push(export(conn, &child, depth + 1, count)?);
    }
    Ok(b)
}

async fn export_bundle(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let bundle = state
        .read(move |conn| {
            who.check_workspace(conn, &id, Need::Read)?;
            export(conn, &id, 0, &mut 0)
        })
        .await?;
    Ok(HttpResponse::Ok().json(bundle))
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<Skill>(out);
    crate::openapi::add::<Bundle>(out);
}
