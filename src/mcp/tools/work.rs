//! Approvals and plugins.

use serde_json::{json, Value};

use super::{by_workspace, out, run};
use crate::domain::authz::{Gate, Need};
use crate::domain::role::Role;
use crate::mcp::spec::{params, params_and, Effect, Param, ToolSpec};
use crate::service::approvals::{self, Decision};
use crate::service::catalog::{self, Install};

const WORKSPACE_ID: Param = ("workspace_id", "The workspace's id");
const APPROVAL_ID: Param = ("approval_id", "The approval's id");
const PLUGIN: Param = ("name", "The plugin's name");

fn registry_schema() -> Value {
    json!({"type": "object", "properties": {
        "runtime": {"type": "string", "description": "Only plugins for this runtime"}
    }})
}

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "list_pending_approvals",
        description: "List the approvals waiting for a decision, across the workspaces this key reaches",
        gate: Gate::Org(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(approvals::list_pending(&c.app, c.who).await?)
        }),
    },
    ToolSpec {
        name: "get_workspace_approvals",
        description: "List a workspace's approval requests, decided or not",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| approvals::list_for_workspace(app, who, id)),
    },
    ToolSpec {
        name: "decide_approval",
        description: "Approve or deny a pending approval request (decision: approved or denied); recorded as \
                      this key's decision",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params_and::<Decision>(&[WORKSPACE_ID, APPROVAL_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let (id, approval) = (a.text("workspace_id")?, a.text("approval_id")?);
            out(approvals::decide(&c.app, c.who, &id, &approval, a.body::<Decision>()?).await?)
        }),
    },
    ToolSpec {
        name: "list_plugin_registry",
        description: "List the plugins registered with this org",
        gate: Gate::Org(Role::ReadOnly),
        effect: Effect::Read,
        schema: registry_schema,
        run: run!(|c| {
            let mut a = c.args;
            let runtime = a.optional_text("runtime")?;
            a.done()?;
            out(catalog::list_plugins(&c.app, c.who, runtime).await?)
        }),
    },
    ToolSpec {
        name: "list_plugin_sources",
        description: "Where plugins can be installed from",
        gate: Gate::Org(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(catalog::plugin_sources(&c.who)?)
        }),
    },
    ToolSpec {
        name: "list_installed_plugins",
        description: "List the plugins installed in a workspace",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| catalog::list_installed(app, who, id)),
    },
    ToolSpec {
        name: "install_plugin",
        description: "Install a registered, allow-listed plugin into a workspace (source: local://<name>)",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params_and::<Install>(&[WORKSPACE_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("workspace_id")?;
            out(catalog::install(&c.app, c.who, &id, a.body()?).await?)
        }),
    },
    ToolSpec {
        name: "uninstall_plugin",
        description: "Remove a plugin from a workspace",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Destructive,
        schema: || params(&[WORKSPACE_ID, PLUGIN]),
        run: run!(|c| {
            let mut a = c.args;
            let (id, name) = (a.text("workspace_id")?, a.text("name")?);
            a.done()?;
            out(catalog::uninstall(&c.app, c.who, &id, name).await?)
        }),
    },
];
