//! What `GET /health` and `molecule-tenant healthcheck` report: whether the
//! server is fit to serve, and which binary and schema it is.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::App;
use crate::store::migrate::SCHEMA_VERSION;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Serialize)]
pub struct Health {
    /// `ok`, or `degraded` when it cannot follow changes made on the box.
    pub status: &'static str,
    pub version: &'static str,
    pub schema_version: i64,
    /// It sees commits made by other processes (`revoke-key` on the box):
    /// a server that cannot would keep honouring a revoked key.
    pub following: bool,
}

pub fn health(app: &App) -> Health {
    let following = app.following.load(Ordering::Relaxed) && !app.creds.is_stale();
    Health {
        status: if following { "ok" } else { "degraded" },
        version: VERSION,
        schema_version: SCHEMA_VERSION,
        following,
    }
}
