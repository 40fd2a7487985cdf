//! Creating a workspace from the bodies upstream's clients send (the
//! canvas, the MCP server, the CLI, the docs' remote-agent tutorial).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_text, create_in, view, CreatedWorkspace};
use crate::domain::authz::{self, Need};
use crate::domain::ids::WorkspaceId;
use crate::domain::role::Role;
use crate::domain::secrets::Scope;
use crate::domain::text::check_prose;
use crate::domain::workspace::{
    check_tier, DEFAULT_RUNTIME, DEFAULT_TIER, MAX_CREATE_SECRETS, MAX_MODEL, MAX_NAME, MAX_ROLE, MAX_RUNTIME, MAX_URL,
};
use crate::domain::{Error, Result};
use crate::service::secrets::store as store_secrets;
use crate::service::ws_tokens::workspace_id;
use crate::service::{App, Principal};
use crate::store::catalog;
use crate::store::workspaces::{Layout, NewWorkspace, Settings};

use super::view::Connection;

/// Where the canvas puts a new workspace.
#[derive(Deserialize, Clone, Copy, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CanvasPosition {
    x: f64,
    y: f64,
}

/// The body upstream's clients send (the canvas, the MCP server, the CLI);
/// fields that mean nothing here are accepted and ignored (see the API
/// reference).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
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
    /// Its agent runs elsewhere and calls home (also `runtime: "external"`).
    #[serde(default)]
    external: bool,
    /// Where an external agent listens.
    url: Option<String>,
    canvas: Option<CanvasPosition>,
    /// Kept and shown; this server does not enforce it.
    budget_limit: Option<f64>,
    /// Kept and shown (at least 1).
    max_concurrent_tasks: Option<i64>,
    /// Upstream mounts a host directory into the workspace's container; this
    /// server runs no containers: accepted, ignored.
    #[allow(dead_code)]
    workspace_dir: Option<String>,
    /// `none`, `read_only` or `read_write`: as `workspace_dir`.
    workspace_access: Option<String>,
    /// Upstream's agent memory; this server keeps none: accepted, ignored.
    #[schema(value_type = Option<Vec<Object>>)]
    #[allow(dead_code)]
    initial_memories: Option<Vec<Value>>,
}

pub(super) fn check_number(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v.abs() <= 1e12 {
        Ok(v)
    } else {
        Err(Error::invalid(format!("{field} must be a finite number")))
    }
}

pub(super) fn check_budget(v: f64) -> Result<f64> {
    match check_number("budget_limit", v)? {
        b if b < 0.0 => Err(Error::invalid("budget_limit must not be negative")),
        b => Ok(b),
    }
}

/// At least 1 (upstream reads 0 and below as 1).
pub(super) fn check_concurrency(v: i64) -> Result<i64> {
    if v > 1_000_000 {
        return Err(Error::invalid("max_concurrent_tasks must be at most 1000000"));
    }
    Ok(v.max(1))
}

pub(super) fn check_access(v: &str) -> Result<()> {
    match v {
        "none" | "read_only" | "read_write" => Ok(()),
        _ => Err(Error::invalid("workspace_access must be none, read_only or read_write")),
    }
}

/// Creates a workspace; an external one's answer carries the connection
/// block upstream's canvas shows (`platform_url`: `--public-url`, else the
/// address the request was sent to).
pub async fn create(app: &App, who: Principal, b: CreateWorkspace, seen_at: Option<&str>) -> Result<CreatedWorkspace> {
    who.org_role(Role::WorkspaceWrite)?;
    check_text("name", &b.name, MAX_NAME)?;
    if let Some(r) = &b.role {
        check_prose("role", r, MAX_ROLE).map_err(Error::invalid)?;
    }
    if let Some(r) = &b.runtime {
        check_text("runtime", r, MAX_RUNTIME)?;
    }
    if let Some(m) = &b.model {
        check_text("model", m, MAX_MODEL)?;
    }
    if let Some(t) = b.tier {
        check_tier(t).map_err(Error::invalid)?;
    }
    let parent_id = match &b.parent_id {
        Some(p) => Some(workspace_id(p).map_err(|_| Error::invalid("parent_id must be a workspace id"))?),
        None => {
            authz::may_create_root(&who.grant())?;
            None
        }
    };
    if let Some(u) = &b.url {
        check_text("url", u, MAX_URL)?;
    }
    if let Some(a) = &b.workspace_access {
        check_access(a)?;
    }
    let layout = Layout {
        x: b.canvas.map(|c| check_number("canvas.x", c.x)).transpose()?,
        y: b.canvas.map(|c| check_number("canvas.y", c.y)).transpose()?,
        collapsed: false,
    };
    let settings = Settings {
        budget_limit: b.budget_limit.map(check_budget).transpose()?,
        max_concurrent_tasks: b.max_concurrent_tasks.map(check_concurrency).transpose()?,
        external: b.external || b.runtime.as_deref() == Some("external"),
    };
    if b.secrets.len() > MAX_CREATE_SECRETS {
        return Err(Error::invalid(format!("secrets: at most {MAX_CREATE_SECRETS} at once")));
    }
    for (k, v) in &b.secrets {
        crate::domain::secrets::check(k, v).map_err(|e| Error::invalid(format!("secrets: {}", e.message)))?;
    }
    let ring = app.keyring.clone();
    let CreateWorkspace {
        name,
        role,
        tier: asked_tier,
        runtime: asked_runtime,
        model,
        template,
        secrets: initial_secrets,
        url,
        ..
    } = b;
    let (row, token) = app
        .write(who, move |ctx, who| {
            if let Some(p) = parent_id {
                who.check_workspace(ctx, p, Need::Write)?;
            }
            let tpl = match &template {
                Some(t) => Some(
                    catalog::get_workspace_template(ctx, t)?
                        .ok_or_else(|| Error::invalid(format!("template: no workspace template named {t:?}")))?,
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
                layout,
                settings,
                url,
            };
            let config = (tpl.is_some() || model.is_some()).then(|| {
                let files = tpl.as_ref().map(|t| t.files.clone()).unwrap_or_default();
                json!({"model": model, "template": template, "files": files})
            });
            let source = template.as_ref().map_or("api".to_string(), |t| format!("template:{t}"));
            let (row, plaintext) = create_in(ctx, who, new, &source, config.as_ref(), json!({}))?;
            store_secrets(ctx, &ring, who, Scope::Workspace(row.id), &initial_secrets)?;
            Ok((row, plaintext))
        })
        .await?;
    let connection = row.settings.external.then(|| connection(app, seen_at, row.id, &token));
    Ok(CreatedWorkspace {
        workspace: view(app, row),
        auth_token: token,
        warning: "copy this workspace token now; it will not be shown again",
        connection,
    })
}

/// How an agent elsewhere connects: upstream's block, with snippets that
/// work against this server (every call carries the workspace token).
fn connection(app: &App, seen_at: Option<&str>, id: WorkspaceId, token: &str) -> Connection {
    let base = match (&app.settings.public_url, seen_at) {
        (Some(url), _) => url.clone(),
        (None, Some(b)) => b.to_string(),
        (None, None) => format!("http://{}", app.settings.listen),
    };
    let fill = |t: &str| {
        t.replace("{{PLATFORM_URL}}", &base)
            .replace("{{WORKSPACE_ID}}", &id.to_string())
    };
    Connection {
        workspace_id: id.to_string(),
        registry_endpoint: format!("{base}/registry/register"),
        heartbeat_endpoint: format!("{base}/registry/heartbeat"),
        state_endpoint: format!("{base}/workspaces/{id}/state"),
        curl_register_template: fill(CURL_REGISTER),
        python_snippet: fill(PYTHON_SNIPPET),
        auth_token: token.to_string(),
        platform_url: base,
    }
}

/// The placeholder lines are upstream's, byte for byte: its canvas fills
/// the token in by replacing them.
const CURL_REGISTER: &str = r#"# Replace AGENT_URL with YOUR agent's public HTTPS endpoint, then run:
export WORKSPACE_AUTH_TOKEN="<paste from create response>"
export AGENT_URL="https://your-agent.example.com"

curl -fsS -X POST "{{PLATFORM_URL}}/registry/register" \
  -H "Authorization: Bearer $WORKSPACE_AUTH_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "id": "{{WORKSPACE_ID}}",
    "url": "'"$AGENT_URL"'",
    "agent_card": {
      "name": "My External Agent",
      "description": "",
      "version": "0.1.0"
    }
  }'

# Then, every 30 s or so, so the workspace reads as online:
curl -fsS -X POST "{{PLATFORM_URL}}/registry/heartbeat" \
  -H "Authorization: Bearer $WORKSPACE_AUTH_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{"workspace_id": "{{WORKSPACE_ID}}", "active_tasks": 0}'
"#;

const PYTHON_SNIPPET: &str = r#"# pip install 'git+https://github.com/Molecule-AI/molecule-sdk-python.git@main'
# Every call carries the workspace token; the heartbeats bring the
# workspace online, and the loop ends when it is paused.
from molecule_agent import RemoteAgentClient

WORKSPACE_ID  = "{{WORKSPACE_ID}}"
PLATFORM_URL  = "{{PLATFORM_URL}}"
AUTH_TOKEN    = "<paste from create response>"

client = RemoteAgentClient(workspace_id=WORKSPACE_ID, platform_url=PLATFORM_URL)
client.save_token(AUTH_TOKEN)
print("secrets:", sorted(client.pull_secrets()))
client.run_heartbeat_loop()
"#;
