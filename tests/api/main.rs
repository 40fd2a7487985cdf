#![allow(clippy::unwrap_used, clippy::expect_used)]

//! One integration-test binary: the real server over HTTP, and the real
//! binary for the CLI paths.

mod approvals;
mod architecture;
mod audit;
mod auth;
mod backup;
mod browser;
mod catalog;
mod channels;
mod cli;
mod concurrency;
mod crash;
mod errors;
mod examples;
mod helpers;
mod keys;
mod metrics;
mod openapi;
mod org;
mod props;
mod revocation;
mod roles;
mod secrets;
mod sessions;
mod sessions_more;
mod workspaces;
mod ws_tokens;
