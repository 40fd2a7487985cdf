//! The handlers: each parses what the request carries, makes one service
//! call, and shapes the answer.

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod bundles;
pub mod catalog;
pub mod channels;
pub mod health;
pub mod keys;
pub mod mcp;
pub mod metrics;
pub mod org;
pub mod secrets;
pub mod sessions;
pub mod ui;
pub mod workspaces;
pub mod ws_tokens;
