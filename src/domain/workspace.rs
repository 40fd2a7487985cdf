//! Workspaces: the rules for their fields, and how their status follows
//! from stored facts and the clock.

use serde::Serialize;

/// Field rules, shared by every way a workspace is made (the API, org
/// import, bundles, workspace templates).
pub const MAX_NAME: usize = 255;
/// Roles in real org templates run to a few paragraphs.
pub const MAX_ROLE: usize = 8000;
pub const MAX_RUNTIME: usize = 100;
pub const MAX_MODEL: usize = 100;
pub const MAX_TASK: usize = 1000;
pub const DEFAULT_RUNTIME: &str = "langgraph";
pub const DEFAULT_TIER: i64 = 2;
/// How deep the tree may grow. Bounds every ancestor walk.
pub const MAX_DEPTH: i64 = 64;
/// How many children a 409 or an audit entry names; the count is always whole.
pub const MAX_LISTED_CHILDREN: i64 = 100;
/// Secrets a create may carry.
pub const MAX_CREATE_SECRETS: usize = 100;
pub const MAX_ACTIVE_TASKS: i64 = 1_000_000;

pub fn check_tier(tier: i64) -> Result<i64, String> {
    if (1..=4).contains(&tier) {
        Ok(tier)
    } else {
        Err("tier must be 1, 2, 3 or 4".into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Never heard from.
    AwaitingAgent,
    Online,
    /// No heartbeat for longer than the offline threshold.
    Offline,
    Paused,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::AwaitingAgent, Status::Online, Status::Offline, Status::Paused];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingAgent => "awaiting_agent",
            Status::Online => "online",
            Status::Offline => "offline",
            Status::Paused => "paused",
        }
    }
}

/// When a workspace reads as offline, and as idle, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub offline_after: i64,
    pub idle_after: i64,
}

/// The stored facts a workspace's status is derived from.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    pub paused: bool,
    pub last_heartbeat_at: Option<i64>,
    pub active_tasks: i64,
    /// Start of the current unbroken run of task-free heartbeats.
    pub idle_since: Option<i64>,
}

impl Liveness {
    /// Status and whether it is idle, as of `now`. Derived from stored
    /// facts at read time, so never stale, and reading never writes.
    pub fn status(&self, now: i64, t: Thresholds) -> (Status, bool) {
        let status = match self.last_heartbeat_at {
            _ if self.paused => Status::Paused,
            None => Status::AwaitingAgent,
            Some(hb) if now - hb > t.offline_after => Status::Offline,
            Some(_) => Status::Online,
        };
        let idle = status == Status::Online
            && self.active_tasks == 0
            && self.idle_since.is_some_and(|s| now - s >= t.idle_after);
        (status, idle)
    }

    /// The first moment after `now` at which the workspace would read
    /// differently by the clock alone: going offline, or idle.
    pub fn changes_at(&self, now: i64, t: Thresholds) -> Option<i64> {
        let (status, idle) = self.status(now, t);
        if status != Status::Online {
            return None;
        }
        let hb = self.last_heartbeat_at?;
        let offline = hb.saturating_add(t.offline_after).saturating_add(1);
        let idles = match self.idle_since {
            Some(s) if !idle && self.active_tasks == 0 => s.saturating_add(t.idle_after),
            _ => i64::MAX,
        };
        Some(offline.min(idles))
    }
}

/// What a heartbeat reports beyond liveness (upstream's heartbeat body).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub active_tasks: i64,
    pub current_task: Option<String>,
    pub error_rate: Option<f64>,
    pub sample_error: Option<String>,
    pub uptime_seconds: Option<i64>,
    pub runtime_state: Option<String>,
    /// US cents, as upstream's runtime reports it.
    pub monthly_spend: Option<i64>,
}

/// A workspace's heartbeat state: when it was last heard from, since when
/// it has been idle, and what it last said.
#[derive(Clone, Debug, PartialEq)]
pub struct Beat {
    pub at: i64,
    /// Start of the current unbroken run of task-free heartbeats.
    pub idle_since: Option<i64>,
    pub report: Report,
}

impl Beat {
    /// The state after a heartbeat at `at`, given the last one heard (its
    /// time and idle start). An offline gap, or any task, breaks the idle
    /// run, so `idle` is derived at read time and never stale.
    pub fn after(last: Option<(i64, Option<i64>)>, at: i64, report: Report, offline_after: i64) -> Beat {
        let idle_since = match last {
            _ if report.active_tasks > 0 => None,
            Some((last_at, since)) if last_at >= at.saturating_sub(offline_after) => since.or(Some(at)),
            _ => Some(at),
        };
        Beat { at, idle_since, report }
    }
}

pub const MAX_URL: usize = 2048;
pub const MAX_AGENT_CARD_BYTES: usize = 64 * 1024;
pub const MAX_SAMPLE_ERROR: usize = 4000;
pub const MAX_SHORT_TEXT: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_keeps_an_unbroken_idle_run_and_restarts_it_after_a_gap_or_a_task() {
        let idle = Report::default();
        let busy = Report {
            active_tasks: 1,
            ..Report::default()
        };
        assert_eq!(Beat::after(None, 10, idle.clone(), 90).idle_since, Some(10));
        assert_eq!(
            Beat::after(Some((10, Some(5))), 50, idle.clone(), 90).idle_since,
            Some(5)
        );
        assert_eq!(Beat::after(Some((10, None)), 50, idle.clone(), 90).idle_since, Some(50));
        assert_eq!(
            Beat::after(Some((10, Some(5))), 101, idle, 90).idle_since,
            Some(101),
            "gap"
        );
        assert_eq!(Beat::after(Some((10, Some(5))), 50, busy, 90).idle_since, None);
    }

    const T: Thresholds = Thresholds {
        offline_after: 90_000,
        idle_after: 600_000,
    };

    fn live(hb: Option<i64>, tasks: i64, idle_since: Option<i64>) -> Liveness {
        Liveness {
            paused: false,
            last_heartbeat_at: hb,
            active_tasks: tasks,
            idle_since,
        }
    }

    #[test]
    fn status_follows_heartbeats_and_the_clock() {
        assert_eq!(live(None, 0, None).status(0, T), (Status::AwaitingAgent, false));
        assert_eq!(live(Some(0), 1, None).status(90_000, T), (Status::Online, false));
        assert_eq!(live(Some(0), 1, None).status(90_001, T), (Status::Offline, false));
        assert_eq!(
            live(Some(599_000), 0, Some(0)).status(600_000, T),
            (Status::Online, true)
        );
        let paused = Liveness {
            paused: true,
            ..live(Some(0), 0, Some(0))
        };
        assert_eq!(paused.status(1, T), (Status::Paused, false));
    }

    #[test]
    fn the_next_change_is_the_first_of_offline_and_idle() {
        assert_eq!(live(Some(0), 0, Some(0)).changes_at(1, T), Some(90_001));
        assert_eq!(live(Some(0), 2, None).changes_at(1, T), Some(90_001));
        assert_eq!(live(Some(599_000), 0, Some(10)).changes_at(599_500, T), Some(600_010));
        assert_eq!(live(None, 0, None).changes_at(1, T), None);
    }
}
