//! Every operation the API answers (the pages under /ui/ are not API).

use super::op::{op, Auth, Body, Op};
use Auth::{Agent, Key, KeyOrAgent};
use Body::{AnyObject, Json, JsonOrYaml, OptionalJson, Template};

/// Every operation the API answers (the pages under /ui/ are not API).
pub const OPS: &[Op] = &[
    op(
        "get",
        "/health",
        "Liveness, the binary and schema versions, and whether changes made on the box are followed",
        Auth::None,
        200,
    ),
    op("get", "/openapi.json", "This document", Auth::None, 200),
    op("get", "/metrics", "Prometheus metrics", Key, 200).text("text/plain"),
    op("get", "/org/whoami", "The calling credential", KeyOrAgent, 200),
    op("get", "/org/tokens", "List live org API keys", Key, 200),
    op(
        "post",
        "/org/tokens",
        "Mint an org API key (the token is shown once)",
        Key,
        201,
    )
    .body(Json("MintKeyRequest")),
    op("delete", "/org/tokens/{id}", "Revoke an org API key", Key, 200),
    op(
        "patch",
        "/org/tokens/{id}",
        "Rename, describe, restrict, disable or enable an org API key",
        Key,
        200,
    )
    .body(Json("PatchKey")),
    op(
        "get",
        "/org/tokens/{id}/activity",
        "An org key's recent requests",
        Key,
        200,
    ),
    op(
        "post",
        "/org/tokens/leaked",
        "Report leaked tokens: the live ones are revoked (no credential needed)",
        Auth::None,
        202,
    )
    .body(Json("LeakReport")),
    op("get", "/org/policy", "The org's key policy", Key, 200),
    op("put", "/org/policy", "Set the org's key policy", Key, 200).body(Json("PutPolicy")),
    op("post", "/org/tokens/{id}/rotate", "Rotate an org API key", Key, 201).body(OptionalJson("RotateRequest")),
    op("get", "/org/audit", "The audit trail, newest first", Key, 200)
        .query(&[("limit", "integer"), ("before", "integer")]),
    op(
        "get",
        "/org/audit/verify",
        "Whether the audit trail is intact",
        Key,
        200,
    ),
    op(
        "get",
        "/login",
        "The page behind a one-time sign-in link (spends nothing)",
        Auth::None,
        200,
    )
    .text("text/html")
    .query(&[("code", "string")]),
    op(
        "post",
        "/login",
        "Spend a sign-in link's code: opens a browser session",
        Auth::None,
        200,
    )
    .body(Json("LinkBody")),
    op(
        "post",
        "/org/sessions",
        "Open a browser session with an admin key",
        Key,
        201,
    ),
    op("get", "/org/sessions", "List open browser sessions", Key, 200),
    op(
        "delete",
        "/org/sessions/current",
        "Log out the calling browser session",
        Key,
        200,
    ),
    op("delete", "/org/sessions/{id}", "End a browser session", Key, 200),
    op("get", "/workspaces", "List workspaces (all, or a page)", Key, 200)
        .array()
        .query(&[("limit", "integer"), ("cursor", "string")]),
    op(
        "post",
        "/workspaces",
        "Create a workspace and its first token",
        Key,
        201,
    )
    .body(Json("CreateWorkspace")),
    op("get", "/workspaces/{id}", "A workspace", KeyOrAgent, 200),
    op("patch", "/workspaces/{id}", "Change a workspace", Key, 200).body(AnyObject),
    op(
        "delete",
        "/workspaces/{id}",
        "Delete a workspace (and, confirmed, its tree)",
        Key,
        200,
    )
    .query(&[("confirm", "boolean")]),
    op(
        "get",
        "/workspaces/{id}/config",
        "A workspace's config (templates, prompts, model)",
        KeyOrAgent,
        200,
    ),
    op("post", "/workspaces/{id}/heartbeat", "The agent reports in", Agent, 200).body(OptionalJson("HeartbeatBody")),
    op(
        "get",
        "/workspaces/{id}/state",
        "The agent polls its workspace's state",
        Agent,
        200,
    ),
    op(
        "post",
        "/registry/register",
        "The agent registers (its URL and agent card)",
        Agent,
        200,
    )
    .body(Json("Register")),
    op(
        "post",
        "/registry/heartbeat",
        "The agent reports in (upstream's route)",
        Agent,
        200,
    )
    .body(Json("HeartbeatBody")),
    op(
        "post",
        "/registry/update-card",
        "The agent updates its agent card",
        Agent,
        200,
    )
    .body(Json("UpdateCard")),
    op("post", "/workspaces/{id}/pause", "Pause a workspace", Key, 200),
    op("post", "/workspaces/{id}/resume", "Resume a workspace", Key, 200),
    op("get", "/workspaces/{id}/tokens", "A workspace's live tokens", Key, 200),
    op("post", "/workspaces/{id}/tokens", "Mint a workspace token", Key, 201).body(OptionalJson("MintTokenRequest")),
    op(
        "delete",
        "/workspaces/{id}/tokens/{token_id}",
        "Revoke a workspace token",
        KeyOrAgent,
        200,
    ),
    op(
        "get",
        "/workspaces/{id}/tokens/{token_id}/activity",
        "A workspace token's recent requests",
        Key,
        200,
    ),
    op(
        "get",
        "/workspaces/{id}/secrets",
        "A workspace's secret names (never values)",
        Key,
        200,
    )
    .array(),
    op("put", "/workspaces/{id}/secrets", "Set a workspace secret", Key, 200).body(Json("PutSecret")),
    op("post", "/workspaces/{id}/secrets", "Set a workspace secret", Key, 200).body(Json("PutSecret")),
    op(
        "delete",
        "/workspaces/{id}/secrets/{key}",
        "Delete a workspace secret",
        Key,
        200,
    ),
    op(
        "get",
        "/workspaces/{id}/secrets/values",
        "The agent reads its secret values",
        Agent,
        200,
    ),
    op(
        "get",
        "/settings/secrets",
        "Global secret names (never values)",
        Key,
        200,
    )
    .array(),
    op("put", "/settings/secrets", "Set a global secret", Key, 200).body(Json("PutSecret")),
    op("post", "/settings/secrets", "Set a global secret", Key, 200).body(Json("PutSecret")),
    op("delete", "/settings/secrets/{key}", "Delete a global secret", Key, 200),
    op(
        "post",
        "/workspaces/{id}/approvals",
        "The agent asks for an approval",
        Agent,
        201,
    )
    .body(Json("RequestApproval")),
    op(
        "get",
        "/workspaces/{id}/approvals",
        "A workspace's approvals",
        KeyOrAgent,
        200,
    )
    .array(),
    op(
        "get",
        "/workspaces/{id}/approvals/{approval_id}",
        "An approval",
        KeyOrAgent,
        200,
    ),
    op(
        "post",
        "/workspaces/{id}/approvals/{approval_id}/decide",
        "Approve or deny",
        Key,
        200,
    )
    .body(Json("Decision")),
    op(
        "get",
        "/approvals/pending",
        "Approvals waiting for a decision",
        Key,
        200,
    )
    .array(),
    op(
        "get",
        "/channels/adapters",
        "Channel adapters and their config fields",
        Key,
        200,
    )
    .array(),
    op(
        "get",
        "/workspaces/{id}/channels",
        "A workspace's channels",
        KeyOrAgent,
        200,
    )
    .array(),
    op("post", "/workspaces/{id}/channels", "Add a channel", Key, 201).body(Json("CreateChannel")),
    op(
        "patch",
        "/workspaces/{id}/channels/{channel_id}",
        "Change a channel",
        Key,
        200,
    )
    .body(Json("PatchChannel")),
    op(
        "delete",
        "/workspaces/{id}/channels/{channel_id}",
        "Remove a channel",
        Key,
        200,
    ),
    op("get", "/org/templates", "Registered org templates", Key, 200).array(),
    op("post", "/org/templates", "Register an org template", Key, 201)
        .body(Template("RegisterJson"))
        .query(&[("replace", "boolean"), ("name", "string")]),
    op("get", "/org/templates/{dir}", "An org template and its files", Key, 200),
    op("delete", "/org/templates/{dir}", "Remove an org template", Key, 200),
    op(
        "post",
        "/org/import",
        "Import an org template (merge or replace)",
        Key,
        200,
    )
    .body(JsonOrYaml("ImportJson")),
    op(
        "post",
        "/mcp",
        "MCP (streamable HTTP): list and call the tools",
        Auth::KeyBearer,
        200,
    )
    .body(AnyObject)
    .json_rpc(),
    op("get", "/templates", "Workspace templates", Key, 200).array(),
    op("post", "/templates/import", "Register a workspace template", Key, 201).body(Json("ImportTemplate")),
    op("post", "/plugins", "Register a plugin", Key, 201).body(Json("RegisterPlugin")),
    op("get", "/plugins", "Registered plugins", Key, 200)
        .array()
        .query(&[("runtime", "string")]),
    op(
        "get",
        "/plugins/sources",
        "Where plugins can be installed from",
        Key,
        200,
    ),
    op("get", "/org/plugins/allowlist", "The org's plugin allowlist", Key, 200),
    op(
        "put",
        "/org/plugins/allowlist",
        "Replace the plugin allowlist",
        Key,
        200,
    )
    .body(Json("PutAllowlist")),
    op(
        "get",
        "/workspaces/{id}/plugins",
        "A workspace's installed plugins",
        KeyOrAgent,
        200,
    )
    .array(),
    op("post", "/workspaces/{id}/plugins", "Install a plugin", Key, 200).body(Json("Install")),
    op(
        "delete",
        "/workspaces/{id}/plugins/{name}",
        "Uninstall a plugin",
        Key,
        200,
    ),
    op(
        "get",
        "/workspaces/{id}/plugins/{name}/download",
        "The agent downloads a plugin's files",
        Agent,
        200,
    )
    .tarball(),
    op(
        "post",
        "/bundles/import",
        "Import a bundle as a workspace tree",
        Key,
        201,
    )
    .body(Json("Bundle")),
    op(
        "get",
        "/bundles/export/{id}",
        "Export a workspace tree as a bundle",
        Key,
        200,
    ),
];
