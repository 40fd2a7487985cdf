//! The settings `serve` runs with; see `cli::ServeArgs` for their flags.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::time::ms;
use crate::domain::workspace::Thresholds;

/// Runtime settings of `serve`; see `cli::ServeArgs` for their flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    /// A workspace with no heartbeat for this long reads as `offline`.
    pub offline_after: Duration,
    /// An online workspace with no tasks for this long reads as `idle`.
    pub idle_after: Duration,
    /// How often in-memory `last_used_at` values are written down.
    pub flush_interval: Duration,
    /// How often failed authentications are summarised into the audit trail.
    pub failure_audit_interval: Duration,
    pub workers: usize,
    pub max_body_bytes: usize,
    /// A request's whole body must arrive within this long.
    pub body_timeout: Duration,
    /// Failed authentications allowed per minute from one address, and
    /// with one token, before further failures get 429.
    pub failures_per_address: u32,
    pub failures_per_token: u32,
    /// How long an approval waits for a decision before it reads as denied.
    pub approval_ttl: Duration,
    /// The master key for secrets; default `secrets.key` in the data dir.
    pub secrets_key_file: Option<PathBuf>,
    /// The audit keys; default `audit.key` in the data dir.
    pub audit_key_file: Option<PathBuf>,
    /// A browser session ends after this long without a request…
    pub session_idle: Duration,
    /// …and this long after sign-in, whatever happens.
    pub session_lifetime: Duration,
    /// The URL people reach this server at, if set; an https one makes
    /// session cookies `Secure`.
    pub public_url: Option<String>,
    /// Origins whose pages may call the API from a browser (bearer keys
    /// only), as `scheme://host[:port]`.
    pub cors_origins: Vec<String>,
    /// Peers whose forwarding header is believed (reverse proxies).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Which forwarding header those proxies manage.
    pub forwarded_header: ForwardedHeader,
    /// Decided and expired approvals, ended sessions and spent or expired
    /// sign-in links are deleted this long after they ended.
    pub retention: Duration,
    /// MCP tool calls one key may make a minute.
    pub mcp_calls_per_minute: u32,
    /// Serve https: the certificate chain and key files (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The header a trusted proxy appends the client's address to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (and `X-Forwarded-Proto`): Caddy, nginx, Traefik.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…;proto=…`.
    Forwarded,
}

impl Settings {
    /// The master key file in force, and whether the operator named it.
    pub fn key_file(&self) -> (PathBuf, bool) {
        match &self.secrets_key_file {
            Some(p) => (p.clone(), true),
            None => (self.data_dir.join(crate::crypto::KEY_FILE), false),
        }
    }

    pub fn new(listen: impl Into<String>, data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            listen: listen.into(),
            data_dir: data_dir.into(),
            offline_after: Duration::from_secs(90),
            idle_after: Duration::from_secs(600),
            flush_interval: Duration::from_secs(1),
            failure_audit_interval: Duration::from_secs(60),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_body_bytes: 256 * 1024,
            body_timeout: Duration::from_secs(15),
            failures_per_address: 30,
            failures_per_token: 10,
            approval_ttl: Duration::from_secs(600),
            secrets_key_file: None,
            audit_key_file: None,
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            public_url: None,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            retention: Duration::from_secs(30 * 24 * 3600),
            mcp_calls_per_minute: 120,
            tls: None,
        }
    }
}

impl Settings {
    /// When workspaces read as offline, and as idle.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            offline_after: ms(self.offline_after),
            idle_after: ms(self.idle_after),
        }
    }
}
