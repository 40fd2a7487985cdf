//! The rules of the product, with no I/O (the token generator's RNG
//! aside): typed ids, roles, the authorization rules, tokens, workspace
//! status, the org template format, channel adapters, and the one error
//! type. Nothing here knows HTTP, SQL or files.

pub mod approvals;
pub mod archive;
pub mod audit;
pub mod authz;
pub mod bundle;
pub mod catalog;
pub mod channels;
pub mod delivery;
pub mod error;
pub mod ids;
pub mod key_policy;
pub mod keys;
pub mod org_plan;
pub mod org_yaml;
pub mod role;
pub mod secrets;
pub mod text;
pub mod time;
pub mod token;
pub mod workspace;

pub use error::{Code, Error, Result};
