//! What some keys carry beyond their grant: the address ranges they may be
//! used from, and a request rate (GCRA, from `governor`). Held only by the
//! keys that have either, so a key without them pays one `None` check.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use crate::domain::key_policy::RateLimit;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

pub struct Guard {
    nets: Box<[IpNet]>,
    /// Shared with the key's next version when its row changes (a new
    /// description must not refill its allowance).
    rate: Option<(RateLimit, Arc<Limiter>)>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("nets", &self.nets)
            .field("rate", &self.rate.as_ref().map(|(r, _)| r))
            .finish()
    }
}

/// A rate decision, as the `X-RateLimit-*` headers tell it: the limit, what
/// is left, and seconds until the full allowance is back (or, refused,
/// until the next request may pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateState {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    pub allowed: bool,
}

fn limiter(r: RateLimit) -> Option<Limiter> {
    let burst = NonZeroU32::new(r.requests)?;
    let period = Duration::from_secs(u64::from(r.per_seconds)) / r.requests;
    let quota = Quota::with_period(period.max(Duration::from_nanos(1)))?.allow_burst(burst);
    Some(RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>())
}

impl Guard {
    /// `None` when there is nothing to guard.
    pub fn new(nets: Vec<IpNet>, rate: Option<RateLimit>) -> Option<Box<Guard>> {
        let rate = rate.and_then(|r| limiter(r).map(|l| (r, Arc::new(l))));
        (!nets.is_empty() || rate.is_some()).then(|| {
            Box::new(Guard {
                nets: nets.into(),
                rate,
            })
        })
    }

    /// Goes on counting where `old` (the key's previous version) was, if
    /// the rate is the same.
    pub fn keep_count_of(&mut self, old: &Guard) {
        if let (Some((r, l)), Some((old_r, old_l))) = (self.rate.as_mut(), old.rate.as_ref()) {
            if r == old_r {
                *l = old_l.clone();
            }
        }
    }

    /// Whether a request from `client` may use the key. An address the
    /// server could not establish is refused when ranges are set.
    pub fn admits(&self, client: Option<IpAddr>) -> bool {
        if self.nets.is_empty() {
            return true;
        }
        let Some(ip) = client else { return false };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Counts one request against the rate, if the key has one.
    pub fn take(&self) -> Option<RateState> {
        let (r, limiter) = self.rate.as_ref()?;
        let period = u64::from(r.per_seconds);
        Some(match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Back to the whole allowance after the used part drains.
                let used = u64::from(r.requests - remaining.min(r.requests));
                RateState {
                    limit: r.requests,
                    remaining,
                    reset_secs: (used * period).div_ceil(u64::from(r.requests)),
                    allowed: true,
                }
            }
            Err(not_until) => RateState {
                limit: r.requests,
                remaining: 0,
                reset_secs: not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1,
                allowed: false,
            },
        })
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_admit_their_addresses_only() {
        let g = Guard::new(vec!["10.0.0.0/8".parse().unwrap()], None).unwrap();
        assert!(g.admits(Some("10.1.2.3".parse().unwrap())));
        assert!(g.admits(Some("::ffff:10.1.2.3".parse().unwrap())));
        assert!(!g.admits(Some("192.0.2.1".parse().unwrap())));
        assert!(!g.admits(None));
        assert!(Guard::new(vec![], None).is_none());
    }

    #[test]
    fn a_rate_lets_its_allowance_through_then_refuses() {
        let g = Guard::new(
            vec![],
            Some(RateLimit {
                requests: 3,
                per_seconds: 3600,
            }),
        )
        .unwrap();
        let states: Vec<RateState> = (0..4).map(|_| g.take().unwrap()).collect();
        assert_eq!(
            states.iter().map(|s| s.allowed).collect::<Vec<_>>(),
            [true, true, true, false]
        );
        assert_eq!(states[0].remaining, 2);
        assert_eq!(states[2].remaining, 0);
        assert!(states[3].reset_secs > 1000, "{:?}", states[3]);
    }
}
