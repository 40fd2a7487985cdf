//! molecule-tenant: one Molecule AI organization's admin API on embedded
//! SQLite. The layers, and the one rule between them (README.md,
//! "Architecture"; enforced by tests/architecture.rs):
//!
//! - `domain`: the rules, with no I/O; depends on nothing else here.
//! - `store`: SQL, and only SQL; knows the domain, never HTTP.
//! - `creds`, `crypto`, `ops`: the credential map, encryption at rest,
//!   and operating the box.
//! - `service`: the use cases; the only way in for `http`, `cli` and `mcp`.
//! - `mcp`: the MCP tools, over the use cases (served by `http`).
//! - `http`, `cli`: the two front doors.

pub mod cli;
pub mod clock;
pub mod creds;
pub mod crypto;
pub mod domain;
pub mod files;
pub mod http;
pub mod mcp;
pub mod ops;
pub mod service;
pub mod settings;
pub mod store;
pub mod telemetry;
