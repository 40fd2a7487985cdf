//! Org API keys: what a new key may be, and how long any credential lives.

use ipnet::IpNet;

use crate::domain::error::{Error, Result};
use crate::domain::ids::WorkspaceId;
use crate::domain::key_policy::RateLimit;
use crate::domain::role::Role;
use crate::domain::time::parse_rfc3339;

pub const WARNING: &str = "copy this token now; it will not be shown again";
pub const MAX_NAME_CHARS: usize = 100;
/// Keys may live at most ten years; a longer horizon is almost surely a typo.
pub const MAX_LIFETIME_MS: i64 = 10 * 366 * 24 * 3600 * 1000;
pub const MAX_GRACE_SECONDS: i64 = 30 * 24 * 3600;
pub const MAX_BINDINGS: usize = 100;

/// A key to mint, as checked.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    /// Sorted, without duplicates; empty = every workspace.
    pub workspaces: Vec<WorkspaceId>,
    pub expires_at: Option<i64>,
    pub created_by: String,
    pub limits: Limits,
}

/// What a key carries beyond its role and bindings; a rotation carries it
/// over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub description: Option<String>,
    /// Where it may be used from; empty = anywhere.
    pub allowed_cidrs: Vec<IpNet>,
    pub rate_limit: Option<RateLimit>,
}

/// Turns `expires_in` (seconds) or `expires_at` (RFC 3339) into a time.
pub fn expiry(now: i64, expires_in: Option<i64>, expires_at: Option<&str>) -> Result<Option<i64>> {
    let at = match (expires_in, expires_at) {
        (Some(_), Some(_)) => return Err(Error::invalid("give expires_in or expires_at, not both")),
        (None, None) => return Ok(None),
        (Some(secs), None) => {
            if secs <= 0 {
                return Err(Error::invalid("expires_in must be a positive number of seconds"));
            }
            now.saturating_add(secs.saturating_mul(1000))
        }
        (None, Some(s)) => parse_rfc3339(s)
            .ok_or_else(|| Error::invalid("expires_at must be an RFC 3339 time, e.g. 2030-01-31T00:00:00Z"))?,
    };
    if at <= now {
        return Err(Error::invalid("the expiry must be in the future"));
    }
    if at - now > MAX_LIFETIME_MS {
        return Err(Error::invalid("a key may live at most ten years"));
    }
    Ok(Some(at))
}

/// Bindings as given: at most `MAX_BINDINGS` workspace ids, returned sorted
/// and without duplicates.
pub fn bindings(raw: &[String]) -> Result<Vec<WorkspaceId>> {
    if raw.len() > MAX_BINDINGS {
        return Err(Error::invalid(format!(
            "workspaces: a key may be bound to at most {MAX_BINDINGS}"
        )));
    }
    let mut ids = crate::domain::ids::workspace_ids(raw)
        .map_err(|bad| Error::invalid(format!("workspaces: {bad:?} is not a workspace id")))?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// How long a rotated key keeps working: never past its own expiry.
pub fn grace_end(now: i64, grace_seconds: i64, expires_at: Option<i64>) -> Result<i64> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(Error::invalid(format!(
            "grace_seconds must be between 0 and {MAX_GRACE_SECONDS}"
        )));
    }
    let end = now.saturating_add(grace_seconds * 1000);
    Ok(expires_at.map_or(end, |e| e.min(end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_in_the_future_and_within_ten_years() {
        assert_eq!(expiry(1000, None, None).unwrap(), None);
        assert_eq!(expiry(1000, Some(2), None).unwrap(), Some(3000));
        assert!(expiry(1000, Some(0), None).is_err());
        assert!(expiry(1000, Some(1), Some("2030-01-01T00:00:00Z")).is_err());
        assert!(expiry(0, None, Some("1969-01-01T00:00:00Z")).is_err());
        assert!(expiry(0, Some(11 * 366 * 24 * 3600), None).is_err());
        assert!(expiry(0, None, Some("soon")).is_err());
    }

    #[test]
    fn bindings_are_ids_sorted_once() {
        let a = WorkspaceId::generate().to_string();
        let got = bindings(&[a.clone(), a.clone()]).unwrap();
        assert_eq!(got.len(), 1);
        assert!(bindings(&["x".into()]).is_err());
        assert!(bindings(&vec![a; MAX_BINDINGS + 1]).is_err());
    }

    #[test]
    fn grace_never_outlives_the_key() {
        assert_eq!(grace_end(0, 10, None).unwrap(), 10_000);
        assert_eq!(grace_end(0, 10, Some(5_000)).unwrap(), 5_000);
        assert!(grace_end(0, -1, None).is_err());
        assert!(grace_end(0, MAX_GRACE_SECONDS + 1, None).is_err());
    }
}
