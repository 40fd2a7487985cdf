//! Throttling failed authentications, per client address and per presented
//! token, in fixed one-minute windows. Only failures are limited: a request
//! carrying a valid credential is always looked up and served, so real
//! clients behind a noisy address are never slowed.

use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;
/// Entries kept before old windows are swept (bounds memory under a flood
/// of distinct addresses or tokens).
const MAX_ENTRIES: usize = 100_000;

#[derive(Hash, PartialEq, Eq, Clone)]
enum Subject {
    Address(String),
    Token([u8; 32]),
}

pub struct FailureLimiter {
    per_address: u32,
    per_token: u32,
    counts: Mutex<HashMap<Subject, (i64, u32)>>,
}

impl FailureLimiter {
    pub fn new(per_address: u32, per_token: u32) -> FailureLimiter {
        FailureLimiter {
            per_address,
            per_token,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn subjects(addr: &str, token: Option<&[u8; 32]>) -> Vec<Subject> {
        let mut s = vec![Subject::Address(addr.to_string())];
        s.extend(token.map(|t| Subject::Token(*t)));
        s
    }

    fn limit(&self, s: &Subject) -> u32 {
        match s {
            Subject::Address(_) => self.per_address,
            Subject::Token(_) => self.per_token,
        }
    }

    /// Seconds until a throttled subject may fail again, if any is throttled.
    pub fn retry_after(&self, addr: &str, token: Option<&[u8; 32]>, now: i64) -> Option<u64> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        Self::subjects(addr, token)
            .iter()
            .filter_map(|s| {
                let (start, n) = counts.get(s)?;
                (now - start < WINDOW_MS && *n >= self.limit(s)).then(|| ((start + WINDOW_MS - now) / 1000 + 1) as u64)
            })
            .max()
    }

    pub fn record(&self, addr: &str, token: Option<&[u8; 32]>, now: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_ENTRIES {
            // Sweep expired windows, then subjects not throttled; an active
            // throttle is never lifted to make room.
            counts.retain(|_, (start, _)| now - *start < WINDOW_MS);
            if counts.len() >= MAX_ENTRIES {
                let (pa, pt) = (self.per_address, self.per_token);
                counts.retain(|s, (_, n)| *n >= if matches!(s, Subject::Address(_)) { pa } else { pt });
            }
        }
        for s in Self::subjects(addr, token) {
            if counts.len() >= MAX_ENTRIES && !counts.contains_key(&s) {
                // Full of active throttles: new subjects go uncounted rather
                // than freeing the ones already throttled.
                continue;
            }
            let entry = counts.entry(s).or_insert((now, 0));
            if now - entry.0 >= WINDOW_MS {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_throttled_for_the_rest_of_its_window() {
        let l = FailureLimiter::new(3, 2);
        let t = [7u8; 32];
        l.record("a", None, 0);
        l.record("a", None, 1);
        assert_eq!(l.retry_after("a", None, 2), None);
        l.record("a", None, 2);
        assert_eq!(l.retry_after("a", None, 3), Some(60));
        assert_eq!(l.retry_after("b", None, 3), None, "other addresses are not touched");
        assert_eq!(l.retry_after("a", None, WINDOW_MS), None, "a new window starts clean");
        l.record("c", Some(&t), 0);
        l.record("d", Some(&t), 0);
        assert!(
            l.retry_after("e", Some(&t), 1).is_some(),
            "the token is throttled from any address"
        );
    }
}
