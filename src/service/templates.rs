//! Org templates: a registry in the database. A template is parsed and
//! planned when it is registered, so a broken one is refused then, and
//! listing parses nothing.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{App, Principal};
use crate::domain::audit::Action;
use crate::domain::org_plan::{self, Plan};
use crate::domain::org_yaml::{self, Files, ENTRY};
use crate::domain::role::Role;
use crate::domain::text::dir_name;
use crate::domain::time::Time;
use crate::domain::{Code, Error, Result};
use crate::store::catalog::OrgTemplateRow;
use crate::store::{audit, catalog};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterJson {
    yaml: Option<String>,
    name: Option<String>,
    files: Option<Files>,
}

/// A template as a request carried it.
pub enum Upload {
    /// A YAML body: the org.yaml itself.
    Yaml(String),
    Json(RegisterJson),
}

pub fn bad_template(message: String) -> Error {
    Error::new(Code::InvalidTemplate, message)
}

/// Parses and plans a template off the async workers: YAML parsing of
/// hostile input is bounded but not free.
pub async fn plan_files(app: &App, files: Files) -> Result<(Files, Plan)> {
    app.compute(move || {
        let files = org_yaml::check_files(&files).map_err(bad_template)?;
        let doc = org_yaml::expand(&files, ENTRY).map_err(bad_template)?;
        let plan = org_plan::plan(doc, Some(&files)).map_err(bad_template)?;
        Ok((files, plan))
    })
    .await
}

fn summary(dir: &str, plan: &Plan) -> Value {
    json!({
        "dir": dir, "name": plan.name, "description": plan.description,
        "workspaces": plan.nodes.len(),
        "required_env": plan.required_env, "recommended_env": plan.recommended_env,
    })
}

pub async fn register(app: &App, who: Principal, upload: Upload, replace: bool) -> Result<Value> {
    who.org_wide(Role::Admin)?;
    let (name, files) = match upload {
        Upload::Yaml(text) => (None, Files::from([(ENTRY.to_string(), text)])),
        Upload::Json(RegisterJson {
            yaml: Some(y),
            files: None,
            name,
        }) => (name, Files::from([(ENTRY.to_string(), y)])),
        Upload::Json(RegisterJson {
            yaml: None,
            files: Some(f),
            name,
        }) => (name, f),
        Upload::Json(_) => {
            return Err(Error::invalid(
                "send an org YAML (yaml, or a YAML body) or a multi-file template (name and files)",
            ))
        }
    };
    let (files, plan) = plan_files(app, files).await?;
    let dir = dir_name(name.as_deref().unwrap_or(&plan.name));
    if dir.is_empty() {
        return Err(Error::invalid("the template's name must contain a letter or digit"));
    }
    let (dir2, name2) = (dir.clone(), plan.name.clone());
    let listing = summary(&dir, &plan);
    let replaced = app
        .write(who, move |ctx, who| {
            let taken = catalog::org_template_exists(ctx, &dir2)?;
            if taken && !replace {
                return Err(Error::new(
                    Code::TemplateExists,
                    format!("an org template named {dir2:?} is registered; re-send with ?replace=true to replace it"),
                )
                .with("dir", json!(dir2)));
            }
            catalog::put_org_template(ctx, &dir2, &name2, &files, &listing)?;
            let detail = json!({"name": name2, "files": files.len(), "replaced": taken});
            audit::append(ctx, &who.actor(), Action::OrgTemplateRegister, Some(&dir2), detail)?;
            Ok(taken)
        })
        .await?;
    let mut body = summary(&dir, &plan);
    body["replaced"] = json!(replaced);
    Ok(body)
}

pub async fn list(app: &App, who: Principal) -> Result<Vec<Value>> {
    who.org_wide(Role::ReadOnly)?;
    // Summaries were computed at registration: listing parses nothing.
    app.read(|conn| Ok(catalog::list_org_templates(conn)?)).await
}

/// A registered template, as stored.
pub async fn stored(app: &App, dir: String) -> Result<Option<OrgTemplateRow>> {
    app.read(move |c| Ok(catalog::get_org_template(c, &dir)?)).await
}

pub async fn get(app: &App, who: Principal, dir: String) -> Result<Value> {
    who.org_wide(Role::ReadOnly)?;
    let row = stored(app, dir)
        .await?
        .ok_or_else(|| Error::not_found("org template"))?;
    let (files, plan) = plan_files(app, row.files).await?;
    let mut body = summary(&row.dir, &plan);
    body["files"] = json!(files);
    body["created_at"] = json!(Time(row.created_at));
    body["updated_at"] = json!(Time(row.updated_at));
    body["tree"] = json!(plan.nodes);
    Ok(body)
}

pub async fn delete(app: &App, who: Principal, dir: String) -> Result<Value> {
    who.org_wide(Role::Admin)?;
    let gone = dir.clone();
    app.write(who, move |ctx, who| {
        if !catalog::delete_org_template(ctx, &dir)? {
            return Err(Error::not_found("org template"));
        }
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::OrgTemplateDelete,
            Some(&dir),
            json!({}),
        )?)
    })
    .await?;
    Ok(json!({ "status": "deleted", "dir": gone }))
}
