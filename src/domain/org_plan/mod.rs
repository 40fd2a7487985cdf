//! The org template schema (the upstream `org.yaml`), its environment
//! requirements, and the validated plan an import follows. Pure: no I/O.
//!
//! Unknown keys anywhere are ignored. Every error names the node it is
//! about, as `workspaces[0].children[2] ("dev")`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::domain::channels::Config;
use crate::domain::org_yaml::{check_relpath, Files};
use crate::domain::text::{check_name, check_prose, PluginName, PLUGIN_NAME_RULE};
use crate::domain::workspace::{
    check_tier, DEFAULT_RUNTIME, DEFAULT_TIER, MAX_MODEL, MAX_NAME as MAX_WORKSPACE_NAME,
    MAX_ROLE as MAX_WORKSPACE_ROLE, MAX_RUNTIME,
};

mod env;
use env::env_requirements;
pub use env::{missing_env, resolve_vars, EnvReq};

pub const MAX_WORKSPACES: usize = 1000;
/// Bytes of files and prompts all planned workspaces may carry in all
/// (`files_dir` content is copied into each workspace that names it).
pub const MAX_PLAN_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Defaults {
    pub runtime: Option<String>,
    pub tier: Option<i64>,
    pub model: Option<String>,
    pub plugins: Vec<String>,
    pub initial_prompt: Option<String>,
    pub initial_prompt_file: Option<String>,
    pub idle_prompt: Option<String>,
    pub idle_prompt_file: Option<String>,
    pub idle_interval_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrgDoc {
    name: String,
    description: Option<String>,
    required_env: Vec<Json>,
    recommended_env: Vec<Json>,
    defaults: Defaults,
    workspaces: Vec<Json>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    pub name: String,
    pub cron_expr: String,
    pub timezone: Option<String>,
    pub prompt: Option<String>,
    pub prompt_file: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub config: Config,
    pub allowed_users: Vec<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Canvas {
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeDoc {
    name: String,
    role: Option<String>,
    runtime: Option<String>,
    tier: Option<i64>,
    model: Option<String>,
    template: Option<String>,
    files_dir: Option<String>,
    system_prompt: Option<String>,
    system_prompt_file: Option<String>,
    plugins: Vec<String>,
    initial_prompt: Option<String>,
    initial_prompt_file: Option<String>,
    idle_prompt: Option<String>,
    idle_prompt_file: Option<String>,
    idle_interval_seconds: Option<i64>,
    schedules: Vec<Schedule>,
    channels: Vec<ChannelSpec>,
    external: bool,
    url: Option<String>,
    canvas: Option<Canvas>,
    required_env: Vec<Json>,
    recommended_env: Vec<Json>,
    children: Vec<Json>,
}

/// One workspace to create.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedNode {
    pub path: String,
    #[serde(skip)]
    pub parent: Option<usize>,
    pub name: String,
    pub role: Option<String>,
    pub tier: i64,
    pub runtime: String,
    pub model: Option<String>,
    pub template: Option<String>,
    pub plugins: Vec<String>,
    /// Prompt files and `files_dir` content, stored with the workspace.
    #[serde(skip)]
    pub files: Files,
    pub idle_interval_seconds: Option<i64>,
    pub schedules: Vec<Schedule>,
    #[serde(skip)]
    pub channels: Vec<ChannelSpec>,
    pub external: bool,
    pub url: Option<String>,
    pub canvas: Option<Canvas>,
}

impl PlannedNode {
    pub fn label(&self) -> String {
        format!("{} ({:?})", self.path, self.name)
    }
}

#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub required_env: Vec<EnvReq>,
    pub recommended_env: Vec<EnvReq>,
    /// Depth-first: every parent comes before its children.
    pub nodes: Vec<PlannedNode>,
}

struct Planner<'a> {
    files: Option<&'a Files>,
    defaults: Defaults,
    required: Vec<Json>,
    recommended: Vec<Json>,
    nodes: Vec<PlannedNode>,
    bytes: usize,
}

/// Validates a template document and turns it into a plan. `files` are
/// the template's files (None for an inline JSON template, which cannot
/// refer to files).
pub fn plan(doc: Json, files: Option<&Files>) -> Result<Plan, String> {
    let doc: OrgDoc = serde_json::from_value(doc).map_err(|e| format!("template: {e}"))?;
    check_name("name", &doc.name, MAX_WORKSPACE_NAME).map_err(|e| format!("template {e}"))?;
    if doc.workspaces.is_empty() {
        return Err("template: workspaces must list at least one workspace".into());
    }
    let mut p = Planner {
        files,
        defaults: doc.defaults,
        required: doc.required_env,
        recommended: doc.recommended_env,
        nodes: Vec::new(),
        bytes: 0,
    };
    if let Some(t) = p.defaults.tier {
        check_tier(t).map_err(|e| format!("defaults.{e}"))?;
    }
    for (i, node) in doc.workspaces.into_iter().enumerate() {
        p.node(node, format!("workspaces[{i}]"), None)?;
    }
    let (required_env, recommended_env) = env_requirements(&p.required, &p.recommended);
    Ok(Plan {
        name: doc.name,
        description: doc.description,
        required_env,
        recommended_env,
        nodes: p.nodes,
    })
}

fn check_opt(field: &str, v: &Option<String>, max: usize) -> Result<(), String> {
    match v {
        Some(s) => check_name(field, s, max),
        None => Ok(()),
    }
}

/// The defaults' plugins, plus the node's, minus its `!name` / `-name`
/// opt-outs.
fn resolve_plugins(defaults: &[String], node: &[String]) -> Result<Vec<String>, String> {
    let mut set: BTreeSet<String> = BTreeSet::new();
    for p in defaults {
        set.insert(p.clone());
    }
    for p in node {
        match p.strip_prefix('!').or_else(|| p.strip_prefix('-')) {
            Some(out) => {
                set.remove(out);
            }
            None => {
                set.insert(p.clone());
            }
        }
    }
    match set.iter().find(|p| PluginName::parse(p).is_none()) {
        Some(bad) => Err(format!("plugins: {bad:?} is not a plugin name ({PLUGIN_NAME_RULE})")),
        None => Ok(set.into_iter().collect()),
    }
}

fn cron_ok(expr: &str) -> bool {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().all(|f| {
            f.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '/' | ',' | '-'))
        })
}

impl Planner<'_> {
    /// Reads a prompt: inline text wins, else a file under `base`.
    fn prompt(&self, inline: &Option<String>, file: &Option<String>, base: &str) -> Result<Option<String>, String> {
        if let Some(text) = inline.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(text.clone()));
        }
        let Some(rel) = file.as_ref().filter(|f| !f.is_empty()) else {
            return Ok(None);
        };
        let files = self
            .files
            .ok_or("prompt files need a registered (multi-file) template")?;
        // check_relpath refuses `..`, so a file ref cannot leave `base`.
        let path = check_relpath(&if base.is_empty() {
            rel.clone()
        } else {
            format!("{base}/{rel}")
        })?;
        files
            .get(&path)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("prompt file {path} is not in the template"))
    }

    fn node(&mut self, raw: Json, path: String, parent: Option<usize>) -> Result<(), String> {
        let hint = raw.get("name").and_then(Json::as_str).unwrap_or("").to_string();
        let at = |e: String| format!("{path} ({hint:?}): {e}");
        let doc: NodeDoc = serde_json::from_value(raw).map_err(|e| at(e.to_string()))?;
        if self.nodes.len() >= MAX_WORKSPACES {
            return Err(format!("a template may hold at most {MAX_WORKSPACES} workspaces"));
        }
        let d = self.defaults.clone();
        check_name("name", &doc.name, MAX_WORKSPACE_NAME).map_err(at)?;
        if let Some(role) = &doc.role {
            check_prose("role", role, MAX_WORKSPACE_ROLE).map_err(at)?;
        }
        let runtime = doc
            .runtime
            .clone()
            .or(d.runtime.clone())
            .unwrap_or_else(|| DEFAULT_RUNTIME.into());
        check_name("runtime", &runtime, MAX_RUNTIME).map_err(at)?;
        let model = doc.model.clone().or(d.model.clone());
        check_opt("model", &model, MAX_MODEL).map_err(at)?;
        check_opt("template", &doc.template, 128).map_err(at)?;
        let tier = check_tier(doc.tier.or(d.tier).unwrap_or(DEFAULT_TIER)).map_err(at)?;
        let plugins = resolve_plugins(&d.plugins, &doc.plugins).map_err(at)?;

        let mut files = Files::new();
        let base = match &doc.files_dir {
            Some(dir) => {
                let dir = check_relpath(dir).map_err(at)?;
                let all = self
                    .files
                    .ok_or_else(|| at("files_dir needs a registered (multi-file) template".into()))?;
                let prefix = format!("{dir}/");
                for (p, content) in all.range(prefix.clone()..).take_while(|(p, _)| p.starts_with(&prefix)) {
                    files.insert(format!("files/{}", &p[prefix.len()..]), content.clone());
                }
                dir
            }
            None => String::new(),
        };
        let prompts = [
            (
                "system-prompt.md",
                self.prompt(&doc.system_prompt, &doc.system_prompt_file, &base),
            ),
            (
                "initial-prompt.md",
                match self.prompt(&doc.initial_prompt, &doc.initial_prompt_file, &base) {
                    Ok(None) => self.prompt(&d.initial_prompt, &d.initial_prompt_file, ""),
                    other => other,
                },
            ),
            (
                "idle-prompt.md",
                match self.prompt(&doc.idle_prompt, &doc.idle_prompt_file, &base) {
                    Ok(None) => self.prompt(&d.idle_prompt, &d.idle_prompt_file, ""),
                    other => other,
                },
            ),
        ];
        for (name, text) in prompts {
            if let Some(text) = text.map_err(at)? {
                files.insert(name.to_string(), text);
            }
        }
        let mut schedules = Vec::new();
        for (i, mut s) in doc.schedules.into_iter().enumerate() {
            let sat = |e: String| at(format!("schedules[{i}]: {e}"));
            check_name("name", &s.name, 200).map_err(sat)?;
            if !cron_ok(&s.cron_expr) {
                return Err(sat(format!("cron_expr {:?} must have five fields", s.cron_expr)));
            }
            s.prompt = self.prompt(&s.prompt, &s.prompt_file, &base).map_err(sat)?;
            if s.prompt.is_none() {
                return Err(sat("prompt or prompt_file is required".into()));
            }
            s.prompt_file = None;
            s.timezone = Some(s.timezone.unwrap_or_else(|| "UTC".into()));
            s.enabled = Some(s.enabled.unwrap_or(true));
            schedules.push(s);
        }
        self.bytes += files.values().map(String::len).sum::<usize>()
            + schedules
                .iter()
                .map(|s| s.prompt.as_ref().map_or(0, String::len))
                .sum::<usize>();
        if self.bytes > MAX_PLAN_BYTES {
            return Err(format!(
                "the planned workspaces would carry more than {MAX_PLAN_BYTES} bytes of files and prompts"
            ));
        }
        self.required.extend(doc.required_env);
        self.recommended.extend(doc.recommended_env);
        let index = self.nodes.len();
        self.nodes.push(PlannedNode {
            path: path.clone(),
            parent,
            name: doc.name,
            role: doc.role,
            tier,
            runtime,
            model,
            template: doc.template,
            plugins,
            files,
            idle_interval_seconds: doc.idle_interval_seconds.or(d.idle_interval_seconds),
            schedules,
            channels: doc.channels,
            external: doc.external,
            url: doc.url,
            canvas: if parent.is_none() { doc.canvas } else { None },
        });
        for (i, child) in doc.children.into_iter().enumerate() {
            self.node(child, format!("{path}.children[{i}]"), Some(index))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plugins_union_defaults_and_honour_opt_outs() {
        let got = resolve_plugins(
            &["git".into(), "web".into()],
            &["!web".into(), "search".into(), "-git".into()],
        )
        .unwrap();
        assert_eq!(got, vec!["search".to_string()]);
        assert!(resolve_plugins(&[], &["Bad Name".into()]).is_err());
    }

    #[test]
    fn node_errors_name_the_node() {
        let doc = json!({"name": "o", "workspaces": [{"name": "a", "children": [{"name": "b", "tier": 9}]}]});
        let err = plan(doc, None).unwrap_err();
        assert!(err.starts_with("workspaces[0].children[0] (\"b\"): tier"), "{err}");
        let doc = json!({"name": "o", "workspaces": [{"name": "a", "system_prompt_file": "p.md"}]});
        assert!(plan(doc, None).unwrap_err().contains("registered"));
    }
}
