//! Secrets (names only: no tool returns a value) and channels (credentials
//! masked, as for any org key).

use serde_json::{json, Value};

use super::{by_workspace, out, run};
use crate::domain::authz::{Gate, Need};
use crate::domain::role::Role;
use crate::domain::{Error, Result};
use crate::mcp::spec::{params, params_and, Effect, Param, ToolSpec};
use crate::service::channels::{self, CreateChannel, PatchChannel};
use crate::service::secrets::{self, PutSecret};

const WORKSPACE_ID: Param = ("workspace_id", "The workspace's id");
const CHANNEL_ID: Param = ("channel_id", "The channel's id (see list_channels)");
const KEY: Param = ("key", "The secret's name, e.g. OPENAI_API_KEY");

/// Upstream's MCP server sends a channel's `config` as JSON text and
/// `allowed_users` comma-separated; both are taken as well as the JSON
/// object and array the REST route takes.
fn channel_body(mut body: Value) -> Result<Value> {
    if let Some(text) = body.get("config").and_then(Value::as_str) {
        let parsed: Value = serde_json::from_str(text).map_err(|e| Error::invalid(format!("config: {e}")))?;
        body["config"] = parsed;
    }
    if let Some(users) = body.get("allowed_users").and_then(Value::as_str) {
        let list: Vec<&str> = users.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        body["allowed_users"] = json!(list);
    }
    Ok(body)
}

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "list_secrets",
        description: "List a workspace's secret names (values are never shown)",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| secrets::list_for_workspace(app, who, id)),
    },
    ToolSpec {
        name: "set_secret",
        description: "Set a workspace secret (an API key or environment variable for its agent); sealed at rest, \
                      never shown again",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params_and::<PutSecret>(&[WORKSPACE_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("workspace_id")?;
            let key = secrets::put_for_workspace(&c.app, c.who, &id, a.body()?).await?;
            out(json!({ "status": "saved", "key": key }))
        }),
    },
    ToolSpec {
        name: "delete_secret",
        description: "Delete a workspace secret",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Destructive,
        schema: || params(&[WORKSPACE_ID, KEY]),
        run: run!(|c| {
            let mut a = c.args;
            let (id, key) = (a.text("workspace_id")?, a.text("key")?);
            a.done()?;
            let key = secrets::delete_for_workspace(&c.app, c.who, &id, key).await?;
            out(json!({ "status": "deleted", "key": key }))
        }),
    },
    ToolSpec {
        name: "list_global_secrets",
        description: "List the global secret names, which every workspace gets (values are never shown)",
        gate: Gate::OrgWide(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(secrets::list_global(&c.app, c.who).await?)
        }),
    },
    ToolSpec {
        name: "set_global_secret",
        description: "Set a global secret, which every workspace gets (a workspace's own wins)",
        gate: Gate::OrgWide(Role::Admin),
        effect: Effect::Write,
        schema: || params_and::<PutSecret>(&[]),
        run: run!(|c| {
            let key = secrets::put_global(&c.app, c.who, c.args.body()?).await?;
            out(json!({ "status": "saved", "key": key, "scope": "global" }))
        }),
    },
    ToolSpec {
        name: "delete_global_secret",
        description: "Delete a global secret",
        gate: Gate::OrgWide(Role::Admin),
        effect: Effect::Destructive,
        schema: || params(&[KEY]),
        run: run!(|c| {
            let mut a = c.args;
            let key = a.text("key")?;
            a.done()?;
            let key = secrets::delete_global(&c.app, c.who, key).await?;
            out(json!({ "status": "deleted", "key": key, "scope": "global" }))
        }),
    },
    ToolSpec {
        name: "list_channel_adapters",
        description: "The kinds of channel a workspace can connect (Slack, Telegram, …) and their fields",
        gate: Gate::Org(Role::ReadOnly),
        effect: Effect::Read,
        schema: || params(&[]),
        run: run!(|c| {
            c.args.done()?;
            out(channels::list_adapters(&c.who))
        }),
    },
    ToolSpec {
        name: "list_channels",
        description: "List a workspace's channels (credentials masked)",
        gate: Gate::Workspace(Need::Read),
        effect: Effect::Read,
        schema: || params(&[WORKSPACE_ID]),
        run: by_workspace!(|app, who, id| channels::list(app, who, id)),
    },
    ToolSpec {
        name: "add_channel",
        description: "Connect a channel to a workspace; its credentials are sealed and shown masked",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params_and::<CreateChannel>(&[WORKSPACE_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let id = a.text("workspace_id")?;
            let body: CreateChannel =
                serde_json::from_value(channel_body(a.rest())?).map_err(|e| Error::invalid(e.to_string()))?;
            out(channels::create(&c.app, c.who, &id, body).await?)
        }),
    },
    ToolSpec {
        name: "update_channel",
        description: "Change a channel's config, enabled state or allowed users",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Write,
        schema: || params_and::<PatchChannel>(&[WORKSPACE_ID, CHANNEL_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let (id, channel) = (a.text("workspace_id")?, a.text("channel_id")?);
            let body: PatchChannel =
                serde_json::from_value(channel_body(a.rest())?).map_err(|e| Error::invalid(e.to_string()))?;
            out(channels::patch(&c.app, c.who, &id, &channel, body).await?)
        }),
    },
    ToolSpec {
        name: "remove_channel",
        description: "Disconnect a channel from a workspace",
        gate: Gate::Workspace(Need::Write),
        effect: Effect::Destructive,
        schema: || params(&[WORKSPACE_ID, CHANNEL_ID]),
        run: run!(|c| {
            let mut a = c.args;
            let (id, channel) = (a.text("workspace_id")?, a.text("channel_id")?);
            a.done()?;
            out(channels::delete(&c.app, c.who, &id, &channel).await?)
        }),
    },
];
