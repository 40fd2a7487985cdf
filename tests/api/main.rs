//! One integration-test binary: the real server over HTTP, and the real
//! binary for the CLI paths.

mod audit;
mod auth;
mod cli;
mod errors;
mod examples;
mod helpers;
mod keys;
mod revocation;
mod roles;
mod workspaces;
mod ws_tokens;
