//! What an org template needs from the environment: `required_env` and
//! `recommended_env` at every level, and `${VAR}` in channel configs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{ChannelSpec, Plan};
use crate::domain::channels::Config;
use crate::domain::text::EnvName;

const MAX_FILLED_BYTES: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvReq {
    Name(String),
    AnyOf { any_of: Vec<String> },
}

fn env_name_ok(n: &str) -> bool {
    EnvName::parse(n).is_some()
}

fn parse_env(list: &[Json]) -> Vec<EnvReq> {
    list.iter()
        .filter_map(|v| match serde_json::from_value::<EnvReq>(v.clone()).ok()? {
            EnvReq::Name(n) => env_name_ok(&n).then_some(EnvReq::Name(n)),
            EnvReq::AnyOf { any_of } => {
                let mut members: Vec<String> = any_of.into_iter().filter(|n| env_name_ok(n)).collect();
                members.sort();
                members.dedup();
                (!members.is_empty()).then_some(EnvReq::AnyOf { any_of: members })
            }
        })
        .collect()
}

/// The union of every level's requirements, deduplicated; a strict name
/// drops any group of its tier that contains it, and anything required is
/// dropped from the recommendations. Names sorted first, then groups.
pub(super) fn env_requirements(required: &[Json], recommended: &[Json]) -> (Vec<EnvReq>, Vec<EnvReq>) {
    let tidy = |reqs: Vec<EnvReq>, strict_above: &BTreeSet<String>| -> Vec<EnvReq> {
        let strict: BTreeSet<String> = reqs
            .iter()
            .filter_map(|r| match r {
                EnvReq::Name(n) => Some(n.clone()),
                EnvReq::AnyOf { .. } => None,
            })
            .collect();
        let mut out: BTreeSet<EnvReq> = BTreeSet::new();
        for r in reqs {
            let keep = match &r {
                EnvReq::Name(n) => !strict_above.contains(n),
                EnvReq::AnyOf { any_of } => !any_of.iter().any(|m| strict.contains(m) || strict_above.contains(m)),
            };
            if keep {
                out.insert(r);
            }
        }
        out.into_iter().collect()
    };
    let required = tidy(parse_env(required), &BTreeSet::new());
    let strict: BTreeSet<String> = required
        .iter()
        .flat_map(|r| match r {
            EnvReq::Name(n) => vec![n.clone()],
            EnvReq::AnyOf { .. } => vec![],
        })
        .collect();
    let recommended = tidy(parse_env(recommended), &strict);
    (required, recommended)
}

/// The requirements not met by the names present.
pub fn missing_env(required: &[EnvReq], present: &BTreeSet<String>) -> Vec<EnvReq> {
    required
        .iter()
        .filter(|r| match r {
            EnvReq::Name(n) => !present.contains(n),
            EnvReq::AnyOf { any_of } => !any_of.iter().any(|m| present.contains(m)),
        })
        .cloned()
        .collect()
}

/// `${VAR}` references in a channel config, resolved against `vars`.
/// Err names the first unresolved variable.
pub fn resolve_vars(config: &Config, vars: &BTreeMap<String, String>) -> Result<Config, String> {
    let mut out = Config::new();
    for (k, v) in config {
        let mut s = String::new();
        let mut rest = v.as_str();
        while let Some(start) = rest.find("${") {
            s.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("config.{k}: unterminated ${{"))?;
            let name = &after[..end];
            let value = vars
                .get(name)
                .ok_or_else(|| format!("unresolved ${{{name}}} in config.{k}"))?;
            s.push_str(value);
            rest = &after[end + 1..];
        }
        s.push_str(rest);
        if s.len() > MAX_FILLED_BYTES {
            return Err(format!(
                "config.{k} is longer than {MAX_FILLED_BYTES} bytes once filled"
            ));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

impl Plan {
    /// A registered template's channel credentials must name global secrets
    /// (`${NAME}`): a template is kept as written and readable by any
    /// read-only key. (An import sends its YAML once, and what it creates
    /// is sealed, so it may carry them.)
    pub fn no_literal_credentials(&self) -> Result<(), String> {
        for node in &self.nodes {
            for (i, ch) in node.channels.iter().enumerate() {
                literal_credential(ch).map_err(|e| format!("{} ({:?}): channels[{i}]: {e}", node.path, node.name))?;
            }
        }
        Ok(())
    }
}

fn literal_credential(ch: &ChannelSpec) -> Result<(), String> {
    let Some(adapter) = crate::domain::channels::find(&ch.kind) else {
        return Ok(());
    };
    match ch
        .config
        .iter()
        .find(|(k, v)| adapter.is_sensitive(k) && !v.trim().is_empty() && !v.contains("${"))
    {
        Some((k, _)) => Err(format!(
            "config.{k} of a {} channel is a credential written into the template; write ${{NAME}} \
             instead and set NAME as a global secret (PUT /settings/secrets), which is sealed and never shown",
            ch.kind
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_rules_dedupe_and_let_required_win() {
        let (req, rec) = env_requirements(
            &[
                json!("OPENAI_API_KEY"),
                json!({"any_of": ["OPENAI_API_KEY", "AZURE_KEY"]}),
                json!("bad name"),
                json!({"any_of": ["B", "A"]}),
            ],
            &[json!("OPENAI_API_KEY"), json!("SLACK_TOKEN"), json!({"any_of": []})],
        );
        assert_eq!(
            req,
            vec![
                EnvReq::Name("OPENAI_API_KEY".into()),
                EnvReq::AnyOf {
                    any_of: vec!["A".into(), "B".into()]
                }
            ]
        );
        assert_eq!(rec, vec![EnvReq::Name("SLACK_TOKEN".into())]);
        let present: BTreeSet<String> = ["B".to_string()].into();
        assert_eq!(missing_env(&req, &present), vec![EnvReq::Name("OPENAI_API_KEY".into())]);
    }

    #[test]
    fn variables_resolve_or_are_named() {
        let vars = BTreeMap::from([("HOOK".to_string(), "https://x".to_string())]);
        let cfg = Config::from([("webhook_url".to_string(), "${HOOK}/path".to_string())]);
        assert_eq!(resolve_vars(&cfg, &vars).unwrap()["webhook_url"], "https://x/path");
        let cfg = Config::from([("bot_token".to_string(), "${MISSING}".to_string())]);
        assert_eq!(
            resolve_vars(&cfg, &vars).unwrap_err(),
            "unresolved ${MISSING} in config.bot_token"
        );
    }
}
