//! The layers' one rule, checked on the source: each directory under
//! `src/` may name (as `crate::…`) only the layers listed for it, and
//! neither the rules nor storage may know the web framework. A new arrow
//! is a design change: make it here, on purpose, and say why in the README.

use std::collections::BTreeSet;
use std::path::Path;

/// Layer → what it may name. `None`: anything but what `FORBIDDEN` says.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &["domain"]),
    ("store", &["store", "domain", "clock"]),
    ("creds", &["creds", "domain", "store"]),
    ("crypto", &["crypto", "domain", "files"]),
    ("ops", &["ops", "domain", "store", "crypto", "files"]),
    // The MCP tools: use cases only, like a front door.
    ("mcp", &["mcp", "domain", "service"]),
];

/// Layer → what it must never name.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("service", &["http", "cli"]),
    ("http", &["store", "cli", "ops", "crypto"]),
];

/// Layers that must not mention the web framework at all.
const NO_ACTIX: &[&str] = &["domain", "store", "creds", "crypto", "ops", "service", "mcp"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<layer>` a file names outside comments.
fn named_layers(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn code_mentions_actix(text: &str) -> bool {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .any(|code| code.contains("actix"))
}

#[test]
fn each_layer_names_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    let mut checked = 0;
    for (layer, allowed) in ALLOWED {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} is missing");
        for f in files {
            checked += 1;
            let text = std::fs::read_to_string(&f).unwrap();
            for named in named_layers(&text) {
                if !allowed.contains(&named.as_str()) {
                    broken.push(format!("{} names crate::{named}", f.display()));
                }
            }
        }
    }
    for (layer, forbidden) in FORBIDDEN {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} is missing");
        for f in files {
            checked += 1;
            let text = std::fs::read_to_string(&f).unwrap();
            for named in named_layers(&text) {
                if forbidden.contains(&named.as_str()) {
                    broken.push(format!("{} names crate::{named}", f.display()));
                }
            }
        }
    }
    for layer in NO_ACTIX {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        for f in files {
            if code_mentions_actix(&std::fs::read_to_string(&f).unwrap()) {
                broken.push(format!("{} uses actix", f.display()));
            }
        }
    }
    assert!(checked > 50, "only {checked} files checked");
    assert!(broken.is_empty(), "forbidden arrows:\n{}", broken.join("\n"));
}

#[test]
fn the_rule_checker_sees_paths_but_not_comments() {
    let text = "use crate::store::Db; // crate::http is fine here\nlet x = crate::domain::ids::new_id();";
    let got: Vec<String> = named_layers(text).into_iter().collect();
    assert_eq!(got, vec!["domain".to_string(), "store".to_string()]);
    assert!(!code_mentions_actix("// actix\nfn f() {}"));
    assert!(code_mentions_actix("use actix_web::web;"));
}

#[test]
fn no_source_file_is_too_long_to_read_in_one_sitting() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 420).then(|| format!("{} has {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}
