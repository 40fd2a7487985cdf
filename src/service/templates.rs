//! Org templates: a registry in the database. A template is parsed and
//! planned when it is registered, so a broken one is refused then, and
//! listing parses nothing.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{App, Principal};
use crate::domain::archive;
use crate::domain::audit::{Action, Actor};
use crate::domain::org_plan::{self, Plan};
use crate::domain::org_yaml::{self, Files, ENTRY};
use crate::domain::role::Role;
use crate::domain::text::dir_name;
use crate::domain::time::Time;
use crate::domain::{Code, Error, Result};
use crate::store::catalog::OrgTemplateRow;
use crate::store::{audit, catalog, Db, WriteCtx};

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
    /// A tar or tar.gz of the template's directory.
    Archive(Vec<u8>),
    /// A directory on the box, already read (the CLI).
    Files(Files),
}

/// What registration answers: the listing, whether one was replaced, and
/// what an archive held that was left out.
fn answer(dir: &str, plan: &Plan, replaced: bool, skipped: &[String]) -> Value {
    let mut body = summary(dir, plan);
    body["replaced"] = json!(replaced);
    if !skipped.is_empty() {
        body["skipped"] = json!(skipped);
    }
    body
}

pub fn bad_template(message: String) -> Error {
    Error::new(Code::InvalidTemplate, message)
}

/// Checks, parses and plans a template: every path and size, the YAML
/// with its includes, and the tree it would build.
pub fn plan(files: Files) -> Result<(Files, Plan)> {
    let files = org_yaml::check_files(&files).map_err(bad_template)?;
    let doc = org_yaml::expand(&files, ENTRY).map_err(bad_template)?;
    let plan = org_plan::plan(doc, Some(&files)).map_err(bad_template)?;
    Ok((files, plan))
}

/// `plan`, off the async workers: YAML parsing of hostile input is bounded
/// but not free.
pub async fn plan_files(app: &App, files: Files) -> Result<(Files, Plan)> {
    app.compute(move || plan(files)).await
}

/// The files and name an upload carries (`name` given beside it, else the
/// JSON body's), and what was left out of it.
fn files_of(upload: Upload, name: Option<String>) -> Result<(Option<String>, Files, Vec<String>)> {
    if let (Upload::Json(RegisterJson { name: Some(inner), .. }), Some(outer)) = (&upload, &name) {
        if inner != outer {
            return Err(Error::invalid(format!(
                "the name is given twice ({outer:?} and {inner:?}); give it once"
            )));
        }
    }
    let (own, mut files, mut skipped) = match upload {
        Upload::Yaml(text) => (None, Files::from([(ENTRY.to_string(), text)]), vec![]),
        Upload::Json(RegisterJson {
            yaml: Some(y),
            files: None,
            name,
        }) => (name, Files::from([(ENTRY.to_string(), y)]), vec![]),
        Upload::Json(RegisterJson {
            yaml: None,
            files: Some(f),
            name,
        }) => (name, f, vec![]),
        Upload::Json(_) => {
            return Err(Error::invalid(
                "send an org YAML (yaml, or a YAML body) or a multi-file template (name and files)",
            ))
        }
        Upload::Archive(bytes) => {
            let u = archive::unpack(&bytes).map_err(bad_template)?;
            (None, u.files, u.skipped)
        }
        Upload::Files(files) => (None, files, vec![]),
    };
    // A `.env` holds real values: left out, never stored in clear. Its
    // names become global secrets by hand (PUT /settings/secrets).
    files.retain(|path, _| {
        let keep = !is_dotenv(path);
        if !keep {
            skipped.push(format!(
                "{path}: a .env file holds secrets; set them with PUT /settings/secrets"
            ));
        }
        keep
    });
    Ok((name.or(own), files, skipped))
}

/// `.env`, `.env.local` and the like; not `.env.example` and other
/// templates of one.
fn is_dotenv(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == ".env"
        || (name.starts_with(".env.")
            && ![".example", ".sample", ".template", ".dist"]
                .iter()
                .any(|s| name.ends_with(s)))
}

/// The registry name, from the one given or the template's own.
fn dir_for(name: Option<&str>, plan: &Plan) -> Result<String> {
    let dir = dir_name(name.unwrap_or(&plan.name));
    if dir.is_empty() {
        return Err(Error::invalid("the template's name must contain a letter or digit"));
    }
    Ok(dir)
}

/// Stores a planned template in the caller's transaction and records it;
/// returns whether one was replaced.
fn store(ctx: &WriteCtx, actor: &Actor, dir: &str, plan: &Plan, files: &Files, replace: bool) -> Result<bool> {
    let taken = catalog::org_template_exists(ctx, dir)?;
    if taken && !replace {
        return Err(Error::new(
            Code::TemplateExists,
            format!("an org template named {dir:?} is registered; replace it with ?replace=true (on the box: org-template add --replace)"),
        )
        .with("dir", json!(dir)));
    }
    catalog::put_org_template(ctx, dir, &plan.name, files, &summary(dir, plan))?;
    let detail = json!({"name": plan.name, "files": files.len(), "replaced": taken});
    audit::append(ctx, actor, Action::OrgTemplateRegister, Some(dir), detail)?;
    Ok(taken)
}

fn summary(dir: &str, plan: &Plan) -> Value {
    json!({
        "dir": dir, "name": plan.name, "description": plan.description,
        "workspaces": plan.nodes.len(),
        "required_env": plan.required_env, "recommended_env": plan.recommended_env,
    })
}

/// How a template is registered: under which name (else its own), and
/// whether it may replace one of that name.
pub struct Registering {
    pub name: Option<String>,
    pub replace: bool,
}

pub async fn register(app: &App, who: Principal, upload: Upload, how: Registering) -> Result<Value> {
    who.org_wide(Role::Admin)?;
    let Registering { name, replace } = how;
    let (name, files, skipped) = app.compute(move || files_of(upload, name)).await?;
    let (files, plan) = plan_files(app, files).await?;
    plan.no_literal_credentials().map_err(bad_template)?;
    let dir = dir_for(name.as_deref(), &plan)?;
    let (plan, dir2) = (std::sync::Arc::new(plan), dir.clone());
    let planned = plan.clone();
    let replaced = app
        .write(who, move |ctx, who| {
            store(ctx, &who.actor(), &dir2, &planned, &files, replace)
        })
        .await?;
    Ok(answer(&dir, &plan, replaced, &skipped))
}

/// Registers a template from a directory on the box (`org-template add`),
/// recorded as done by `cli`. A running server serves it at once.
pub fn register_on_box(db: &Db, upload: Upload, how: Registering, now: i64) -> Result<Value> {
    let Registering { name, replace } = how;
    let (name, files, skipped) = files_of(upload, name)?;
    let (files, plan) = plan(files)?;
    plan.no_literal_credentials().map_err(bad_template)?;
    let dir = dir_for(name.as_deref(), &plan)?;
    let replaced = db.write_with(now, |ctx| store(ctx, &Actor::cli(), &dir, &plan, &files, replace))?;
    Ok(answer(&dir, &plan, replaced, &skipped))
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
    // Registered before such templates were refused: never shown.
    plan.no_literal_credentials().map_err(|e| {
        bad_template(format!(
            "{e}. This template was registered before that was refused and is not shown; delete it, or register it again"
        ))
    })?;
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
