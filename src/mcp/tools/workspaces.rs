//! Workspaces and their tokens.

use serde_json::{json, Value};

use super::{by_workspace, out, run};
use crate::domain::authz::{Gate, Need};
use crate::domain::role::Role;
use crate::domain::{Code, Error};
use crate::mcp::spec::{params, params_and, Effect, Param, ToolSpec};
use crate::service::workspaces::{self as ws, CreateWorkspace};
use crate::service::ws_tokens::{self, MintTokenRequest};

const WORKSPACE_ID: Param = ("workspace_id", "The workspace's id");
const TOKEN_ID: Param = ("token_id", "The workspace token's id (see list_workspace_tokens)");

/// What PATCH /workspaces/:id takes (checked field by field by the route).
fn update_schema() -> Value {
    let n = |d: &str| json!({"type": ["number", "null"], "description": d});
    let mut s = params(&[WORKSPACE_ID]);
    if let Some(p) = s["properties"].as_object_mut() {
        p.extend([
            ("name".into(), json!({"type": "string"})),
            ("role".into(), json!({"type": ["string", "null"]})),
            ("tier".into(), json!({"type": "integer", "minimum": 1, "maximum": 4})),
            ("runtime".into(), json!({"type": "string"})),
            (
                "parent_id".into(),
                json!({"type": ["string", "null"], "description": "Move under this workspace; null for a root"}),
            ),
            ("x".into(), n("Canvas position")),
            ("y".into(), n("Canvas position")),
            ("collapsed".into(), json!({"type": "boolean"})),
            ("budget_limit".into(), n("Monthly budget; null for none")),
            ("max_concurrent_tasks".into(), json!({"type": "integer", "minimum": 1})),
        ]);
    }
    s
}

fn list_schema() -> Value {
    json!({"type": "object", "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000,
            "description": "A page of at most this many (default: every workspace, as one list)"},
        "cursor": {"type": "string", "description": "The next_cursor of the page before"}
    }})
}

fn delete_schema() -> Value {
    let mut s = params(&[WORKSPACE_ID]);
    s["properties"]["confirm"] = json!({
        "type": "boolean",
        "description": "Must be true: deleting removes the workspace and every workspace below it, and revokes their tokens"
    });
    s
}

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "list_workspaces",
        description: "List the workspaces this key reaches, with their status (online, offline, idle, paused, \
                      awaiting_agent, …), current task and hierarchy",
        gate: Gate::Org(Role::ReadOnly),
        effect: Effect::Read,
        schema: list_schema,
        run: run!(|c| {
            let paged = c.args.has("limit");
            let listed = ws::list(&c.app, &c.who, c.args.body()?).await?;
            let page: Value = serde_json::from_slice(&listed.body).map_err(Error::internal)?;
            // Paged (with `limit`): the page and where the next one starts.
            Ok(if paged {
                json!({ "workspaces": page, "next_cursor": listed.next.map(|(_, c)| c.to_string()) })
            } else {
                page
            })
        }),
    },
    ToolSpec {
        name: "get_workspace",
        description: "A workspace: status, idleness, current task, agent card, settings",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| ws::get(app, who, id)),
    },
    ToolSpec {
        name: "create_workspace",
        description: "Create a workspace; its agent's token is in the answer, once",
        gate: Gate::Org(Role::WorkspaceWrite),
        effect: Effect::Write,
        schema: || params_and::<CreateWorkspace>(&[]),
        run: run!(|c| out(ws::create(&c.app, c.who, c.args.body()?, c.seen_at.as_deref()).await?)),
    },
    ToolSpec {
        name: "update_workspace",
        description: "Change a workspace's name, role, tier, runtime, parent, canvas position or limits",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: update_schema,
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("workspace_id")?;
            out(ws::patch(&c.app, c.who, &id, a.rest()).await?)
        }),
    },
    ToolSpec {
        name: "delete_workspace",
        description: "Delete a workspace and every workspace below it, revoking their tokens. Needs confirm: \
                      true; without it, says what would go",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Destructive,
        schema: delete_schema,
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("workspace_id")?;
            let confirm = a.flag("confirm")?;
            a.done()?;
            if confirm {
                return out(ws::delete(&c.app, c.who, &id, true).await?);
            }
            let w = out(ws::get(&c.app, c.who, &id).await?)?;
            Err(Error::new(
                Code::ConfirmationRequired,
                format!(
                    "this deletes {:?} and every workspace below it, and revokes their tokens; \
                     call delete_workspace again with confirm: true",
                    w["name"].as_str().unwrap_or_default()
                ),
            ))
        }),
    },
    ToolSpec {
        name: "pause_workspace",
        description: "Pause a workspace: its agent is told to stop taking work",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| ws::set_paused(app, who, id, true)),
    },
    ToolSpec {
        name: "resume_workspace",
        description: "Resume a paused workspace",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| ws::set_paused(app, who, id, false)),
    },
    ToolSpec {
        name: "get_config",
        description: "A workspace's runtime config: model, template, plugins, prompts and files",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| ws::config(app, who, id)),
    },
    ToolSpec {
        name: "list_workspace_tokens",
        description: "List a workspace's live agent tokens (by display prefix)",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| ws_tokens::list(app, who, id)),
    },
    ToolSpec {
        name: "mint_workspace_token",
        description: "Mint a token for a workspace's agent; it is in the answer, once",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params_and::<MintTokenRequest>(&[WORKSPACE_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("workspace_id")?;
            out(ws_tokens::mint_for(&c.app, c.who, &id, a.optional_body()?).await?)
        }),
    },
    ToolSpec {
        name: "revoke_workspace_token",
        description: "Revoke a workspace's agent token: its very next request fails",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Destructive,
        schema: || params(&[WORKSPACE_ID, TOKEN_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let (id, token) = (a.text("workspace_id")?, a.text("token_id")?);
            a.done()?;
            let revoked = ws_tokens::revoke(&c.app, c.who, &id, &token).await?;
            out(json!({ "status": "revoked", "id": revoked }))
        }),
    },
];
