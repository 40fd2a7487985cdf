//! `molecule-tenant mcp`: MCP over stdio for a desktop agent. Each message
//! read from stdin is relayed to the server's `POST /mcp` with the org key
//! from `MOLECULE_ORG_TOKEN` as the bearer, and each answer written back on
//! stdout, one per line: the tools run on the server, authenticated,
//! authorized and audited like any request. Nothing but protocol messages
//! goes to stdout; diagnostics go to stderr.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::McpArgs;

/// A JSON-RPC error for request `id` (from the relay, not the server).
fn rpc_error(id: &Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

struct Relay {
    agent: ureq::Agent,
    endpoint: String,
    auth: String,
    /// The version `initialize` settled on, sent on every later request as
    /// the streamable HTTP transport asks.
    version: Option<String>,
}

impl Relay {
    /// Sends one message; the answer to write back, if it has one.
    fn send(&mut self, line: &str) -> Option<Value> {
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Some(rpc_error(&Value::Null, -32700, format!("parse error: {e}"))),
        };
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let is_request = msg.get("method").is_some() && !id.is_null();
        let mut req = self
            .agent
            .post(&self.endpoint)
            .header("Authorization", &self.auth)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json");
        if let Some(v) = &self.version {
            req = req.header("MCP-Protocol-Version", v);
        }
        let mut res = match req.send(line) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("molecule-tenant mcp: cannot reach {}: {e}", self.endpoint);
                return is_request.then(|| rpc_error(&id, -32000, format!("cannot reach the server: {e}")));
            }
        };
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        if status == 202 || text.trim().is_empty() {
            return None;
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("jsonrpc").is_some() || v.is_array() => {
                if msg.get("method").and_then(Value::as_str) == Some("initialize") {
                    self.version = v["result"]["protocolVersion"].as_str().map(str::to_string);
                }
                Some(v)
            }
            // The server refused the HTTP request itself (a revoked key: 401).
            parsed => {
                let why = parsed
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string))
                    .unwrap_or(text);
                eprintln!("molecule-tenant mcp: the server answered {status}: {why}");
                is_request.then(|| rpc_error(&id, -32001, format!("the server answered {status}: {why}")))
            }
        }
    }
}

pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    let Ok(token) = std::env::var("MOLECULE_ORG_TOKEN") else {
        bail!("MOLECULE_ORG_TOKEN is not set: give the MCP host an org API key in its environment");
    };
    let base = args.url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--url (MOLECULE_URL): {base:?} must start with http:// or https://");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut relay = Relay {
        agent,
        endpoint: format!("{base}/mcp"),
        auth: format!("Bearer {}", token.trim()),
        version: None,
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(answer) = relay.send(&line) {
            writeln!(stdout, "{answer}").context("writing stdout")?;
            stdout.flush().context("writing stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
