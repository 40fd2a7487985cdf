//! Rules for the text callers give us: names, labels, prose, environment
//! variable names. Each refusal is a sentence a caller can act on.

/// Bidirectional overrides, embeddings and isolates, and marks: they can
/// make text display in an order other than the one it has ("Trojan
/// Source"), so a name could read as another in `list-keys` or the pages.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that take no space: `ad\u{200B}min` displays as `admin`.
/// Joiners included, so a name in a script that uses them must do without.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' | '\u{00AD}')
}

/// A one-line name or label: not blank, at most `max_chars` characters, no
/// control characters, nothing that displays as something else.
pub fn check_name(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(format!("{field} must be at most {max_chars} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    if value.chars().any(|c| is_bidi_control(c) || is_invisible(c)) {
        return Err(format!(
            "{field} must not contain bidirectional controls or invisible characters (such as U+202E or U+200B)"
        ));
    }
    Ok(())
}

/// Prose (a role, a description): not blank, bounded; lines and tabs are
/// fine, other control characters and bidirectional controls are not.
pub fn check_prose(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(format!("{field} must be at most {max_chars} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(format!("{field} must not contain control characters"));
    }
    if value.chars().any(is_bidi_control) {
        return Err(format!(
            "{field} must not contain bidirectional controls (such as U+202E)"
        ));
    }
    Ok(())
}

/// An optional free-text field: absent or blank is None; otherwise bounded
/// and free of control characters (newlines and tabs are fine in prose).
pub fn optional_prose(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, String> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => check_prose(field, &v, max).map(|()| Some(v)),
    }
}

/// A secret or environment variable name: `^[A-Z][A-Z0-9_]{0,127}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EnvName(String);

pub const ENV_NAME_RULE: &str = "^[A-Z][A-Z0-9_]{0,127}$";

impl EnvName {
    pub fn parse(name: &str) -> Option<EnvName> {
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && name.len() <= 128;
        ok.then(|| EnvName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A plugin (or skill) name: `^[a-z0-9][a-z0-9._-]{0,127}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PluginName(String);

pub const PLUGIN_NAME_RULE: &str = "^[a-z0-9][a-z0-9._-]{0,127}$";

impl PluginName {
    pub fn parse(name: &str) -> Option<PluginName> {
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.len() <= 128
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        ok.then(|| PluginName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The registry name of a template: lower case, `[a-z0-9_-]`, spaces and
/// dots to dashes, at most 100 characters.
pub fn dir_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' | '_' | '-' => out.push(c),
            ' ' | '.' | '/' => out.push('-'),
            _ => {}
        }
    }
    out.trim_matches('-').chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("name", "ok name", 10).is_ok());
        assert!(check_name("name", "  ", 10).is_err());
        assert!(check_name("name", "a\nb", 10).is_err());
        assert!(check_name("name", "ééééééééééé", 10).is_err());
        assert!(check_name("name", "éééééééééé", 10).is_ok());
        // What displays as "admin" or reverses a suffix is refused.
        for disguised in [
            "ad\u{200B}min",
            "key\u{202E}nimda",
            "\u{2066}x\u{2069}",
            "a\u{FEFF}",
            "ad\u{200D}min",
        ] {
            assert!(
                check_name("name", disguised, 20).unwrap_err().contains("invisible"),
                "{disguised:?}"
            );
        }
        assert!(check_name("name", "日本語 ключ 🔑", 20).is_ok());
    }

    #[test]
    fn prose_may_have_newlines_but_no_other_controls() {
        assert_eq!(optional_prose("r", Some("  ".into()), 10), Ok(None));
        assert_eq!(optional_prose("r", Some("a\nb".into()), 10), Ok(Some("a\nb".into())));
        assert!(optional_prose("r", Some("a\u{7}".into()), 10).is_err());
        assert!(optional_prose("r", Some("x".repeat(11)), 10).is_err());
        assert!(optional_prose("r", Some("a\u{202E}b".into()), 10).is_err());
        assert!(check_prose("role", "para one\n\npara two\twith a tab", 100).is_ok());
    }

    #[test]
    fn env_and_plugin_names_follow_their_rules() {
        assert!(EnvName::parse("OPENAI_API_KEY").is_some());
        for bad in ["", "lower", "1ABC", "A-B", &"A".repeat(129)] {
            assert!(EnvName::parse(bad).is_none(), "{bad}");
        }
        assert!(PluginName::parse("web-search.v2").is_some());
        for bad in ["", "Bad", "-x", "a b", &"a".repeat(129)] {
            assert!(PluginName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dir_names_are_tidy() {
        assert_eq!(dir_name(" Acme Engineering v1.2 "), "acme-engineering-v1-2");
        assert_eq!(dir_name("!!!"), "");
    }
}
