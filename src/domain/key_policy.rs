//! What a key may carry beyond its role and bindings (where it may be used
//! from, how fast, a description), and the org's policy on key lifetimes.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::domain::error::{Code, Error, Result};

pub const MAX_CIDRS: usize = 32;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Expiry warnings go out this many days ahead.
pub const WARN_DAYS: [i64; 2] = [7, 30];
const DAY_MS: i64 = 24 * 3600 * 1000;

/// An optional per-key request rate: `requests` every `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

impl RateLimit {
    pub fn check(self) -> Result<RateLimit> {
        if !(1..=1_000_000).contains(&self.requests) || !(1..=86_400).contains(&self.per_seconds) {
            return Err(Error::invalid(
                "rate_limit: requests between 1 and 1000000, per_seconds between 1 and 86400",
            ));
        }
        Ok(self)
    }
}

/// Address ranges as given (`10.0.0.0/8`, `2001:db8::/32`, or a bare
/// address for one host): at most `MAX_CIDRS`, sorted and without
/// duplicates; empty = anywhere.
pub fn cidrs(raw: &[String]) -> Result<Vec<IpNet>> {
    if raw.len() > MAX_CIDRS {
        return Err(Error::invalid(format!("allowed_cidrs: at most {MAX_CIDRS}")));
    }
    let mut nets = raw
        .iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| Error::invalid(format!("allowed_cidrs: {s:?} is not an address or CIDR range")))
        })
        .collect::<Result<Vec<_>>>()?;
    nets.sort();
    nets.dedup();
    Ok(nets)
}

/// The org's rules for keys, set by an admin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// The longest a new key may live.
    pub max_key_lifetime_ms: Option<i64>,
    /// Every new key must expire.
    pub require_expiry: bool,
}

impl Policy {
    /// Why a key living until `expires_at` (minted at `now`) breaks the
    /// policy, if it does. Refused, never capped: a key that lives shorter
    /// than its minter asked for would surprise whoever relies on it.
    pub fn breach(&self, now: i64, expires_at: Option<i64>) -> Option<String> {
        match (expires_at, self.max_key_lifetime_ms) {
            (None, Some(max)) => Some(format!(
                "the org's policy caps keys at {}: give expires_in or expires_at",
                days(max)
            )),
            (None, None) if self.require_expiry => {
                Some("the org's policy requires every key to expire: give expires_in or expires_at".into())
            }
            (Some(at), Some(max)) if at - now > max => Some(format!(
                "the org's policy caps keys at {}; this one would live longer",
                days(max)
            )),
            _ => None,
        }
    }

    pub fn enforce(&self, now: i64, expires_at: Option<i64>) -> Result<()> {
        match self.breach(now, expires_at) {
            Some(why) => Err(Error::new(Code::PolicyViolation, why)),
            None => Ok(()),
        }
    }

    /// Whether a key created at `created_at`, living until `expires_at`,
    /// breaks the policy (keys minted before it was set, say).
    pub fn flags(&self, created_at: i64, expires_at: Option<i64>) -> bool {
        self.breach(created_at, expires_at).is_some()
    }
}

/// A lifetime in the largest unit that says it exactly.
fn days(ms: i64) -> String {
    let (n, unit) = if ms % DAY_MS == 0 {
        (ms / DAY_MS, "day")
    } else if ms % 3_600_000 == 0 {
        (ms / 3_600_000, "hour")
    } else {
        (ms / 1000, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The nearest warning window (in days) a key expiring at `expires_at` is
/// within at `now`, if any.
pub fn expires_within(now: i64, expires_at: Option<i64>) -> Option<i64> {
    let left = expires_at? - now;
    WARN_DAYS.into_iter().find(|d| left > 0 && left <= d * DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_checked_and_tidied() {
        let n = cidrs(&[
            "10.1.2.3/8".into(),
            "192.0.2.7".into(),
            "2001:db8::/32".into(),
            "10.0.0.0/8".into(),
        ])
        .unwrap();
        let shown: Vec<String> = n.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
        assert!(cidrs(&["nope".into()]).is_err());
        assert!(cidrs(&vec!["10.0.0.1".to_string(); 33]).is_err());
    }

    #[test]
    fn the_policy_refuses_long_or_endless_keys() {
        let p = Policy {
            max_key_lifetime_ms: Some(30 * DAY_MS),
            require_expiry: false,
        };
        assert!(p.enforce(0, Some(30 * DAY_MS)).is_ok());
        assert!(p.enforce(0, Some(31 * DAY_MS)).unwrap_err().message.contains("30 days"));
        assert_eq!(
            [days(DAY_MS), days(3_600_000), days(5_400_000), days(36 * 3_600_000)],
            ["1 day", "1 hour", "5400 seconds", "36 hours"]
        );
        assert!(p.enforce(0, None).is_err());
        let strict = Policy {
            max_key_lifetime_ms: None,
            require_expiry: true,
        };
        assert!(strict.enforce(0, None).is_err() && strict.enforce(0, Some(1)).is_ok());
        assert!(Policy::default().enforce(0, None).is_ok());
    }

    #[test]
    fn warning_windows_are_the_nearest_that_applies() {
        assert_eq!(expires_within(0, Some(3 * DAY_MS)), Some(7));
        assert_eq!(expires_within(0, Some(20 * DAY_MS)), Some(30));
        assert_eq!(expires_within(0, Some(40 * DAY_MS)), None);
        assert_eq!(expires_within(0, None), None);
        assert_eq!(expires_within(5, Some(5)), None, "already expired");
    }

    #[test]
    fn rate_limits_are_bounded() {
        assert!(RateLimit {
            requests: 0,
            per_seconds: 1
        }
        .check()
        .is_err());
        assert!(RateLimit {
            requests: 10,
            per_seconds: 60
        }
        .check()
        .is_ok());
    }
}
