//! Bundles: a workspace tree as one JSON document (the upstream format,
//! with `sub_workspaces`), how one is checked, and how a workspace's stored
//! files map to and from it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::org_yaml::{check_relpath, Files};
use crate::domain::text::{check_name, check_prose, PluginName, PLUGIN_NAME_RULE};
use crate::domain::workspace::{
    check_tier, DEFAULT_RUNTIME, MAX_DEPTH as MAX_TREE_DEPTH, MAX_NAME as MAX_WORKSPACE_NAME,
    MAX_ROLE as MAX_WORKSPACE_ROLE, MAX_RUNTIME,
};

pub const MAX_NODES: usize = 1000;
/// As deep as workspaces may nest, so an export is never cut short.
pub const MAX_DEPTH: usize = MAX_TREE_DEPTH as usize;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default)]
pub struct Skill {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub files: Files,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default)]
pub struct Bundle {
    pub schema: Option<String>,
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub tier: Option<i64>,
    pub model: Option<String>,
    pub runtime: Option<String>,
    pub system_prompt: Option<String>,
    pub skills: Vec<Skill>,
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Value>,
    pub prompts: Files,
    #[schema(no_recursion)]
    pub sub_workspaces: Vec<Bundle>,
    #[schema(value_type = Option<Object>)]
    pub agent_card: Option<Value>,
    pub author: Option<String>,
    pub version: Option<String>,
}

/// Checks a bundle tree before anything is written; errors name the node.
pub fn check(b: &Bundle, path: &str, depth: usize, count: &mut usize) -> Result<(), String> {
    *count += 1;
    if *count > MAX_NODES || depth >= MAX_DEPTH {
        return Err(format!(
            "a bundle may hold at most {MAX_NODES} workspaces, {MAX_DEPTH} deep"
        ));
    }
    let at = |e: String| format!("{path} ({:?}): {e}", b.name);
    check_name("name", &b.name, MAX_WORKSPACE_NAME).map_err(at)?;
    if let Some(d) = &b.description {
        check_prose("description", d, MAX_WORKSPACE_ROLE).map_err(at)?;
    }
    if let Some(t) = b.tier {
        check_tier(t).map_err(at)?;
    }
    for (field, v) in [("model", &b.model), ("runtime", &b.runtime)] {
        if let Some(v) = v {
            check_name(field, v, MAX_RUNTIME).map_err(at)?;
        }
    }
    for s in &b.skills {
        if PluginName::parse(&s.id).is_none() {
            return Err(at(format!("skill id {:?} must match {PLUGIN_NAME_RULE}", s.id)));
        }
        for p in s.files.keys() {
            check_relpath(p).map_err(|e| at(format!("skill {}: {e}", s.id)))?;
        }
    }
    for p in b.prompts.keys() {
        let p = check_relpath(p).map_err(at)?;
        // Those names belong to skills and the system prompt; a prompt
        // under them would not survive export and import unchanged.
        if p == "system-prompt.md" || p.starts_with("skills/") {
            return Err(at(format!("prompt {p:?}: skills/ and system-prompt.md are reserved")));
        }
    }
    check_name("runtime", &runtime_of(b), MAX_RUNTIME).map_err(at)?;
    for (i, child) in b.sub_workspaces.iter().enumerate() {
        check(child, &format!("{path}.sub_workspaces[{i}]"), depth + 1, count)?;
    }
    Ok(())
}

/// The runtime a bundle asks for: its own field, else a `runtime:` line
/// in its `config.yaml` prompt, else the default.
pub fn runtime_of(b: &Bundle) -> String {
    b.runtime
        .clone()
        .or_else(|| {
            b.prompts.get("config.yaml")?.lines().find_map(|l| {
                let v = l
                    .strip_prefix("runtime:")?
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'');
                (!v.is_empty()).then(|| v.to_string())
            })
        })
        .unwrap_or_else(|| DEFAULT_RUNTIME.into())
}

/// The files a bundle node gives its workspace (system prompt, prompts,
/// skills under `skills/<id>/`), and the skills' metadata.
pub fn files_of(b: &Bundle) -> Result<(Files, Vec<Value>), String> {
    let mut files = Files::new();
    if let Some(p) = &b.system_prompt {
        files.insert("system-prompt.md".into(), p.clone());
    }
    for (path, content) in &b.prompts {
        files.insert(check_relpath(path)?, content.clone());
    }
    for s in &b.skills {
        for (path, content) in &s.files {
            files.insert(format!("skills/{}/{}", s.id, check_relpath(path)?), content.clone());
        }
    }
    let skills = b
        .skills
        .iter()
        .map(|s| json!({"id": s.id, "name": s.name, "description": s.description}))
        .collect();
    Ok((files, skills))
}

/// The config stored with a workspace made from a bundle node.
pub fn stored_config(b: &Bundle, files: Files, skills: Vec<Value>) -> Value {
    json!({
        "model": b.model, "files": files,
        "bundle": {"id": b.id, "schema": b.schema, "author": b.author, "version": b.version,
                   "agent_card": b.agent_card, "tools": b.tools, "skills": skills, "system_prompt": b.system_prompt.is_some()},
    })
}

/// A workspace as a bundle node (without children), rebuilt from its
/// fields and its stored config.
pub struct Stored<'a> {
    pub id: String,
    pub name: &'a str,
    pub role: Option<&'a str>,
    pub tier: i64,
    pub runtime: &'a str,
    pub config: &'a Value,
}

pub fn from_stored(w: Stored) -> Bundle {
    let config = w.config;
    let files: Files = serde_json::from_value(config["files"].clone()).unwrap_or_default();
    let meta = &config["bundle"];
    let mut b = Bundle {
        schema: Some("1.0".into()),
        id: Some(w.id),
        name: w.name.to_string(),
        description: w.role.map(str::to_string),
        tier: Some(w.tier),
        model: config["model"].as_str().map(str::to_string),
        runtime: Some(w.runtime.to_string()),
        tools: serde_json::from_value(meta["tools"].clone()).unwrap_or_default(),
        agent_card: Some(meta["agent_card"].clone()).filter(|v| !v.is_null()),
        author: meta["author"].as_str().map(str::to_string),
        version: Some(meta["version"].as_str().unwrap_or("1.0.0").to_string()),
        ..Default::default()
    };
    let skill_meta: Vec<Skill> = serde_json::from_value(meta["skills"].clone()).unwrap_or_default();
    for (path, content) in files {
        if path == "system-prompt.md" {
            b.system_prompt = Some(content);
        } else if let Some(rest) = path.strip_prefix("skills/") {
            let (skill, rel) = rest.split_once('/').unwrap_or((rest, ""));
            if !b.skills.iter().any(|s| s.id == skill) {
                let m = skill_meta.iter().find(|s| s.id == skill).cloned().unwrap_or_default();
                b.skills.push(Skill {
                    id: skill.to_string(),
                    name: m.name,
                    description: m.description,
                    files: Files::new(),
                });
            }
            if let Some(s) = b.skills.iter_mut().find(|s| s.id == skill) {
                s.files.insert(rel.to_string(), content);
            }
        } else {
            b.prompts.insert(path, content);
        }
    }
    for s in skill_meta {
        if !b.skills.iter().any(|k| k.id == s.id) {
            b.skills.push(Skill {
                files: Files::new(),
                ..s
            });
        }
    }
    b
}
