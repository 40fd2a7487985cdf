//! The OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! Request bodies are described by the very types the handlers deserialise
//! (`utoipa::ToSchema` derived beside them, so `deny_unknown_fields`,
//! optional fields and nesting are as the code has them). The operations
//! are listed below; a test checks the list against the routes the server
//! answers and against docs/api-reference.md.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// Adds a request type's schema (and those it refers to) to the document.
pub fn add<T: ToSchema>(out: &mut Schemas) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

#[derive(Clone, Copy)]
enum Auth {
    /// No credential.
    None,
    /// An org key (or a browser session), of the role the route needs.
    Key,
    /// The workspace's own token.
    Agent,
    /// Either.
    KeyOrAgent,
}

#[derive(Clone, Copy)]
enum Body {
    None,
    /// JSON of the named request type.
    Json(&'static str),
    /// Optional JSON of the named type.
    OptionalJson(&'static str),
    /// A JSON object checked field by field in the handler.
    AnyObject,
    /// JSON of the named type, or the org template as YAML text.
    JsonOrYaml(&'static str),
}

#[derive(Clone, Copy)]
enum Out {
    Object,
    Array,
    Text(&'static str),
}

struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    body: Body,
    status: u16,
    out: Out,
    /// (name, JSON type) of the query parameters.
    query: &'static [(&'static str, &'static str)],
}

const fn op(method: &'static str, path: &'static str, summary: &'static str, auth: Auth, status: u16) -> Op {
    Op {
        method,
        path,
        summary,
        auth,
        body: Body::None,
        status,
        out: Out::Object,
        query: &[],
    }
}

impl Op {
    const fn body(mut self, body: Body) -> Op {
        self.body = body;
        self
    }
    const fn array(mut self) -> Op {
        self.out = Out::Array;
        self
    }
    const fn text(mut self, content_type: &'static str) -> Op {
        self.out = Out::Text(content_type);
        self
    }
    const fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Op {
        self.query = query;
        self
    }
}

use Auth::{Agent, Key, KeyOrAgent};
use Body::{AnyObject, Json, JsonOrYaml, OptionalJson};

/// Every operation the API answers (the pages under /ui/ are not API).
const OPS: &[Op] = &[
    op(
        "get",
        "/health",
        "Liveness, and whether changes made on the box are followed",
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
    op("post", "/org/tokens/{id}/rotate", "Rotate an org API key", Key, 201).body(OptionalJson("RotateRequest")),
    op("get", "/org/audit", "The audit trail, newest first", Key, 200)
        .query(&[("limit", "integer"), ("before", "integer")]),
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
    op("post", "/workspaces/{id}/heartbeat", "The agent reports in", Agent, 200).body(OptionalJson("Heartbeat")),
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
        .body(JsonOrYaml("RegisterJson"))
        .query(&[("replace", "boolean")]),
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
        KeyOrAgent,
        200,
    ),
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

/// `(METHOD, /path/{param})` of every operation, for tests.
pub fn operations() -> Vec<(String, String)> {
    OPS.iter()
        .map(|o| (o.method.to_uppercase(), o.path.to_string()))
        .collect()
}

fn security(auth: Auth) -> Value {
    match auth {
        Auth::None => json!([]),
        Key => json!([{ "orgKey": [] }, { "session": [] }]),
        Agent => json!([{ "workspaceToken": [] }]),
        KeyOrAgent => json!([{ "orgKey": [] }, { "session": [] }, { "workspaceToken": [] }]),
    }
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn operation(o: &Op) -> Value {
    let mut params: Vec<Value> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    params.extend(
        o.query
            .iter()
            .map(|(name, ty)| json!({ "name": name, "in": "query", "required": false, "schema": { "type": ty } })),
    );
    let ok_content = match o.out {
        Out::Object => json!({ "application/json": { "schema": { "type": "object" } } }),
        Out::Array => json!({ "application/json": { "schema": { "type": "array" } } }),
        Out::Text(ct) => json!({ ct: { "schema": { "type": "string" } } }),
    };
    let mut op = json!({
        "summary": o.summary,
        "operationId": format!("{} {}", o.method, o.path),
        "parameters": params,
        "security": security(o.auth),
        "responses": {
            o.status.to_string(): { "description": "success", "content": ok_content },
            "default": {
                "description": "an error: every one has this shape",
                "content": { "application/json": { "schema": reference("Error") } },
            },
        },
    });
    let body = match o.body {
        Body::None => None,
        Json(t) => Some(json!({ "required": true, "content": { "application/json": { "schema": reference(t) } } })),
        OptionalJson(t) => {
            Some(json!({ "required": false, "content": { "application/json": { "schema": reference(t) } } }))
        }
        AnyObject => {
            Some(json!({ "required": true, "content": { "application/json": { "schema": { "type": "object" } } } }))
        }
        JsonOrYaml(t) => Some(json!({ "required": true, "content": {
            "application/json": { "schema": reference(t) },
            "application/yaml": { "schema": { "type": "string" } },
        } })),
    };
    if let Some(b) = body {
        op["requestBody"] = b;
    }
    op
}

fn build() -> Value {
    let mut paths = Map::new();
    for o in OPS {
        let entry = paths.entry(o.path).or_insert_with(|| json!({}));
        entry[o.method] = operation(o);
    }
    let mut schemas = Schemas::new();
    crate::routes::schemas(&mut schemas);
    let mut components = Map::new();
    for (name, schema) in schemas {
        components.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    components.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "code"],
            "properties": { "error": { "type": "string" }, "code": { "type": "string" } },
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "molecule-tenant",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One Molecule AI organization's admin API. docs/api-reference.md is the full reference.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "orgKey": { "type": "http", "scheme": "bearer", "description": "an org API key, mol_org_…" },
                "workspaceToken": { "type": "http", "scheme": "bearer", "description": "a workspace token, mol_ws_…" },
                "session": { "type": "apiKey", "in": "cookie", "name": "molecule_session",
                    "description": "a browser session (writes also need the X-Molecule-UI header)" },
            },
        },
    })
}

/// The document, built once.
pub fn document() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_vec(&build()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_builds_and_names_every_request_type() {
        let doc: serde_json::Value = serde_json::from_slice(super::document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for op in super::OPS {
            if let super::Body::Json(t) | super::Body::OptionalJson(t) | super::Body::JsonOrYaml(t) = op.body {
                assert!(doc["components"]["schemas"][t].is_object(), "{t}");
            }
        }
    }
}
