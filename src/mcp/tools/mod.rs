//! Every tool, by area. Names and argument names follow the upstream MCP
//! server's where a tool maps to one of its (`list_workspaces`,
//! `create_workspace`, `workspace_id`, `decide_approval`, …), so prompts
//! written for it keep working; the rest are named in the same style.

mod org;
mod secrets;
mod work;
mod workspaces;

use serde::Serialize;
use serde_json::Value;

use super::spec::ToolSpec;
use crate::domain::{Error, Result};

/// Every tool, in the order `tools/list` shows them.
pub fn all() -> impl Iterator<Item = &'static ToolSpec> {
    [org::TOOLS, workspaces::TOOLS, secrets::TOOLS, work::TOOLS]
        .into_iter()
        .flatten()
}

pub fn find(name: &str) -> Option<&'static ToolSpec> {
    all().find(|t| t.name == name)
}

/// A use case's answer as the tool's result: the REST route's JSON.
fn out<T: Serialize>(x: T) -> Result<Value> {
    serde_json::to_value(x).map_err(Error::internal)
}

/// Declares a tool's use case: `run!(|call| async body)`.
macro_rules! run {
    (|$c:ident| $body:expr) => {{
        fn run($c: $crate::mcp::spec::Call) -> $crate::mcp::spec::Outcome {
            Box::pin(async move { $body })
        }
        run
    }};
}
pub(crate) use run;

/// A tool whose only argument is `workspace_id`:
/// `by_workspace!(|app, who, id| use_case(app, who, id))`.
macro_rules! by_workspace {
    (|$app:ident, $who:ident, $id:ident| $body:expr) => {
        $crate::mcp::tools::run!(|c| {
            let mut a = c.args;
            let $id = a.text("workspace_id")?;
            a.done()?;
            let ($app, $who, $id) = (&c.app, c.who, $id.as_str());
            $crate::mcp::tools::out($body.await?)
        })
    };
}
pub(crate) use by_workspace;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn every_tool_has_a_unique_name_and_an_object_schema() {
        let mut seen = BTreeSet::new();
        for t in super::all() {
            assert!(seen.insert(t.name), "{} twice", t.name);
            let tool = t.tool();
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&serde_json::json!("object")),
                "{}",
                t.name
            );
            assert!(!t.description.is_empty());
        }
        assert!(seen.len() >= 40, "{}", seen.len());
    }
}
