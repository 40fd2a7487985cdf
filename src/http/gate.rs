//! The caller, checked against what its route needs before the body is
//! read: a credential that may not call a route learns nothing from it
//! but a 401 or 403 (not which fields it would have refused). Each handler
//! names its gate in its signature: `who: Gated<AdminWide>`.

use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::{FromRequest, HttpRequest};

use super::error::ApiError;
use crate::domain::authz::{self, Gate, Need};
use crate::domain::role::Role;
use crate::service::Principal;

/// A route's requirement, as a type.
pub trait Requirement {
    const GATE: Gate;
}

pub struct Gated<R: Requirement>(pub Principal, pub PhantomData<R>);

impl<R: Requirement> Gated<R> {
    pub fn into_inner(self) -> Principal {
        self.0
    }
}

impl<R: Requirement> FromRequest for Gated<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        ready(gate::<R>(req, payload))
    }
}

fn gate<R: Requirement>(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Result<Gated<R>, ApiError> {
    let who = Principal::from_request(req, payload).into_inner()?;
    authz::pass(&who.grant(), R::GATE, req.match_info().get("id"))?;
    Ok(Gated(who, PhantomData))
}

macro_rules! requirements {
    ($($(#[$m:meta])* $name:ident => $gate:expr;)*) => {$(
        $(#[$m])*
        pub struct $name;
        impl Requirement for $name {
            const GATE: Gate = $gate;
        }
    )*};
}

requirements! {
    /// Any credential.
    AnyCaller => Gate::Any;
    /// Any org key (or session): e.g. revoking a key, which any key may do to itself.
    AnyKey => Gate::Org(Role::ReadOnly);
    Reader => Gate::Org(Role::ReadOnly);
    ReaderWide => Gate::OrgWide(Role::ReadOnly);
    Writer => Gate::Org(Role::WorkspaceWrite);
    Admin => Gate::Org(Role::Admin);
    AdminWide => Gate::OrgWide(Role::Admin);
    AuditReader => Gate::Audit;
    /// A workspace token; the workspace is named in the body.
    Agent => Gate::Agent;
    WsRead => Gate::Workspace(Need::Read);
    WsWrite => Gate::Workspace(Need::Write);
    WsReadOrAgent => Gate::Workspace(Need::ReadOrAgent);
    WsAgent => Gate::Workspace(Need::Agent);
    /// `/mcp`: any org key; each tool then has its route's gate.
    McpKey => Gate::Org(Role::ReadOnly);
}
