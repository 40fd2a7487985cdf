//! Approvals: an agent asks, a person decides. A pending approval past its
//! expiry reads as denied by "expired"; reading never rewrites it.

use serde::Serialize;

use crate::domain::error::{Error, Result};

pub const MAX_ACTION: usize = 200;
pub const MAX_REASON: usize = 4000;
pub const MAX_TASK_ID: usize = 200;
pub const MAX_NOTE: usize = 2000;
/// The serialised `context` an approval may carry.
pub const MAX_CONTEXT_BYTES: usize = 16 * 1024;
/// How many undecided approvals one workspace may have waiting.
pub const MAX_PENDING_PER_WORKSPACE: i64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Denied,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "approved" => Some(Status::Approved),
            "denied" => Some(Status::Denied),
            _ => None,
        }
    }
}

/// A person's decision: approved or denied, nothing else.
pub fn decision(raw: &str) -> Result<Status> {
    match Status::parse(raw) {
        Some(s @ (Status::Approved | Status::Denied)) => Ok(s),
        _ => Err(Error::invalid("decision must be \"approved\" or \"denied\"")),
    }
}

/// Status, decider and decision time as of `now`.
pub fn effective(
    status: Status,
    expires_at: i64,
    decided_by: Option<&str>,
    decided_at: Option<i64>,
    now: i64,
) -> (Status, Option<&str>, Option<i64>) {
    if status == Status::Pending && expires_at <= now {
        (Status::Denied, Some("expired"), Some(expires_at))
    } else {
        (status, decided_by, decided_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_pending_approval_reads_as_denied() {
        assert_eq!(
            effective(Status::Pending, 10, None, None, 10),
            (Status::Denied, Some("expired"), Some(10))
        );
        assert_eq!(effective(Status::Pending, 10, None, None, 9).0, Status::Pending);
        assert_eq!(
            effective(Status::Approved, 10, Some("k"), Some(5), 99),
            (Status::Approved, Some("k"), Some(5))
        );
        assert!(decision("pending").is_err());
        assert_eq!(decision("denied").unwrap(), Status::Denied);
    }
}
