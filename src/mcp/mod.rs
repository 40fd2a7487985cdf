//! The MCP server: one tool set, served over MCP's streamable HTTP
//! transport at `POST /mcp` (http/handlers/mcp.rs) and, through it, to
//! `molecule-tenant mcp` on a desktop agent's stdio (cli/mcp.rs). Built on
//! the official Rust SDK (rmcp). Every tool runs a use case of `service/`
//! as the calling key, exactly as the REST route does (same checks, same
//! audit entry, marked `via: mcp`); the tools a key is shown are the ones
//! its role and bindings let it call.

pub mod limit;
pub mod spec;
mod tools;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};

use crate::domain::ids::WorkspaceId;
use crate::domain::role::Role;
use crate::domain::{Code, Error};
use crate::service::{audit, App, Principal};
use limit::CallLimiter;
use spec::{Args, Call, Effect, ToolSpec};

pub const VIA: &str = "mcp";

/// Where the caller reached this server (`scheme://host`), for a tool whose
/// answer names it: an external workspace's connection block.
#[derive(Clone)]
pub struct SeenAt(pub String);

const INSTRUCTIONS: &str = "Tools for one Molecule AI organization: its workspaces (status, idleness, \
    tokens, secrets by name, channels, plugins, approvals), its org API keys, org templates and imports, \
    and its audit trail. You act as the API key you were given: the tools listed are the ones it may call. \
    Deleting a workspace needs confirm: true; an org import is a dry run until dry_run is false.";

/// The server's state for one MCP request: the app, and the per-key limit.
#[derive(Clone)]
pub struct McpServer {
    app: Arc<App>,
    calls: Arc<CallLimiter>,
}

impl McpServer {
    pub fn new(app: Arc<App>, calls: Arc<CallLimiter>) -> McpServer {
        McpServer { app, calls }
    }
}

/// The caller the HTTP handler authenticated, carried in the request's
/// extensions (rmcp hands them to every handler).
fn caller(ctx: &RequestContext<RoleServer>) -> Result<Principal, McpError> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>().cloned())
        .ok_or_else(|| McpError::internal_error("no authenticated caller", None))
}

fn seen_at(ctx: &RequestContext<RoleServer>) -> Option<String> {
    let parts = ctx.extensions.get::<http::request::Parts>()?;
    parts.extensions.get::<SeenAt>().map(|s| s.0.clone())
}

/// Whether this caller is shown (and may call) a tool: the gate of its
/// REST route, and for read-only keys, read tools only.
fn permitted(spec: &ToolSpec, who: &Principal) -> Result<(), Error> {
    spec.allowed(who)?;
    if spec.effect != Effect::Read && who.org_role(Role::WorkspaceWrite).is_err() {
        return Err(Error::forbidden("a read-only key may call read tools only"));
    }
    Ok(())
}

/// A refusal or failure as the model reads it: a tool error carrying the
/// REST route's error body, never a protocol error or a 500.
fn tool_error(e: Error) -> CallToolResult {
    if e.code == Code::Internal {
        tracing::error!(error = %e, "an MCP tool call failed");
    }
    let mut body = json!({ "error": e.message, "code": e.code.as_str() });
    if let Some(extra) = e.extra {
        if let Some(o) = body.as_object_mut() {
            o.extend(*extra);
        }
    }
    if let Some(secs) = e.retry_after {
        body["retry_after_seconds"] = json!(secs);
    }
    CallToolResult::structured_error(body)
}

fn success(v: Value) -> CallToolResult {
    match v {
        Value::Object(_) => CallToolResult::structured(v),
        other => CallToolResult::success(vec![rmcp::model::ContentBlock::text(other.to_string())]),
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("molecule-tenant", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let who = caller(&ctx)?;
        let shown = tools::all().filter(|t| permitted(t, &who).is_ok()).map(ToolSpec::tool);
        Ok(ListToolsResult::with_all_items(shown.collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let who = caller(&ctx)?;
        // Counted before anything else, refusals included: a key cannot
        // make the server do (or record) more than its limit.
        if let Some(secs) = self.calls.take(&who.cred.actor_name(), self.app.now()) {
            let mut e = Error::new(
                Code::RateLimited,
                "too many tool calls with this key this minute; retry later",
            );
            e.retry_after = Some(secs);
            return Ok(tool_error(e).into());
        }
        let Some(spec) = tools::find(&request.name) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        };
        // Recorded only when it is a workspace id: the audit trail never
        // holds what a caller typed into an id (a pasted token, say).
        let target = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("workspace_id"))
            .and_then(Value::as_str)
            .and_then(WorkspaceId::parse)
            .map(|id| id.to_string());
        let result = match permitted(spec, &who) {
            Err(e) => Err(e),
            Ok(()) => {
                let call = Call {
                    app: self.app.clone(),
                    who: who.clone(),
                    args: Args::new(request.arguments),
                    seen_at: seen_at(&ctx),
                };
                (spec.run)(call).await
            }
        };
        let outcome = result.as_ref().map(|_| ());
        if let Err(e) = audit::record_tool_call(&self.app, who, spec.name, target, outcome).await {
            // A write the call made is committed with its own entry; telling
            // the agent it failed would only have it do it twice.
            tracing::warn!(error = %e, tool = spec.name, "could not record an MCP tool call");
        }
        Ok(match result {
            Ok(v) => success(v),
            Err(e) => tool_error(e),
        }
        .into())
    }
}
