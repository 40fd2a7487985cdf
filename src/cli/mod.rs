//! Command-line interface. Every flag has an environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod args;
pub mod commands;
pub mod healthcheck;
pub mod mcp;
pub mod scan;
pub mod serve;

#[derive(Parser, Debug)]
#[command(
    name = "molecule-tenant",
    version,
    about = "One Molecule AI tenant: the org admin API, org API keys, workspaces and workspace tokens, on embedded SQLite."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the org admin API over HTTP.
    Serve(Box<ServeArgs>),
    /// Mint an org API key on the box (the bootstrap for the first key).
    /// Prints only the token on stdout; details go to stderr.
    MintKey(MintKeyArgs),
    /// List the live org API keys (break-glass, on the box).
    ListKeys(ListKeysArgs),
    /// Revoke an org API key by id or display prefix (break-glass, on the box).
    /// A running server refuses the key from its very next request.
    RevokeKey(RevokeKeyArgs),
    /// Re-encrypt every secret and channel credential under a new master
    /// key, in one transaction (safe to run while `serve` runs; an
    /// interrupted rotation is finished or undone on the next start).
    RotateSecretsKey(RotateArgs),
    /// Copy the database, consistently, while `serve` runs (SQLite's online
    /// backup). The secrets key file is not included: back it up separately.
    Backup(BackupArgs),
    /// Replace the database with a backup (stop `serve` first).
    Restore(RestoreArgs),
    /// Print a one-time sign-in link for the browser pages. It works once,
    /// for a few minutes; opening it starts a session.
    LoginUrl(LoginUrlArgs),
    /// End every browser session at once (break-glass, on the box). A
    /// running server refuses their cookies from its very next request.
    EndSessions(DataDir),
    /// Check the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Seal the audit trail with a new audit key from now on; the old keys
    /// stay in the file, to check what they sealed (safe while `serve` runs).
    RotateAuditKey(DataDir),
    /// Org templates on the box.
    #[command(subcommand)]
    OrgTemplate(OrgTemplateCommand),
    /// Find tokens in files (by shape and checksum, offline; only display
    /// prefixes are printed). Exit status 1 when any are found. With
    /// --revoke, revoke the live ones on the box.
    Scan(ScanArgs),
    /// Ask a running server whether it is healthy (for container and
    /// systemd health checks; no curl needed). Exit status 0 when it
    /// answers 200 with status ok, 1 otherwise.
    Healthcheck(HealthcheckArgs),
    /// Serve MCP over stdio for a desktop agent: relays each message to the
    /// server's POST /mcp with the org key in MOLECULE_ORG_TOKEN.
    Mcp(McpArgs),
}

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The server's health URL (https needs a certificate the system trusts,
    /// or --ca-cert).
    #[arg(
        long,
        env = "MOLECULE_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:8080/health"
    )]
    pub url: String,
    /// Trust this CA certificate (PEM) for an https URL, instead of the
    /// public roots: for a private or self-signed certificate.
    #[arg(long, env = "MOLECULE_HEALTHCHECK_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Give up after this long.
    #[arg(long, env = "MOLECULE_HEALTHCHECK_TIMEOUT", default_value = "5s")]
    pub timeout: String,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files or directories to scan (directories recursively; .git is skipped).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Revoke every live org key and workspace token found (on this box's database).
    #[arg(long, env = "MOLECULE_SCAN_REVOKE")]
    pub revoke: bool,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Args, Debug)]
pub struct McpArgs {
    /// The server's address (its --public-url, or the local one).
    #[arg(long, env = "MOLECULE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

#[derive(Subcommand, Debug)]
pub enum OrgTemplateCommand {
    /// Register the org template in a directory (a git checkout: org.yaml
    /// and the files it names). Works with or without a running server.
    Add(OrgTemplateAddArgs),
}

#[derive(Args, Debug)]
pub struct OrgTemplateAddArgs {
    /// The template's directory (holding org.yaml).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The registry name (default: the template's own name).
    #[arg(long, env = "MOLECULE_TEMPLATE_NAME")]
    pub name: Option<String>,
    /// Replace a template registered under the same name.
    #[arg(long)]
    pub replace: bool,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Args, Debug, Clone)]
pub struct DataDir {
    /// Directory holding the database; created (mode 0700) on first start.
    #[arg(long, env = "MOLECULE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// File holding the audit keys that seal the audit trail (64 hex
    /// characters a line, mode 0600). Default: audit.key in the data dir,
    /// created on first start.
    #[arg(long, env = "MOLECULE_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct KeyFile {
    /// File holding the 32-byte master key for secrets (64 hex characters,
    /// mode 0600). Default: secrets.key in the data dir, created on first start.
    #[arg(long, env = "MOLECULE_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub data_dir: DataDir,
    #[command(flatten)]
    pub key_file: KeyFile,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The file to write the backup to (must not exist).
    #[arg(long, env = "MOLECULE_BACKUP_TO")]
    pub to: PathBuf,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file to restore from.
    #[arg(long, env = "MOLECULE_RESTORE_FROM")]
    pub from: PathBuf,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (host:port; port 0 picks a free one).
    #[arg(long, env = "MOLECULE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub data_dir: DataDir,
    /// A workspace whose agent sent no heartbeat for this long reads as offline (e.g. 90s, 5m).
    #[arg(long, env = "MOLECULE_OFFLINE_AFTER", default_value = "90s")]
    pub offline_after: String,
    /// An online workspace with no active tasks for this long reads as idle.
    #[arg(long, env = "MOLECULE_IDLE_AFTER", default_value = "10m")]
    pub idle_after: String,
    /// How long an approval waits for a decision before it reads as denied.
    #[arg(long, env = "MOLECULE_APPROVAL_TTL", default_value = "10m")]
    pub approval_ttl: String,
    #[command(flatten)]
    pub key_file: KeyFile,
    /// HTTP worker threads (default: one per CPU).
    #[arg(long, env = "MOLECULE_WORKERS")]
    pub workers: Option<usize>,
    /// Log filter, in tracing's EnvFilter syntax (e.g. info, debug, molecule_tenant=debug).
    #[arg(long, env = "MOLECULE_LOG", default_value = "info")]
    pub log: String,
    /// A request's whole body must arrive within this long (then 408).
    #[arg(long, env = "MOLECULE_BODY_TIMEOUT", default_value = "15s")]
    pub body_timeout: String,
    /// A browser session ends after this long without a request.
    #[arg(long, env = "MOLECULE_SESSION_IDLE", default_value = "30m")]
    pub session_idle: String,
    /// A browser session ends this long after sign-in, whatever happens.
    #[arg(long, env = "MOLECULE_SESSION_LIFETIME", default_value = "12h")]
    pub session_lifetime: String,
    /// The address people open the server at (e.g. https://tenant.example.com);
    /// an https one makes session cookies Secure.
    #[arg(long, env = "MOLECULE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "MOLECULE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Let pages served from this origin (e.g. https://canvas.example.com)
    /// call the API from a browser with bearer keys; repeat for several.
    /// In the environment, separate them with commas. Never with the
    /// session cookie.
    #[arg(long = "cors-origin", env = "MOLECULE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// A reverse proxy in front of the server, as an address or CIDR range
    /// (e.g. 127.0.0.1/32, 10.0.0.0/8); repeat for several. Only requests
    /// from these peers have their client address (for throttling, the
    /// audit trail and sessions) and scheme taken from the forwarding header.
    #[arg(long = "trusted-proxy", env = "MOLECULE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// The forwarding header the trusted proxies set: x-forwarded-for
    /// (with X-Forwarded-Proto; Caddy, nginx, Traefik) or forwarded (RFC 7239).
    #[arg(long, env = "MOLECULE_FORWARDED_HEADER", default_value = "x-forwarded-for")]
    pub forwarded_header: String,
    /// Decided and expired approvals, revoked and expired keys, tokens and
    /// sessions, spent sign-in links and deleted workspaces are deleted this
    /// long after they ended (the audit trail is kept).
    #[arg(long, env = "MOLECULE_RETENTION", default_value = "30d")]
    pub retention: String,
    /// MCP tool calls one org key may make a minute (POST /mcp).
    #[arg(long, env = "MOLECULE_MCP_CALLS_PER_MINUTE", default_value_t = 120)]
    pub mcp_calls_per_minute: u32,
    /// Serve https with this certificate chain (PEM), with --tls-key;
    /// both are read again on SIGHUP.
    #[arg(long, env = "MOLECULE_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "MOLECULE_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct LoginUrlArgs {
    /// The address people open the server at; an https one makes the
    /// session cookie Secure.
    #[arg(long, env = "MOLECULE_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// How long the link stays valid (e.g. 10m, at most 1h).
    #[arg(long, env = "MOLECULE_LOGIN_LINK_TTL", default_value = "10m")]
    pub ttl: String,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Args, Debug)]
pub struct MintKeyArgs {
    /// A name for the key, e.g. zapier or my-claude-agent (at most 100 characters).
    #[arg(long, env = "MOLECULE_KEY_LABEL")]
    pub label: Option<String>,
    /// The key's role: admin, workspace-write or read-only.
    #[arg(long, env = "MOLECULE_KEY_ROLE", default_value = "admin")]
    pub role: String,
    /// Bind the key to a workspace (and its descendants); repeat for several.
    /// In the environment, separate ids with commas.
    #[arg(long = "workspace", env = "MOLECULE_KEY_WORKSPACES", value_delimiter = ',')]
    pub workspaces: Vec<String>,
    /// Make the key expire after this long (e.g. 30d, 12h, 90m). Default: never.
    #[arg(long, env = "MOLECULE_KEY_EXPIRES_IN")]
    pub expires_in: Option<String>,
    /// Only from this address or range (e.g. 10.0.0.0/8); repeat for several.
    /// In the environment, separate them with commas.
    #[arg(long = "allow-from", env = "MOLECULE_KEY_ALLOW_FROM", value_delimiter = ',')]
    pub allowed_cidrs: Vec<String>,
    /// Break-glass: mint even when the key breaks the org's key policy
    /// (max lifetime, required expiry). Recorded in the audit trail.
    #[arg(long, env = "MOLECULE_OVERRIDE_POLICY")]
    pub override_policy: bool,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Args, Debug)]
pub struct ListKeysArgs {
    /// Print JSON (the same shape as GET /org/tokens) instead of a table.
    #[arg(long, env = "MOLECULE_JSON")]
    pub json: bool,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Args, Debug)]
pub struct RevokeKeyArgs {
    /// The key's id, its full display prefix (e.g. mol_org_AbCd1234), or the whole token.
    #[arg(value_name = "ID_OR_PREFIX")]
    pub target: String,
    #[command(flatten)]
    pub data_dir: DataDir,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check that every audit entry is intact, sealed with the audit key and
    /// chained to the one before, and that the trail still holds the head
    /// the anchor witnessed. Exit status 2 names the first bad entry.
    Verify(DataDir),
}
