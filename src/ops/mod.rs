//! Operating the box: the data dir, backup and restore, the secrets-key
//! rotation, and the handshake by which the CLI waits for a running server.

pub mod anchor;
pub mod audit_key;
pub mod backup;
pub mod data_dir;
pub mod handshake;
pub mod rotation;
pub mod template_dir;
