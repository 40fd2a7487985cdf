#![allow(clippy::unwrap_used, clippy::expect_used)]

//! One integration-test binary: the real server over HTTP, and the real
//! binary for the CLI paths.

mod approvals;
mod architecture;
mod audit;
mod audit_chain;
mod auth;
mod backup;
mod catalog;
mod channels;
mod cli;
mod compat;
mod concurrency;
mod crash;
mod e2e;
mod errors;
mod examples;
mod hardening;
mod helpers;
mod key_lifecycle;
mod key_policy;
mod keys;
mod mcp;
mod metrics;
mod openapi;
mod ops;
mod org;
mod props;
mod proxies;
mod revocation;
mod roles;
mod secrets;
mod sessions;
mod sessions_more;
mod template_upload;
mod workspaces;
mod ws_tokens;
