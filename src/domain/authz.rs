//! Who may do what: the authorization rules, as pure functions of what a
//! credential grants. Where a rule depends on the workspace tree (a key
//! bound to workspaces reaches their descendants too), it answers with the
//! bindings the target must lie within, and the caller walks the tree.

use crate::domain::error::{Error, Result};
use crate::domain::ids::WorkspaceId;
use crate::domain::role::Role;

/// What a credential grants.
#[derive(Clone, Copy, Debug)]
pub enum Grant<'a> {
    /// An org key of a role; bindings empty = every workspace.
    Org { role: Role, bindings: &'a [WorkspaceId] },
    /// A workspace's own token: its agent routes, nothing else.
    Workspace(WorkspaceId),
    /// A browser session: the surface of an unbound admin key.
    Session,
}

/// What a route needs from the caller for one workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any org key whose bindings cover the workspace.
    Read,
    /// A workspace-write or admin org key covering it.
    Write,
    /// Read, or the workspace's own token.
    ReadOrAgent,
    /// Only the workspace's own token (agent routes such as heartbeat).
    Agent,
}

/// Which workspaces a grant reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach<'a> {
    Everything,
    /// These workspaces and their descendants.
    Within(&'a [WorkspaceId]),
}

pub const NOT_BOUND: &str = "this key is not bound to that workspace";

/// The org key's role and reach, if its role is at least `min`. Workspace
/// tokens never pass.
pub fn org_role<'a>(g: &Grant<'a>, min: Role) -> Result<(Role, Reach<'a>)> {
    match *g {
        Grant::Session => Ok((Role::Admin, Reach::Everything)),
        Grant::Org { role, bindings } if role >= min => Ok((role, reach(bindings))),
        Grant::Org { .. } => Err(Error::forbidden(format!(
            "this route needs an org key with role {} or higher",
            min.as_str()
        ))),
        Grant::Workspace(_) => Err(Error::forbidden(
            "workspace tokens can only use their own workspace's agent routes",
        )),
    }
}

fn reach(bindings: &[WorkspaceId]) -> Reach<'_> {
    if bindings.is_empty() {
        Reach::Everything
    } else {
        Reach::Within(bindings)
    }
}

/// An org key of at least `min` that is not bound to workspaces, for
/// org-wide routes.
pub fn org_wide(g: &Grant, min: Role) -> Result<Role> {
    match org_role(g, min)? {
        (role, Reach::Everything) => Ok(role),
        (_, Reach::Within(_)) => Err(Error::forbidden(
            "this route is org-wide; keys bound to workspaces cannot use it",
        )),
    }
}

/// Access to one workspace: refused, or allowed within a reach (the caller
/// checks the workspace lies within it). A bound key is refused a
/// workspace outside its bindings whether or not that workspace exists.
pub fn workspace<'a>(g: &Grant<'a>, target: WorkspaceId, need: Need) -> Result<Reach<'a>> {
    if let Grant::Workspace(own) = *g {
        let agent_ok = matches!(need, Need::Agent | Need::ReadOrAgent);
        return if agent_ok && own == target {
            Ok(Reach::Everything)
        } else {
            Err(Error::forbidden(
                "a workspace token can only use its own workspace's agent routes",
            ))
        };
    }
    let min = match need {
        Need::Agent => return Err(Error::forbidden("this agent route takes the workspace's own token")),
        Need::Read | Need::ReadOrAgent => Role::ReadOnly,
        Need::Write => Role::WorkspaceWrite,
    };
    Ok(org_role(g, min)?.1)
}

/// Which workspaces a credential this grant mints may be bound to: an
/// unbound key covers any set; a bound key only a non-empty set within its
/// own; a workspace token none.
pub fn coverage<'a>(g: &Grant<'a>) -> Option<Reach<'a>> {
    match *g {
        Grant::Session => Some(Reach::Everything),
        Grant::Workspace(_) => None,
        Grant::Org { bindings, .. } => Some(reach(bindings)),
    }
}

/// Refuses a key broader than its minter by role. (Bindings are checked by
/// `coverage`, expiry by `cap_expiry`.)
pub fn may_mint_role(g: &Grant, new_role: Role) -> Result<()> {
    let (role, _) = org_role(g, Role::Admin)?;
    if new_role > role {
        return Err(Error::forbidden(
            "a key cannot mint a key with a higher role than its own",
        ));
    }
    Ok(())
}

pub const MINT_OUTSIDE_BINDINGS: &str = "a key bound to workspaces can only mint keys bound within them";

/// The expiry of a credential a caller mints: what was asked for, or the
/// caller's own expiry (`limit`) when nothing was; refused when it would
/// outlive the caller.
pub fn cap_expiry(limit: Option<i64>, asked: Option<i64>) -> Result<Option<i64>> {
    match (limit, asked) {
        (None, asked) => Ok(asked),
        (Some(limit), None) => Ok(Some(limit)),
        (Some(limit), Some(at)) if at <= limit => Ok(Some(at)),
        (Some(_), Some(_)) => Err(Error::forbidden("a key cannot mint a credential that outlives it")),
    }
}

/// Creating a workspace: a bound key must name a parent (which it must
/// then be allowed to write).
pub fn may_create_root(g: &Grant) -> Result<()> {
    match org_role(g, Role::WorkspaceWrite)?.1 {
        Reach::Everything => Ok(()),
        Reach::Within(_) => Err(Error::forbidden(
            "a key bound to workspaces cannot create root workspaces; give a parent_id",
        )),
    }
}

/// Moving a workspace to the root of the tree.
pub fn may_make_root(g: &Grant) -> Result<()> {
    match org_role(g, Role::WorkspaceWrite)?.1 {
        Reach::Everything => Ok(()),
        Reach::Within(_) => Err(Error::forbidden(
            "a key bound to workspaces cannot make a root workspace",
        )),
    }
}

/// The audit trail is org-wide and for admin and read-only keys (a
/// workspace-write key only manages workspaces).
pub fn may_read_audit(g: &Grant) -> Result<()> {
    if org_wide(g, Role::ReadOnly)? == Role::WorkspaceWrite {
        return Err(Error::forbidden("the audit trail is for admin and read-only keys"));
    }
    Ok(())
}

/// What a route needs from its caller, checkable before its body is read
/// (and before the database is asked: a key bound to workspaces is then
/// checked against the tree by the use case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Any credential.
    Any,
    /// An org key (or session) of at least this role.
    Org(Role),
    /// The same, not bound to workspaces.
    OrgWide(Role),
    /// The audit trail: org-wide, admin or read-only.
    Audit,
    /// The workspace in the path, as `Need` says.
    Workspace(Need),
    /// A workspace's own token (the workspace is named in the body).
    Agent,
}

/// The gate's verdict. `path_workspace` is the path's `{id}`, if the route
/// has one (text that is no id is left for the use case to refuse).
pub fn pass(g: &Grant, gate: Gate, path_workspace: Option<&str>) -> Result<()> {
    match gate {
        Gate::Any => Ok(()),
        Gate::Org(min) => org_role(g, min).map(drop),
        Gate::OrgWide(min) => org_wide(g, min).map(drop),
        Gate::Audit => may_read_audit(g),
        Gate::Agent => match g {
            Grant::Workspace(_) => Ok(()),
            _ => Err(Error::forbidden("this agent route takes the workspace's own token")),
        },
        Gate::Workspace(need) => match path_workspace.and_then(WorkspaceId::parse) {
            Some(id) => workspace(g, id, need).map(drop),
            None => match (g, need) {
                (Grant::Workspace(_), _) => Err(Error::forbidden(
                    "a workspace token can only use its own workspace's agent routes",
                )),
                (_, Need::Agent) => Err(Error::forbidden("this agent route takes the workspace's own token")),
                (_, Need::Write) => org_role(g, Role::WorkspaceWrite).map(drop),
                _ => org_role(g, Role::ReadOnly).map(drop),
            },
        },
    }
}

/// Why an authentication failed. Counted, never told to the caller: every
/// one gets the same 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Missing,
    Malformed,
    UnknownOrRevoked,
    Expired,
    /// A live key used from outside its allowed address ranges.
    NotFromHere,
}

impl Failure {
    pub const ALL: [Failure; 5] = [
        Failure::Missing,
        Failure::Malformed,
        Failure::UnknownOrRevoked,
        Failure::Expired,
        Failure::NotFromHere,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::Malformed => "malformed",
            Failure::UnknownOrRevoked => "unknown_or_revoked",
            Failure::Expired => "expired",
            Failure::NotFromHere => "address_not_allowed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_refuse_before_the_body_and_agree_with_the_rules() {
        let (bound, own) = (ids(1), WorkspaceId::generate());
        let own_text = own.to_string();
        for g in grants(&bound, own) {
            for need in [Need::Read, Need::Write, Need::ReadOrAgent, Need::Agent] {
                let gated = pass(&g, Gate::Workspace(need), Some(&own_text)).is_ok();
                assert_eq!(gated, workspace(&g, own, need).is_ok(), "{g:?} {need:?}");
            }
            assert_eq!(pass(&g, Gate::Agent, None).is_ok(), matches!(g, Grant::Workspace(_)));
            assert!(pass(&g, Gate::Any, None).is_ok());
            assert_eq!(pass(&g, Gate::Audit, None).is_ok(), may_read_audit(&g).is_ok());
        }
        let agent = Grant::Workspace(own);
        assert!(
            pass(&agent, Gate::Org(Role::ReadOnly), None).is_err(),
            "a workspace token posting to /org/tokens"
        );
        assert!(pass(&agent, Gate::Workspace(Need::Agent), Some("not-an-id")).is_err());
    }

    fn ids(n: usize) -> Vec<WorkspaceId> {
        (0..n).map(|_| WorkspaceId::generate()).collect()
    }

    /// Every kind of grant: sessions, each role bound and unbound, and a
    /// workspace token.
    fn grants<'a>(bound: &'a [WorkspaceId], own: WorkspaceId) -> Vec<Grant<'a>> {
        let mut out = vec![Grant::Session, Grant::Workspace(own)];
        for role in [Role::ReadOnly, Role::WorkspaceWrite, Role::Admin] {
            out.push(Grant::Org { role, bindings: &[] });
            out.push(Grant::Org { role, bindings: bound });
        }
        out
    }

    #[test]
    fn org_routes_need_the_role_and_never_take_workspace_tokens() {
        let (bound, own) = (ids(1), WorkspaceId::generate());
        for g in grants(&bound, own) {
            for min in [Role::ReadOnly, Role::WorkspaceWrite, Role::Admin] {
                let got = org_role(&g, min);
                let want = match g {
                    Grant::Session => true,
                    Grant::Org { role, .. } => role >= min,
                    Grant::Workspace(_) => false,
                };
                assert_eq!(got.is_ok(), want, "{g:?} {min:?}");
                let wide = org_wide(&g, min);
                let unbound = !matches!(g, Grant::Org { bindings, .. } if !bindings.is_empty());
                assert_eq!(wide.is_ok(), want && unbound, "{g:?} {min:?}");
            }
        }
    }

    #[test]
    fn workspace_access_by_grant_and_need() {
        let (bound, own) = (ids(2), WorkspaceId::generate());
        let other = WorkspaceId::generate();
        for g in grants(&bound, own) {
            for need in [Need::Read, Need::Write, Need::ReadOrAgent, Need::Agent] {
                for target in [own, other] {
                    let got = workspace(&g, target, need);
                    match g {
                        Grant::Workspace(w) => {
                            let ok = w == target && matches!(need, Need::Agent | Need::ReadOrAgent);
                            assert_eq!(got.is_ok(), ok, "{g:?} {need:?}");
                        }
                        _ if need == Need::Agent => assert!(got.is_err()),
                        Grant::Session => assert_eq!(got.unwrap(), Reach::Everything),
                        Grant::Org { role, bindings } => {
                            let min = if need == Need::Write {
                                Role::WorkspaceWrite
                            } else {
                                Role::ReadOnly
                            };
                            match got {
                                Ok(Reach::Everything) => assert!(role >= min && bindings.is_empty()),
                                Ok(Reach::Within(b)) => assert!(role >= min && b == bindings),
                                Err(_) => assert!(role < min),
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn minting_never_widens_role_or_expiry() {
        let bound = ids(1);
        let ro = Grant::Org {
            role: Role::ReadOnly,
            bindings: &[],
        };
        assert!(may_mint_role(&ro, Role::ReadOnly).is_err(), "minting needs an admin");
        let admin = Grant::Org {
            role: Role::Admin,
            bindings: &bound,
        };
        assert!(may_mint_role(&admin, Role::Admin).is_ok());
        assert!(may_mint_role(&Grant::Workspace(bound[0]), Role::ReadOnly).is_err());
        assert_eq!(coverage(&admin), Some(Reach::Within(&bound)));
        assert_eq!(coverage(&Grant::Workspace(bound[0])), None);
        assert_eq!(cap_expiry(None, None).unwrap(), None);
        assert_eq!(cap_expiry(None, Some(5)).unwrap(), Some(5));
        assert_eq!(cap_expiry(Some(10), None).unwrap(), Some(10));
        assert_eq!(cap_expiry(Some(10), Some(10)).unwrap(), Some(10));
        assert!(cap_expiry(Some(10), Some(11)).is_err());
    }

    #[test]
    fn bound_keys_stay_under_their_roots_and_out_of_the_audit() {
        let bound = ids(1);
        let ww_bound = Grant::Org {
            role: Role::WorkspaceWrite,
            bindings: &bound,
        };
        assert!(may_create_root(&ww_bound).is_err());
        assert!(may_make_root(&ww_bound).is_err());
        assert!(may_create_root(&Grant::Session).is_ok());
        let ww = Grant::Org {
            role: Role::WorkspaceWrite,
            bindings: &[],
        };
        assert!(may_read_audit(&ww).is_err());
        assert!(may_read_audit(&ww_bound).is_err());
        for role in [Role::ReadOnly, Role::Admin] {
            assert!(may_read_audit(&Grant::Org { role, bindings: &[] }).is_ok());
        }
        assert!(may_read_audit(&Grant::Session).is_ok());
    }
}
