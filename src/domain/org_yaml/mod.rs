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

use serde::de::DeserializeSeed;
use serde_json::{Map, Value as Json};

mod parse;
use parse::{Budget, Raw, Seed};

pub type Files = BTreeMap<String, String>;

pub const ENTRY: &str = "org.yaml";
pub const MAX_FILES: usize = 2000;
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;
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
mod tests;
