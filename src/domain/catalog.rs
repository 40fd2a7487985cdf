//! Workspace templates and plugins: what a template's `config.yaml` sets,
//! where a plugin may come from, and the digest that pins its files.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::error::{Code, Error, Result};
use crate::domain::org_yaml::{self, Files};
use crate::domain::text::{check_name, check_prose, PluginName, PLUGIN_NAME_RULE};
use crate::domain::workspace::{check_tier, MAX_MODEL, MAX_ROLE, MAX_RUNTIME};

/// Where plugins can be installed from.
pub const SCHEMES: [&str; 1] = ["local"];

/// What a workspace template's `config.yaml` sets (top level, or
/// `runtime_config.model`).
#[derive(Default, Debug)]
pub struct TemplateDefaults {
    pub runtime: Option<String>,
    pub model: Option<String>,
    pub tier: Option<i64>,
    pub description: Option<String>,
}

pub fn template_defaults(files: &Files) -> Result<TemplateDefaults, String> {
    let Some(text) = files.get("config.yaml") else {
        return Ok(TemplateDefaults::default());
    };
    let single = Files::from([("config.yaml".to_string(), text.clone())]);
    let doc = org_yaml::expand(&single, "config.yaml")?;
    let s = |v: &Value| v.as_str().map(str::to_string);
    let model = s(&doc["model"]).or_else(|| s(&doc["runtime_config"]["model"]));
    let tier = doc["tier"].as_i64();
    if let Some(t) = tier {
        check_tier(t).map_err(|e| format!("config.yaml: {e}"))?;
    }
    // The same rules as POST /workspaces: these become workspace fields.
    for (field, value, max) in [
        ("runtime", s(&doc["runtime"]), MAX_RUNTIME),
        ("model", model.clone(), MAX_MODEL),
    ] {
        if let Some(v) = value {
            check_name(field, &v, max).map_err(|e| format!("config.yaml: {e}"))?;
        }
    }
    if let Some(d) = s(&doc["description"]) {
        check_prose("description", &d, MAX_ROLE).map_err(|e| format!("config.yaml: {e}"))?;
    }
    Ok(TemplateDefaults {
        runtime: s(&doc["runtime"]),
        model,
        tier,
        description: s(&doc["description"]),
    })
}

/// SHA-256 over every file, sorted by path, as `path \0 content \0`:
/// what `"sha256"` on install pins.
pub fn plugin_digest(files: &Files) -> String {
    let mut h = Sha256::new();
    for (path, content) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(content.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `local://name` or a bare name; any other scheme is refused.
pub fn plugin_source(source: &str) -> Result<PluginName> {
    let source = source.trim();
    if source.is_empty() {
        return Err(Error::invalid(
            "source is required, e.g. \"local://my-plugin\" or \"my-plugin\"",
        ));
    }
    let name = match source.split_once("://") {
        Some(("local", name)) => name,
        Some((scheme, _)) => {
            return Err(Error::new(
                Code::UnsupportedSource,
                format!("plugin source scheme {scheme:?} is not available"),
            )
            .with("available_schemes", json!(SCHEMES)))
        }
        None => source,
    };
    PluginName::parse(name).ok_or_else(|| Error::invalid(format!("{name:?} is not a plugin name ({PLUGIN_NAME_RULE})")))
}

/// A plugin's files as a gzipped tar, as upstream serves a download and its
/// SDK unpacks one: every file at the archive's root by its relative path
/// (no top-level directory), mode 0644, stamped `mtime` (seconds), so the
/// same plugin always packs to the same bytes.
pub fn pack(files: &Files, mtime: u64) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, content.as_bytes())?;
    }
    tar.into_inner()?.finish()
}

/// Runtime names compare without case, and `_` matches `-`.
pub fn same_runtime(a: &str, b: &str) -> bool {
    a.replace('_', "-").eq_ignore_ascii_case(&b.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_local_or_bare_names() {
        assert_eq!(plugin_source("local://web").unwrap().as_str(), "web");
        assert_eq!(plugin_source(" web ").unwrap().as_str(), "web");
        assert_eq!(plugin_source("https://x/y").unwrap_err().code, Code::UnsupportedSource);
        assert_eq!(plugin_source("").unwrap_err().code, Code::InvalidRequest);
        assert_eq!(plugin_source("Bad Name").unwrap_err().code, Code::InvalidRequest);
    }

    #[test]
    fn a_plugin_packs_to_a_rootless_gzipped_tar() {
        let files = Files::from([
            ("plugin.yaml".to_string(), "name: p\n".to_string()),
            ("skills/x/SKILL.md".to_string(), "# x\n".to_string()),
        ]);
        let bytes = pack(&files, 1_700_000_000).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
        assert_eq!(bytes, pack(&files, 1_700_000_000).unwrap(), "the same bytes each time");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            seen.push((path, text));
        }
        let want: Vec<(String, String)> = files.into_iter().collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn the_digest_covers_paths_and_contents() {
        let a = plugin_digest(&Files::from([("a".into(), "1".into())]));
        let b = plugin_digest(&Files::from([("b".into(), "1".into())]));
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(same_runtime("claude_code", "Claude-Code"));
    }
}
