//! `/workspaces`: the tree, its lifecycle, and the agent's heartbeat.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::{Need, Principal};
use crate::db::audit;
use crate::db::workspaces::{self as ws, NewWorkspace, WorkspacePatch, WorkspaceRef, WorkspaceRow};
use crate::db::{channels, secrets, tokens, StoreError, StoreResult, WriteCtx};
use crate::error::{ApiError, ApiResult};
use crate::list_cache::{ListKey, Page};
use crate::model::{
    check_name, is_uuid, Role, Time, DEFAULT_RUNTIME, DEFAULT_TIER, MAX_MODEL, MAX_RUNTIME, MAX_WORKSPACE_NAME,
    MAX_WORKSPACE_ROLE,
};
use crate::routes::keys::cap_expiry;
use crate::routes::secrets::{check_secret, store as store_secrets};
use crate::routes::OptionalJson;
use crate::state::{AppState, Settings};

const MAX_TASK: usize = 1000;
const MAX_CREATE_SECRETS: usize = 100;
/// How many children a 409 or an audit entry names; the count is always whole.
const MAX_LISTED_CHILDREN: i64 = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/workspaces").get(list_workspaces).post(create_workspace))
        .service(
            web::resource("/workspaces/{id}")
                .get(get_workspace)
                .patch(patch_workspace)
                .delete(delete_workspace),
        )
        .service(web::resource("/workspaces/{id}/heartbeat").post(heartbeat))
        .service(web::resource("/workspaces/{id}/config").get(get_config))
        .service(web::resource("/workspaces/{id}/pause").post(pause))
        .service(web::resource("/workspaces/{id}/resume").post(resume));
}

/// (offline after, idle after) in milliseconds.
fn thresholds(s: &Settings) -> (i64, i64) {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    (ms(s.offline_after), ms(s.idle_after))
}

/// A workspace's status and whether it is idle, as of `now`. Both are
/// derived from stored facts at read time, so they are never stale and
/// reading them never writes.
pub fn status_of(w: &WorkspaceRef, now: i64, s: &Settings) -> (&'static str, bool) {
    let (offline_after, idle_after) = thresholds(s);
    let status = match w.last_heartbeat_at {
        _ if w.paused => "paused",
        None => "awaiting_agent",
        Some(hb) if now - hb > offline_after => "offline",
        Some(_) => "online",
    };
    let idle = status == "online" && w.active_tasks == 0 && w.idle_since.is_some_and(|t| now - t >= idle_after);
    (status, idle)
}

/// The first moment after `now` at which the workspace would read
/// differently by the clock alone: going offline, or idle.
fn changes_at(w: &WorkspaceRef, now: i64, s: &Settings) -> Option<i64> {
    let (offline_after, idle_after) = thresholds(s);
    let (status, idle) = status_of(w, now, s);
    if status != "online" {
        return None;
    }
    let hb = w.last_heartbeat_at?;
    let offline = hb.saturating_add(offline_after).saturating_add(1);
    let idles = match w.idle_since {
        Some(t) if !idle && w.active_tasks == 0 => t.saturating_add(idle_after),
        _ => i64::MAX,
    };
    Some(offline.min(idles))
}

/// The workspace object, serialised straight from the row: a list of
/// thousands is written without building a JSON tree first.
#[derive(serde::Serialize)]
pub struct WorkspaceView<'a> {
    id: &'a str,
    name: &'a str,
    role: Option<&'a str>,
    tier: i64,
    runtime: &'a str,
    status: &'static str,
    parent_id: Option<&'a str>,
    created_at: Time,
    updated_at: Time,
    last_heartbeat_at: Option<Time>,
    active_tasks: i64,
    current_task: Option<&'a str>,
    idle: bool,
    idle_since: Option<Time>,
}

impl<'a> WorkspaceView<'a> {
    pub fn of(w: &WorkspaceRef<'a>, now: i64, s: &Settings) -> Self {
        let (status, idle) = status_of(w, now, s);
        WorkspaceView {
            id: w.id,
            name: w.name,
            role: w.role,
            tier: w.tier,
            runtime: w.runtime,
            status,
            parent_id: w.parent_id,
            created_at: Time(w.created_at),
            updated_at: Time(w.updated_at),
            last_heartbeat_at: w.last_heartbeat_at.map(Time),
            active_tasks: w.active_tasks,
            current_task: w.current_task,
            idle,
            idle_since: if status == "online" {
                w.idle_since.map(Time)
            } else {
                None
            },
        }
    }
}

pub fn workspace_json(w: &WorkspaceRow, now: i64, s: &Settings) -> Value {
    serde_json::to_value(WorkspaceView::of(&w.as_ref(), now, s)).unwrap_or(Value::Null)
}

/// A workspace id from the path; anything but a UUID is a 400.
pub fn workspace_id(raw: &str) -> ApiResult<String> {
    if is_uuid(raw) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_id",
            "invalid workspace id",
        ))
    }
}

fn check_tier(tier: i64) -> ApiResult<i64> {
    crate::model::check_tier(tier).map_err(ApiError::invalid)
}

fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    check_name(field, value, max).map_err(ApiError::invalid)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateWorkspace {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

const MAX_PAGE: i64 = 1000;

/// Without `limit`, every workspace (the guide's plain array). With it, a
/// page; the next one is named by `X-Next-Cursor` and a `Link` header.
async fn list_workspaces(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let (_, bindings) = who.org_role(Role::ReadOnly)?;
    let roots = (!bindings.is_empty()).then(|| bindings.to_vec());
    if q.limit.is_some_and(|l| !(1..=MAX_PAGE).contains(&l)) {
        return Err(ApiError::invalid(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let after = match &q.cursor {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::invalid("cursor: not a cursor this server gave out"))?,
    };
    let limit = q.limit.unwrap_or(i64::MAX);
    let key = ListKey { roots, after, limit };
    let generation = state.db.generation();
    let page = match state.lists.get(&key, generation, state.now()) {
        Some(page) => page,
        None => {
            let (page, valid_until) = read_list(&state, key.clone()).await?;
            // Kept only if nothing was committed meanwhile.
            if state.db.generation() == generation {
                state.lists.put(key, generation, valid_until, page.clone());
            }
            page
        }
    };
    let Page { body, count, last } = page;
    let mut res = HttpResponse::Ok();
    if let (Some(limit), Some(cursor)) = (q.limit, last) {
        if count == limit {
            res.insert_header(("X-Next-Cursor", cursor.to_string()));
            res.insert_header((
                "Link",
                format!("</workspaces?limit={limit}&cursor={cursor}>; rel=\"next\""),
            ));
        }
    }
    Ok(res.content_type("application/json").body(body))
}
/// Reads a page of the list as JSON, written on the blocking pool straight
/// from SQLite's buffers into one pre-sized body; and until when it holds
/// by the clock (its first workspace to go offline or idle).
async fn read_list(state: &web::Data<AppState>, key: ListKey) -> ApiResult<(Page, i64)> {
    let st = state.clone();
    state
        .read(move |conn| {
            let now = st.now();
            // About 360 bytes a workspace; an unlimited list grows as needed.
            let mut out = Vec::with_capacity(usize::try_from(key.limit.min(180)).unwrap_or(180) * 360 + 2);
            out.push(b'[');
            let (mut count, mut last) = (0i64, None);
            // Never kept long, whatever the rows say.
            let mut valid_until = now.saturating_add(60_000);
            ws::each_in_page(conn, key.roots.as_deref(), key.after, key.limit, |cursor, w| {
                if count > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &WorkspaceView::of(&w, now, &st.settings))
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                if let Some(at) = changes_at(&w, now, &st.settings) {
                    valid_until = valid_until.min(at);
                }
                (count, last) = (count + 1, Some(cursor));
                Ok(())
            })?;
            out.push(b']');
            let page = Page {
                body: out.into(),
                count,
                last,
            };
            Ok((page, valid_until))
        })
        .await
}

async fn create_workspace(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<CreateWorkspace>,
) -> ApiResult<HttpResponse> {
    let (_, bindings) = who.org_role(Role::WorkspaceWrite)?;
    let b = body.into_inner();
    check_text("name", &b.name, MAX_WORKSPACE_NAME)?;
    if let Some(r) = &b.role {
        check_text("role", r, MAX_WORKSPACE_ROLE)?;
    }
    if let Some(r) = &b.runtime {
        check_text("runtime", r, MAX_RUNTIME)?;
    }
    if let Some(m) = &b.model {
        check_text("model", m, MAX_MODEL)?;
    }
    if let Some(t) = b.tier {
        check_tier(t)?;
    }
    let (template, model, asked_tier, asked_runtime) = (b.template, b.model, b.tier, b.runtime);
    if let Some(p) = &b.parent_id {
        workspace_id(p).map_err(|_| ApiError::invalid("parent_id must be a workspace id"))?;
    } else if !bindings.is_empty() {
        return Err(ApiError::forbidden(
            "a key bound to workspaces cannot create root workspaces; give a parent_id",
        ));
    }
    if b.secrets.len() > MAX_CREATE_SECRETS {
        return Err(ApiError::invalid(format!(
            "secrets: at most {MAX_CREATE_SECRETS} at once"
        )));
    }
    for (k, v) in &b.secrets {
        check_secret(k, v).map_err(|e| ApiError::invalid(format!("secrets: {}", e.message)))?;
    }
    let (initial_secrets, ring) = (b.secrets, state.keyring.clone());
    let (name, role, parent_id) = (b.name, b.role, b.parent_id);
    let (row, token) = state
        .write(who, move |ctx, who| {
            if let Some(p) = &parent_id {
                who.check_workspace(ctx, p, Need::Write)?;
            }
            let tpl = match &template {
                Some(t) => Some(
                    crate::db::catalog::get_workspace_template(ctx, t)?
                        .ok_or_else(|| ApiError::invalid(format!("template: no workspace template named {t:?}")))?,
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
            store_secrets(ctx, &ring, who, &row.id, &initial_secrets)?;
            Ok((row, plaintext))
        })
        .await?;
    let mut body = workspace_json(&row, state.now(), &state.settings);
    body["auth_token"] = json!(token);
    body["warning"] = json!("copy this workspace token now; it will not be shown again");
    Ok(HttpResponse::Created().json(body))
}
async fn get_workspace(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let row = state
        .read(move |conn| who.workspace(conn, &id, Need::ReadOrAgent))
        .await?;
    Ok(HttpResponse::Ok().json(workspace_json(&row, state.now(), &state.settings)))
}

/// Reads an optional nullable string field of a PATCH body.
fn nullable_text(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<Option<String>>> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(ApiError::invalid(format!("{field} must be a string or null"))),
    }
}

fn parse_patch(body: &Value) -> ApiResult<WorkspacePatch> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("the body must be a JSON object"))?;
    const FIELDS: [&str; 5] = ["name", "role", "tier", "runtime", "parent_id"];
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown field {unknown:?}; patchable: {}",
            FIELDS.join(", ")
        )));
    }
    let mut patch = WorkspacePatch {
        role: nullable_text(obj, "role")?,
        ..Default::default()
    };
    for (field, max) in [("name", MAX_WORKSPACE_NAME), ("runtime", MAX_RUNTIME)] {
        match nullable_text(obj, field)? {
            None => {}
            Some(None) => return Err(ApiError::invalid(format!("{field} cannot be null"))),
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
        check_text("role", r, MAX_WORKSPACE_ROLE)?;
    }
    if let Some(t) = obj.get("tier") {
        patch.tier = Some(check_tier(
            t.as_i64().ok_or_else(|| ApiError::invalid("tier must be an integer"))?,
        )?);
    }
    patch.parent_id = nullable_text(obj, "parent_id")?;
    if let Some(Some(p)) = &patch.parent_id {
        workspace_id(p).map_err(|_| ApiError::invalid("parent_id must be a workspace id or null"))?;
    }
    Ok(patch)
}

async fn patch_workspace(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    who.org_role(Role::WorkspaceWrite)?;
    let patch = parse_patch(&body)?;
    let changed: Vec<String> = body
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let row = state
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, &id, Need::Write)?;
            match &patch.parent_id {
                Some(Some(p)) => who.check_workspace(ctx, p, Need::Write)?,
                Some(None) if !who.org_role(Role::WorkspaceWrite)?.1.is_empty() => {
                    return Err(ApiError::forbidden("a key bound to workspaces cannot make a root workspace").into());
                }
                _ => {}
            }
            if changed.is_empty() {
                return ws::get(ctx, &id)?.ok_or_else(|| ApiError::not_found("workspace").into());
            }
            let (before, after) = ws::update(ctx, &id, patch)?;
            let pick = |w: &WorkspaceRow| {
                let all = json!({"name": w.name, "role": w.role, "tier": w.tier, "runtime": w.runtime, "parent_id": w.parent_id});
                Value::Object(changed.iter().filter_map(|f| Some((f.clone(), all.get(f)?.clone()))).collect())
            };
            let detail = json!({ "fields": changed, "before": pick(&before), "after": pick(&after) });
            audit::append(ctx, &who.actor(), "workspace.update", Some(&id), detail)?;
            Ok(after)
        })
        .await?;
    Ok(HttpResponse::Ok().json(workspace_json(&row, state.now(), &state.settings)))
}
#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    confirm: bool,
}

async fn delete_workspace(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    query: web::Query<DeleteQuery>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let confirm = query.confirm;
    let removed = state
        .write(who, move |ctx, who| {
            let row = who.workspace(ctx, &id, Need::Write)?;
            let (children, total) = ws::children(ctx, &id, MAX_LISTED_CHILDREN)?;
            if total > 0 && !confirm {
                let list: Vec<Value> = children
                    .iter()
                    .map(|(id, name)| json!({"id": id, "name": name}))
                    .collect();
                return Err(ApiError::conflict(
                    "confirmation_required",
                    "this workspace has sub-workspaces; delete with ?confirm=true to remove them all",
                )
                .with("children_count", json!(total))
                .with("children", json!(list))
                .into());
            }
            remove_subtree(ctx, &who.actor(), &row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "removed", "cascade_deleted": removed - 1 })))
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
) -> StoreResult<(WorkspaceRow, String)> {
    let row = ws::insert(ctx, new)?;
    let expires_at = cap_expiry(ctx, who, None)?;
    let actor = who.actor();
    let (tok, token) = tokens::insert(ctx, &row.id, &actor.name, expires_at)?;
    if let Some(config) = config {
        crate::db::catalog::put_config(ctx, &row.id, source, config)?;
    }
    let mut detail = json!({
        "name": row.name, "parent_id": row.parent_id, "tier": row.tier, "runtime": row.runtime,
        "token_id": tok.id, "token_prefix": tok.prefix, "source": source,
    });
    if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    audit::append(ctx, &actor, "workspace.create", Some(&row.id), detail)?;
    Ok((row, token))
}

/// Marks a workspace and its descendants removed and revokes every one of
/// their tokens in the same transaction. Returns how many were removed.
pub fn remove_subtree(ctx: &mut WriteCtx, actor: &audit::Actor, root: &WorkspaceRow) -> StoreResult<usize> {
    let revoked = tokens::revoke_subtree(ctx, &root.id)?;
    // Nothing secret outlives its workspace at rest.
    secrets::delete_subtree(ctx, &root.id)?;
    channels::delete_subtree(ctx, &root.id)?;
    let ids = ws::mark_subtree_deleted(ctx, &root.id)?;
    let detail = json!({
        "name": root.name,
        "cascade_deleted": ids.len() - 1,
        "removed": ids.iter().take(MAX_LISTED_CHILDREN as usize).collect::<Vec<_>>(),
        "tokens_revoked": revoked,
    });
    audit::append(ctx, actor, "workspace.delete", Some(&root.id), detail)?;
    Ok(ids.len())
}
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Heartbeat {
    #[serde(default)]
    active_tasks: i64,
    current_task: Option<String>,
}

/// Heartbeats are telemetry from the agent, not admin changes, so they
/// update the workspace without an audit entry (one every few seconds per
/// workspace would drown the trail).
async fn heartbeat(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: OptionalJson<Heartbeat>,
) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let hb = body.0.unwrap_or(Heartbeat {
        active_tasks: 0,
        current_task: None,
    });
    if !(0..=1_000_000).contains(&hb.active_tasks) {
        return Err(ApiError::invalid("active_tasks must be between 0 and 1000000"));
    }
    let task = hb.current_task.filter(|t| !t.is_empty());
    if let Some(t) = &task {
        check_text("current_task", t, MAX_TASK)?;
    }
    let (offline_after, _) = thresholds(&state.settings);
    let row = state
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, &id, Need::Agent)?;
            let offline_before = ctx.now.saturating_sub(offline_after);
            ws::heartbeat(ctx, &id, hb.active_tasks, task.as_deref(), offline_before)
        })
        .await?;
    Ok(HttpResponse::Ok().json(workspace_json(&row, state.now(), &state.settings)))
}

async fn set_paused(state: web::Data<AppState>, who: Principal, raw: &str, paused: bool) -> ApiResult<HttpResponse> {
    let id = workspace_id(raw)?;
    let row = state
        .write(who, move |ctx, who| {
            who.check_workspace(ctx, &id, Need::Write)?;
            let (row, changed) = ws::set_paused(ctx, &id, paused)?.ok_or_else(|| ApiError::not_found("workspace"))?;
            if changed {
                let action = if paused { "workspace.pause" } else { "workspace.resume" };
                audit::append(ctx, &who.actor(), action, Some(&id), json!({}))?;
            }
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(workspace_json(&row, state.now(), &state.settings)))
}
async fn pause(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    set_paused(state, who, &path, true).await
}

async fn resume(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    set_paused(state, who, &path, false).await
}

/// What a template, bundle or org import gave the workspace: prompts,
/// files, schedules, model, plugins. The agent reads its own; org keys
/// read it too (it holds no secrets: those live in secrets and channels).
async fn get_config(state: web::Data<AppState>, who: Principal, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = workspace_id(&path)?;
    let (source, config) = state
        .read(move |conn| {
            who.workspace(conn, &id, Need::ReadOrAgent)?;
            Ok(crate::db::catalog::get_config(conn, &id)?.unwrap_or_else(|| ("api".into(), json!({}))))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "source": source, "config": config })))
}

/// The request bodies of these routes, for the OpenAPI document.
pub(crate) fn schemas(out: &mut crate::openapi::Schemas) {
    crate::openapi::add::<CreateWorkspace>(out);
    crate::openapi::add::<Heartbeat>(out);
}
