//! molecule-tenant: one Molecule AI organization's admin API on embedded
//! SQLite. See README.md for the layout.

pub mod auth;
pub mod backup;
pub mod body_timeout;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod creds;
pub mod crypto;
pub mod data_dir;
pub mod db;
pub mod error;
pub mod handshake;
pub mod list_cache;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod org_plan;
pub mod org_yaml;
pub mod ratelimit;
pub mod rotation;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod token;
