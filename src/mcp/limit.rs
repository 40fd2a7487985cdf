//! Tool calls per key per minute, in fixed one-minute windows: an agent in
//! a loop cannot make a key do more than its operator allowed, however it
//! got the key.

use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;
/// Keys tracked before old windows are swept (memory stays bounded).
const MAX_KEYS: usize = 100_000;

pub struct CallLimiter {
    per_minute: u32,
    counts: Mutex<HashMap<String, (i64, u32)>>,
}

impl CallLimiter {
    pub fn new(per_minute: u32) -> CallLimiter {
        CallLimiter {
            per_minute,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a call by `key`; `Some(seconds)` to wait when it is one too
    /// many (it is not counted then).
    pub fn take(&self, key: &str, now: i64) -> Option<u64> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_KEYS {
            counts.retain(|_, (start, _)| now - *start < WINDOW_MS);
        }
        let entry = counts.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= WINDOW_MS {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            return Some(((entry.0 + WINDOW_MS - now) / 1000 + 1) as u64);
        }
        entry.1 += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_calls_a_minute_and_others_theirs() {
        let l = CallLimiter::new(3);
        for _ in 0..3 {
            assert_eq!(l.take("a", 1_000), None);
        }
        assert_eq!(l.take("a", 1_500), Some(60));
        assert_eq!(l.take("b", 1_500), None);
        assert_eq!(l.take("a", 61_000), None, "a new window");
    }
}
