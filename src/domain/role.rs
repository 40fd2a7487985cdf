//! What an org key may do.

use serde::{Deserialize, Serialize};

/// Ordered: a role covers every role below it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin > Role::WorkspaceWrite && Role::WorkspaceWrite > Role::ReadOnly);
        for r in [Role::Admin, Role::WorkspaceWrite, Role::ReadOnly] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
