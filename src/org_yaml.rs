//! Reading org templates safely: the files of a template, their paths, and
//! YAML with `!include`, expanded into one JSON document.
//!
//! Hostile input is bounded everywhere: file count and sizes, alias and
//! repetition bombs (the YAML parser's own limits), nesting depth,
//! include depth and cycles, and the size of the expanded document (an
//! include that includes another twice, sixteen deep, would otherwise
//! explode). Every refusal is a message for a 400.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value as Json};
use yaml_serde::Value as Yaml;

pub type Files = BTreeMap<String, String>;

pub const ENTRY: &str = "org.yaml";
pub const MAX_FILES: usize = 200;
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Values in the expanded document, all includes counted.
pub const MAX_EXPANDED_NODES: usize = 100_000;
const MAX_NESTING: usize = 64;

/// Normalises a path inside a template: relative, `/`-separated, no `.`
/// or `..` segments, no empty segments, no backslashes or control chars.
pub fn check_relpath(path: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("file path {path:?}: {why}"));
    if path.is_empty() || path.len() > 512 {
        return bad("must be 1 to 512 characters");
    }
    if path.starts_with('/') || path.contains('\\') || path.chars().any(char::is_control) {
        return bad("must be relative, use /, and hold no control characters");
    }
    let mut parts = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return bad("must stay inside the template (no ..)"),
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return bad("names no file");
    }
    Ok(parts.join("/"))
}

/// Checks a whole file set before anything is stored; returns it with
/// normalised paths.
pub fn check_files(files: &Files) -> Result<Files, String> {
    if files.is_empty() || files.len() > MAX_FILES {
        return Err(format!("files: between 1 and {MAX_FILES} files"));
    }
    let mut out = Files::new();
    let mut total = 0;
    for (path, content) in files {
        let norm = check_relpath(path)?;
        if content.len() > MAX_FILE_BYTES {
            return Err(format!("file {norm}: at most {MAX_FILE_BYTES} bytes"));
        }
        total += content.len();
        if out.insert(norm.clone(), content.clone()).is_some() {
            return Err(format!("file {norm} is given twice"));
        }
    }
    if total > MAX_TOTAL_BYTES {
        return Err(format!("files: at most {MAX_TOTAL_BYTES} bytes in all"));
    }
    Ok(out)
}

/// Resolves `rel` against the directory of the file `from`, refusing any
/// path that leaves the template.
pub fn resolve(from: &str, rel: &str) -> Result<String, String> {
    if rel.starts_with('/') {
        return Err(format!("{from}: include {rel:?} must be a relative path"));
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("{from}: include {rel:?} escapes the template"));
                }
            }
            s => parts.push(s),
        }
    }
    check_relpath(&parts.join("/")).map_err(|e| format!("{from}: include {rel:?}: {e}"))
}

struct Expander<'a> {
    files: &'a Files,
    stack: Vec<String>,
    nodes: usize,
}

/// Parses `entry` and everything it includes into one JSON value.
pub fn expand(files: &Files, entry: &str) -> Result<Json, String> {
    let mut ex = Expander {
        files,
        stack: Vec::new(),
        nodes: 0,
    };
    ex.file(entry)
}

impl Expander<'_> {
    fn file(&mut self, path: &str) -> Result<Json, String> {
        if self.stack.iter().any(|p| p == path) {
            return Err(format!("include cycle: {} -> {path}", self.stack.join(" -> ")));
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(format!("includes nest deeper than {MAX_INCLUDE_DEPTH} (at {path})"));
        }
        let text = self.files.get(path).ok_or_else(|| match self.stack.last() {
            Some(from) => format!("{from}: included file {path} is not in the template"),
            None => format!("the template has no {path}"),
        })?;
        if text.len() > MAX_FILE_BYTES {
            return Err(format!("{path}: at most {MAX_FILE_BYTES} bytes"));
        }
        let yaml: Yaml = yaml_serde::from_str(text).map_err(|e| format!("{path}: invalid YAML: {e}"))?;
        self.stack.push(path.to_string());
        let out = self.value(yaml, path, 0);
        self.stack.pop();
        out
    }

    fn value(&mut self, v: Yaml, path: &str, depth: usize) -> Result<Json, String> {
        self.nodes += 1;
        if self.nodes > MAX_EXPANDED_NODES {
            return Err(format!("the expanded template exceeds {MAX_EXPANDED_NODES} values"));
        }
        if depth > MAX_NESTING {
            return Err(format!("{path}: nested deeper than {MAX_NESTING} levels"));
        }
        Ok(match v {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(b),
            Yaml::Number(n) => number(&n).ok_or_else(|| format!("{path}: {n} is not a usable number"))?,
            Yaml::String(s) => Json::String(s),
            Yaml::Sequence(items) => Json::Array(
                items
                    .into_iter()
                    .map(|i| self.value(i, path, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Yaml::Mapping(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let key = match k {
                        Yaml::String(s) => s,
                        Yaml::Number(n) => n.to_string(),
                        Yaml::Bool(b) => b.to_string(),
                        _ => return Err(format!("{path}: mapping keys must be scalars")),
                    };
                    let v = self.value(v, path, depth + 1)?;
                    out.insert(key, v);
                }
                Json::Object(out)
            }
            Yaml::Tagged(t) => {
                let tag = t.tag.to_string();
                match (tag.as_str(), t.value) {
                    ("!include", Yaml::String(rel)) => {
                        let target = resolve(path, &rel)?;
                        self.file(&target)?
                    }
                    ("!include", _) => return Err(format!("{path}: !include takes a relative file path")),
                    // `- !name` in a plugin list is an opt-out written
                    // without quotes: keep it as the string "!name".
                    (_, Yaml::Null) => Json::String(tag),
                    (_, Yaml::String(s)) if s.is_empty() => Json::String(tag),
                    // Any other tag: keep the value, drop the tag.
                    (_, inner) => self.value(inner, path, depth + 1)?,
                }
            }
        })
    }
}

fn number(n: &yaml_serde::Number) -> Option<Json> {
    if let Some(i) = n.as_i64() {
        Some(Json::Number(i.into()))
    } else if let Some(u) = n.as_u64() {
        Some(Json::Number(u.into()))
    } else {
        n.as_f64().and_then(Number::from_f64).map(Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(pairs: &[(&str, &str)]) -> Files {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file() {
        let f = files(&[
            ("org.yaml", "name: acme\nworkspaces:\n  - !include teams/dev.yaml\n"),
            (
                "teams/dev.yaml",
                "name: dev\nchildren:\n  - !include members/ann.yaml\nplugins: [a, !b, -c]\n",
            ),
            ("teams/members/ann.yaml", "name: ann\ntier: 3\n"),
        ]);
        let v = expand(&f, ENTRY).unwrap();
        assert_eq!(v["workspaces"][0]["children"][0], json!({"name": "ann", "tier": 3}));
        assert_eq!(v["workspaces"][0]["plugins"], json!(["a", "!b", "-c"]));
    }

    #[test]
    fn escapes_cycles_depth_and_missing_files_are_refused() {
        let esc = files(&[("org.yaml", "a: !include ../secret.yaml\n")]);
        assert!(expand(&esc, ENTRY).unwrap_err().contains("escapes the template"));
        let abs = files(&[("org.yaml", "a: !include /etc/passwd\n")]);
        assert!(expand(&abs, ENTRY).unwrap_err().contains("relative"));
        let cyc = files(&[
            ("org.yaml", "a: !include b.yaml\n"),
            ("b.yaml", "b: !include org.yaml\n"),
        ]);
        assert!(expand(&cyc, ENTRY)
            .unwrap_err()
            .contains("include cycle: org.yaml -> b.yaml -> org.yaml"));
        let missing = files(&[("org.yaml", "a: !include nope.yaml\n")]);
        assert!(expand(&missing, ENTRY).unwrap_err().contains("not in the template"));
        let mut deep = Files::new();
        for i in 0..20 {
            deep.insert(
                if i == 0 {
                    "org.yaml".into()
                } else {
                    format!("f{i}.yaml")
                },
                format!("x: !include f{}.yaml\n", i + 1),
            );
        }
        deep.insert("f20.yaml".into(), "end: true\n".into());
        assert!(expand(&deep, ENTRY).unwrap_err().contains("deeper than 16"));
    }

    #[test]
    fn bombs_are_refused_quickly() {
        let started = std::time::Instant::now();
        let laughs = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
                      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
                      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
        assert!(expand(&files(&[("org.yaml", laughs)]), ENTRY).is_err());
        let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(expand(&files(&[("org.yaml", &nested)]), ENTRY).is_err());
        let mut twice = Files::new();
        for i in 0..16 {
            twice.insert(
                if i == 0 {
                    "org.yaml".into()
                } else {
                    format!("l{i}.yaml")
                },
                format!("a: !include l{n}.yaml\nb: !include l{n}.yaml\n", n = i + 1),
            );
        }
        twice.insert("l16.yaml".into(), "leaf: [1, 2, 3, 4, 5, 6, 7, 8]\n".into());
        assert!(expand(&twice, ENTRY).unwrap_err().contains("exceeds"));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn paths_are_checked_and_normalised() {
        assert_eq!(check_relpath("./a//b.md").unwrap(), "a/b.md");
        for bad in ["", "/abs", "../x", "a/../../x", "a\\b", "a\0b", ".", "./"] {
            assert!(check_relpath(bad).is_err(), "{bad:?}");
        }
        assert!(check_files(&files(&[("a", "1"), ("./a", "2")]))
            .unwrap_err()
            .contains("twice"));
    }
}
