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

mod op;
mod ops;

use op::Auth::{Agent, Key, KeyOrAgent};
use op::Body::{AnyObject, Json, JsonOrYaml, OptionalJson, Template};
use op::{Auth, Body, Op, Out};
use ops::OPS;

pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// Adds a request type's schema (and those it refers to) to the document.
pub fn add<T: ToSchema>(out: &mut Schemas) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

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
        Auth::KeyBearer => json!([{ "orgKey": [] }]),
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
        Out::JsonRpc => json!({ "application/json": { "schema": reference("JsonRpcMessage") } }),
        Out::ObjectOrTarball => json!({
            "application/json": { "schema": { "type": "object" } },
            "application/gzip": { "schema": { "type": "string", "contentEncoding": "binary" } },
        }),
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
        Template(t) => Some(json!({ "required": true, "content": {
            "application/json": { "schema": reference(t) },
            "application/yaml": { "schema": { "type": "string" } },
            "application/gzip": { "schema": { "type": "string", "contentEncoding": "binary" } },
            "application/x-tar": { "schema": { "type": "string", "contentEncoding": "binary" } },
        } })),
    };
    if let Some(b) = body {
        op["requestBody"] = b;
    }
    if matches!(o.out, Out::JsonRpc) {
        op["responses"]["202"] = json!({ "description": "a notification, accepted: no body" });
        op["responses"]["default"]["content"]["application/json"]["schema"] =
            json!({ "oneOf": [reference("Error"), reference("JsonRpcMessage")] });
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
    request_schemas(&mut schemas);
    let mut components = Map::new();
    for (name, schema) in schemas {
        components.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    components.insert(
        "JsonRpcMessage".into(),
        json!({
            "type": "object",
            "description": "A JSON-RPC 2.0 message (MCP): a result or an error",
            "required": ["jsonrpc"],
            "properties": { "jsonrpc": { "const": "2.0" }, "id": {}, "result": {}, "error": { "type": "object" } },
        }),
    );
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

/// Every request body's schema: the very types the services deserialise.
fn request_schemas(out: &mut Schemas) {
    use crate::service::{
        agents, approvals, catalog, channels, import, keys, secrets, sessions, templates, workspaces, ws_tokens,
    };
    add::<approvals::RequestApproval>(out);
    add::<approvals::Decision>(out);
    add::<crate::domain::bundle::Skill>(out);
    add::<crate::domain::bundle::Bundle>(out);
    add::<catalog::ImportTemplate>(out);
    add::<catalog::RegisterPlugin>(out);
    add::<catalog::PutAllowlist>(out);
    add::<catalog::Install>(out);
    add::<channels::CreateChannel>(out);
    add::<channels::PatchChannel>(out);
    add::<keys::MintKeyRequest>(out);
    add::<keys::RotateRequest>(out);
    add::<keys::PatchKey>(out);
    add::<keys::LeakReport>(out);
    add::<crate::service::policy::PutPolicy>(out);
    add::<templates::RegisterJson>(out);
    add::<import::ImportJson>(out);
    add::<import::Mode>(out);
    add::<secrets::PutSecret>(out);
    add::<sessions::LinkBody>(out);
    add::<workspaces::CreateWorkspace>(out);
    add::<agents::HeartbeatBody>(out);
    add::<agents::Register>(out);
    add::<agents::UpdateCard>(out);
    add::<workspaces::CanvasPosition>(out);
    add::<ws_tokens::MintTokenRequest>(out);
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
            if let super::Body::Json(t)
            | super::Body::OptionalJson(t)
            | super::Body::JsonOrYaml(t)
            | super::Body::Template(t) = op.body
            {
                assert!(doc["components"]["schemas"][t].is_object(), "{t}");
            }
        }
    }
}
