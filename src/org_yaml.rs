//! Reading org templates safely: the files of a template, their paths, and
//! YAML with `!include`, expanded into one JSON document.
//!
//! Hostile input is bounded everywhere: file count and sizes, alias and
//! repetition bombs (the YAML parser's own limits), nesting depth,
//! include depth and cycles, and the size of the expanded document (an
//! include that includes another twice, sixteen deep, would otherwise
//! explode). Every refusal is a message for a 400.

use std::collections::BTreeMap;

use std::cell::Cell;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::{Map, Number, Value as Json};

pub type Files = BTreeMap<String, String>;

pub const ENTRY: &str = "org.yaml";
pub const MAX_FILES: usize = 200;
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Values in the expanded document, all includes counted.
pub const MAX_EXPANDED_NODES: usize = 100_000;
/// Bytes of text in the expanded document, all includes counted.
pub const MAX_EXPANDED_BYTES: usize = 8 * 1024 * 1024;
/// Nesting within one file, and across a chain of includes.
const MAX_NESTING: usize = 64;
const MAX_TOTAL_NESTING: usize = 128;

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

/// What the expanded document may hold in all: values, and bytes of
/// strings. Charged while parsing, so an alias that replays a large value
/// thousands of times is stopped as it replays, long before it is built.
struct Budget {
    nodes: Cell<usize>,
    bytes: Cell<usize>,
}

impl Budget {
    fn charge(&self, nodes: usize, bytes: usize) -> Result<(), String> {
        self.nodes.set(self.nodes.get() + nodes);
        self.bytes.set(self.bytes.get() + bytes);
        if self.nodes.get() > MAX_EXPANDED_NODES {
            return Err(format!("the expanded template exceeds {MAX_EXPANDED_NODES} values"));
        }
        if self.bytes.get() > MAX_EXPANDED_BYTES {
            return Err(format!(
                "the expanded template exceeds {MAX_EXPANDED_BYTES} bytes of text"
            ));
        }
        Ok(())
    }
}

/// A parsed YAML node, before includes are resolved.
#[derive(Clone)]
enum Raw {
    Json(Json),
    Seq(Vec<Raw>),
    Map(Vec<(String, Raw)>),
    Tagged(String, Box<Raw>),
}

/// Deserialises one YAML document into `Raw`, charging the budget for
/// every value as it is visited and refusing deep nesting.
struct Seed<'b> {
    budget: &'b Budget,
    depth: usize,
}

impl<'b> Seed<'b> {
    fn child(&self) -> Seed<'b> {
        Seed {
            budget: self.budget,
            depth: self.depth + 1,
        }
    }

    fn scalar<E: de::Error>(&self, v: Json, bytes: usize) -> Result<Raw, E> {
        self.budget.charge(1, bytes).map_err(E::custom)?;
        Ok(Raw::Json(v))
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Raw;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        if self.depth > MAX_NESTING {
            return Err(de::Error::custom(format!("nested deeper than {MAX_NESTING} levels")));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        self.scalar(Json::Bool(v), 0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        self.scalar(Json::Number(v.into()), 0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        self.scalar(Json::Number(v.into()), 0)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        let n = Number::from_f64(v).ok_or_else(|| E::custom(format!("{v} is not a usable number")))?;
        self.scalar(Json::Number(n), 0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        self.budget.charge(1, v.len()).map_err(E::custom)?;
        Ok(Raw::Json(Json::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        self.budget.charge(1, v.len()).map_err(E::custom)?;
        Ok(Raw::Json(Json::String(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        self.scalar(Json::Null, 0)
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        self.scalar(Json::Null, 0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        self.budget.charge(1, 0).map_err(de::Error::custom)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child())? {
            out.push(v);
        }
        Ok(Raw::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        self.budget.charge(1, 0).map_err(de::Error::custom)?;
        let mut out = Vec::new();
        while let Some(key) = map.next_key_seed(self.child())? {
            let key = match key {
                Raw::Json(Json::String(s)) => s,
                Raw::Json(j @ (Json::Number(_) | Json::Bool(_))) => j.to_string(),
                _ => return Err(de::Error::custom("mapping keys must be scalars")),
            };
            let value = map.next_value_seed(self.child())?;
            out.push((key, value));
        }
        Ok(Raw::Map(out))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Raw, A::Error> {
        // A tagged node: the tag arrives as the variant name.
        let (tag, variant) = data.variant::<String>()?;
        self.budget.charge(1, tag.len()).map_err(de::Error::custom)?;
        let value = variant.newtype_variant_seed(self.child())?;
        Ok(Raw::Tagged(
            format!("!{}", tag.trim_start_matches('!')),
            Box::new(value),
        ))
    }
}

struct Expander<'a> {
    files: &'a Files,
    stack: Vec<String>,
    budget: Budget,
    /// Each file is parsed once, however often it is included; with what
    /// it cost, charged again for every further inclusion.
    parsed: BTreeMap<String, (Raw, usize, usize)>,
}

/// Parses `entry` and everything it includes into one JSON value.
pub fn expand(files: &Files, entry: &str) -> Result<Json, String> {
    let budget = Budget {
        nodes: Cell::new(0),
        bytes: Cell::new(0),
    };
    let mut ex = Expander {
        files,
        stack: Vec::new(),
        budget,
        parsed: BTreeMap::new(),
    };
    ex.file(entry, 0)
}

impl Expander<'_> {
    fn parse(&mut self, path: &str) -> Result<Raw, String> {
        if let Some((raw, nodes, bytes)) = self.parsed.get(path) {
            let raw = raw.clone();
            self.budget.charge(*nodes, *bytes).map_err(|e| format!("{path}: {e}"))?;
            return Ok(raw);
        }
        let (nodes_before, bytes_before) = (self.budget.nodes.get(), self.budget.bytes.get());
        let text = self.files.get(path).ok_or_else(|| match self.stack.last() {
            Some(from) => format!("{from}: included file {path} is not in the template"),
            None => format!("the template has no {path}"),
        })?;
        if text.len() > MAX_FILE_BYTES {
            return Err(format!("{path}: at most {MAX_FILE_BYTES} bytes"));
        }
        let de = yaml_serde::Deserializer::from_str(text);
        let raw = Seed {
            budget: &self.budget,
            depth: 0,
        }
        .deserialize(de)
        .map_err(|e| format!("{path}: invalid YAML: {e}"))?;
        let cost = (
            self.budget.nodes.get() - nodes_before,
            self.budget.bytes.get() - bytes_before,
        );
        self.parsed.insert(path.to_string(), (raw.clone(), cost.0, cost.1));
        Ok(raw)
    }

    fn file(&mut self, path: &str, depth: usize) -> Result<Json, String> {
        if self.stack.iter().any(|p| p == path) {
            return Err(format!("include cycle: {} -> {path}", self.stack.join(" -> ")));
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(format!("includes nest deeper than {MAX_INCLUDE_DEPTH} (at {path})"));
        }
        let raw = self.parse(path)?;
        self.stack.push(path.to_string());
        let out = self.value(raw, path, depth);
        self.stack.pop();
        out
    }

    /// Resolves includes. `depth` counts nesting across files, so a chain
    /// of includes cannot nest deeper than one file may.
    fn value(&mut self, v: Raw, path: &str, depth: usize) -> Result<Json, String> {
        if depth > MAX_TOTAL_NESTING {
            return Err(format!(
                "{path}: nested deeper than {MAX_TOTAL_NESTING} levels across includes"
            ));
        }
        Ok(match v {
            Raw::Json(j) => j,
            Raw::Seq(items) => Json::Array(
                items
                    .into_iter()
                    .map(|i| self.value(i, path, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Raw::Map(entries) => {
                let mut out = Map::new();
                for (k, v) in entries {
                    let v = self.value(v, path, depth + 1)?;
                    out.insert(k, v);
                }
                Json::Object(out)
            }
            Raw::Tagged(tag, inner) => match (tag.as_str(), *inner) {
                ("!include", Raw::Json(Json::String(rel))) => {
                    let target = resolve(path, &rel)?;
                    // parse() charges the file's full cost on every inclusion.
                    self.file(&target, depth + 1)?
                }
                ("!include", _) => return Err(format!("{path}: !include takes a relative file path")),
                // `- !name` in a plugin list is an opt-out written without
                // quotes: keep it as the string "!name".
                (_, Raw::Json(Json::Null)) => Json::String(tag),
                (_, Raw::Json(Json::String(s))) if s.is_empty() => Json::String(tag),
                // Any other tag: keep the value, drop the tag.
                (_, inner) => self.value(inner, path, depth + 1)?,
            },
        })
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
    fn an_alias_replaying_a_large_value_is_stopped_as_it_replays() {
        let started = std::time::Instant::now();
        let big = "x".repeat(500_000);
        let refs = vec!["*a"; 14_000].join(",");
        let doc = format!("name: o\nworkspaces: [{{name: a}}]\na: &a {big}\nb: [{refs}]\n");
        let err = expand(&files(&[("org.yaml", &doc)]), ENTRY).unwrap_err();
        assert!(err.contains("bytes of text"), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn nesting_is_bounded_across_includes() {
        let mut f = Files::new();
        let level = |next: &str| format!("x: {}!include {next}{}\n", "[".repeat(30), "]".repeat(30));
        f.insert("org.yaml".into(), level("f1.yaml"));
        for i in 1..12 {
            f.insert(
                format!("f{i}.yaml"),
                level(&format!("f{}.yaml", i + 1)).replacen("x: ", "", 1),
            );
        }
        f.insert("f12.yaml".into(), "end\n".into());
        let err = expand(&f, ENTRY).unwrap_err();
        assert!(err.contains("across includes"), "{err}");
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
