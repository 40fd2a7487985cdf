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
    match fast_rfc3339(ms) {
        Some(buf) => String::from_utf8_lossy(&buf).into_owned(),
        None => slow_rfc3339(ms),
    }
}

/// The same text on the stack, for years 1970–9999 (every time this server
/// writes); lists of many rows serialise thousands of these.
fn fast_rfc3339(ms: i64) -> Option<[u8; 24]> {
    if !(0..253_402_300_800_000).contains(&ms) {
        return None;
    }
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, ms_of_day / 3_600_000);
    put(14, 2, ms_of_day / 60_000 % 60);
    put(17, 2, ms_of_day / 1000 % 60);
    put(20, 3, ms_of_day % 1000);
    Some(out)
}

/// A time that serialises as `rfc3339` text without allocating.
#[derive(Clone, Copy, Debug)]
pub struct Time(pub i64);

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match fast_rfc3339(self.0) {
            Some(buf) => s.serialize_str(std::str::from_utf8(&buf).unwrap_or_default()),
            None => s.serialize_str(&slow_rfc3339(self.0)),
        }
    }
}

fn slow_rfc3339(ms: i64) -> String {
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
    fn the_fast_formatter_agrees_with_the_time_crate() {
        let mut ms: i64 = 0;
        // Epoch, leap days, century rules (2000, 2100), the last ms of 9999.
        let edges = [
            0,
            951_782_400_000,
            951_868_799_999,
            4_107_542_400_000,
            253_402_300_799_999,
        ];
        for &t in &edges {
            assert_eq!(rfc3339(t), slow_rfc3339(t), "{t}");
        }
        for _ in 0..20_000 {
            // A walk over 9,000 years in uneven steps.
            ms = (ms + 14_195_123_457_011) % 253_402_300_800_000;
            assert_eq!(rfc3339(ms), slow_rfc3339(ms), "{ms}");
        }
        assert_eq!(rfc3339(-1), slow_rfc3339(-1));
        assert_eq!(
            serde_json::to_string(&Time(1_795_000_000_123)).unwrap(),
            "\"2026-11-18T11:06:40.123Z\""
        );
    }

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
