//! Values shared by the HTTP layer, storage and the CLI: roles, time
//! formatting, and input rules.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// What an org key may do. Ordered: a role covers every role below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ReadOnly,
    WorkspaceWrite,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ReadOnly => "read-only",
            Role::WorkspaceWrite => "workspace-write",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read-only" => Some(Role::ReadOnly),
            "workspace-write" => Some(Role::WorkspaceWrite),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

pub const ROLE_NAMES: &str = "admin, workspace-write, read-only";

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-26T05:57:25.123Z`.
pub fn rfc3339(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub fn opt_rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Why a name was refused, in words a caller can act on.
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
    Ok(())
}

/// Only the canonical lowercase hyphenated form that ids are stored in.
/// Workspace field rules, shared by every way a workspace is made (the
/// API, org import, bundles, workspace templates).
pub const MAX_WORKSPACE_NAME: usize = 255;
pub const MAX_WORKSPACE_ROLE: usize = 1000;
pub const MAX_RUNTIME: usize = 100;
pub const MAX_MODEL: usize = 100;
pub const DEFAULT_RUNTIME: &str = "langgraph";
pub const DEFAULT_TIER: i64 = 2;

pub fn check_tier(tier: i64) -> Result<i64, String> {
    if (1..=4).contains(&tier) {
        Ok(tier)
    } else {
        Err("tier must be 1, 2, 3 or 4".into())
    }
}

/// Secret and environment-variable names: `^[A-Z][A-Z0-9_]{0,127}$`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 128
}

/// Only the canonical lowercase hyphenated form that ids are stored in.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_through_rfc3339() {
        let ms = 1_795_000_000_123;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        assert_eq!(rfc3339(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
        assert_eq!(parse_rfc3339("2030-01-01T00:00:00+01:00"), Some(1_893_452_400_000));
        assert_eq!(parse_rfc3339("tomorrow"), None);
    }

    #[test]
    fn only_canonical_uuids_are_ids() {
        assert!(is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        for s in [
            "0F8FAD5B-D9CB-469F-A165-70867728950E",
            "0f8fad5bd9cb469fa16570867728950e",
            "{0f8fad5b-d9cb-469f-a165-70867728950e}",
            "x",
        ] {
            assert!(!is_uuid(s), "{s}");
        }
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin > Role::WorkspaceWrite && Role::WorkspaceWrite > Role::ReadOnly);
        for r in [Role::Admin, Role::WorkspaceWrite, Role::ReadOnly] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("name", "ok name", 10).is_ok());
        assert!(check_name("name", "  ", 10).is_err());
        assert!(check_name("name", "a\nb", 10).is_err());
        assert!(check_name("name", "ééééééééééé", 10).is_err());
        assert!(check_name("name", "éééééééééé", 10).is_ok());
    }
}
