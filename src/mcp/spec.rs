//! What a tool is: its name and description, the gate a caller must pass
//! to see it (the same rules as its REST route), what it does to the org
//! (read, write, destroy), its arguments' schema, and the use case it runs.
//! Arguments are the REST route's path parameters (named as upstream's MCP
//! server names them) plus its body, deserialised into the very type the
//! route deserialises, so both doors validate alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use crate::domain::authz::{self, Gate};
use crate::domain::{Code, Error, Result};
use crate::service::{App, Principal};

/// What a tool does to the org, for MCP's hints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Read,
    /// Creates or changes; undoable by another call.
    Write,
    /// Deletes, revokes or replaces.
    Destructive,
}

/// One call: the app, the caller (marked as coming through MCP) and the
/// arguments.
pub struct Call {
    pub app: Arc<App>,
    pub who: Principal,
    pub args: Args,
    /// Where the caller reached this server (`scheme://host`).
    pub seen_at: Option<String>,
}

pub type Outcome = Pin<Box<dyn Future<Output = Result<Value>> + Send>>;

pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub gate: Gate,
    pub effect: Effect,
    /// The arguments' JSON Schema (an object).
    pub schema: fn() -> Value,
    pub run: fn(Call) -> Outcome,
}

impl ToolSpec {
    /// Whether this caller sees the tool: the gate of its REST route.
    pub fn allowed(&self, who: &Principal) -> Result<()> {
        authz::pass(&who.grant(), self.gate, None)
    }

    pub fn tool(&self) -> Tool {
        let schema = match (self.schema)() {
            Value::Object(o) => o,
            _ => JsonObject::new(),
        };
        let hints = ToolAnnotations::new()
            .read_only(self.effect == Effect::Read)
            .destructive(self.effect == Effect::Destructive)
            .idempotent(self.effect == Effect::Read)
            .open_world(false);
        Tool::new(self.name, self.description, Arc::new(schema)).annotate(hints)
    }
}

/// A tool's arguments, taken apart: named parameters first, the rest is
/// the body.
pub struct Args(Map<String, Value>);

impl Args {
    pub fn new(args: Option<JsonObject>) -> Args {
        Args(args.unwrap_or_default())
    }

    /// A required string parameter (an id, a name).
    pub fn text(&mut self, name: &str) -> Result<String> {
        match self.0.remove(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(Error::invalid(format!("{name} must be a string"))),
            None => Err(Error::invalid(format!("{name} is required"))),
        }
    }

    /// An optional string parameter.
    pub fn optional_text(&mut self, name: &str) -> Result<Option<String>> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::invalid(format!("{name} must be a string"))),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Takes an argument as it is.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name)
    }

    /// Refuses arguments the tool does not take.
    pub fn done(self) -> Result<()> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(k) => Err(Error::invalid(format!("unknown argument {k:?}"))),
        }
    }

    /// An optional flag, `false` when absent.
    pub fn flag(&mut self, name: &str) -> Result<bool> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(Error::invalid(format!("{name} must be true or false"))),
        }
    }

    /// Sets an argument the caller left out.
    pub fn default(&mut self, name: &str, value: Value) {
        self.0.entry(name.to_string()).or_insert(value);
    }

    /// The remaining arguments as the route's body.
    pub fn body<T: DeserializeOwned>(self) -> Result<T> {
        // The REST route's code for a body it cannot read.
        serde_json::from_value(Value::Object(self.0)).map_err(|e| Error::new(Code::InvalidJson, e.to_string()))
    }

    /// The body, or `None` when no arguments remain (an optional body).
    pub fn optional_body<T: DeserializeOwned>(self) -> Result<Option<T>> {
        if self.0.is_empty() {
            return Ok(None);
        }
        self.body().map(Some)
    }

    /// The remaining arguments, as they are.
    pub fn rest(self) -> Value {
        Value::Object(self.0)
    }
}

/// An id or name parameter: (name, description).
pub type Param = (&'static str, &'static str);

/// The schema of arguments that are only parameters.
pub fn params(params: &[Param]) -> Value {
    with_params(params, json!({"type": "object", "properties": {}}))
}

/// The parameters, then the body's fields (`T`, as the REST route reads
/// it).
pub fn params_and<T: ToSchema>(params: &[Param]) -> Value {
    with_params(params, body_schema::<T>())
}

fn with_params(params: &[Param], mut schema: Value) -> Value {
    let mut required: Vec<Value> = params.iter().map(|(n, _)| json!(n)).collect();
    if let Some(r) = schema.get("required").and_then(Value::as_array) {
        required.extend(r.iter().cloned());
    }
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, description) in params.iter().rev() {
            props.insert((*name).into(), json!({"type": "string", "description": description}));
        }
    }
    schema["type"] = json!("object");
    schema["required"] = Value::Array(required);
    schema
}

/// `T`'s JSON Schema from the same derive the OpenAPI document uses, with
/// every `$ref` to another type written out in place (an MCP input schema
/// stands alone).
pub fn body_schema<T: ToSchema>() -> Value {
    let mut named: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut named);
    let named: Map<String, Value> = named
        .into_iter()
        .map(|(n, s)| (n, serde_json::to_value(s).unwrap_or(Value::Null)))
        .collect();
    let mut root = serde_json::to_value(T::schema()).unwrap_or(Value::Null);
    inline(&mut root, &named, 0);
    root
}

fn inline(v: &mut Value, named: &Map<String, Value>, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(name) = v
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        if let Some(target) = named.get(name) {
            *v = target.clone();
        }
    }
    match v {
        Value::Object(o) => o.values_mut().for_each(|x| inline(x, named, depth + 1)),
        Value::Array(a) => a.iter_mut().for_each(|x| inline(x, named, depth + 1)),
        _ => {}
    }
}
