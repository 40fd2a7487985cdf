//! HTTP: the route table, the handlers, the extractors and middleware, and
//! the one place where an error becomes a status (error.rs). Handlers call
//! the service layer and never storage.

pub mod body;
pub mod body_timeout;
pub mod client;
pub mod cors;
pub mod error;
pub mod extract;
pub mod gate;
pub mod handlers;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod tls;
