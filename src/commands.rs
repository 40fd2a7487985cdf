//! What each subcommand does. The CLI uses the same storage functions as
//! the server, on the same database, so it works whether or not `serve` is
//! running; a running server sees its changes on its next request.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::json;

use crate::cli::{
    AuditCommand, BackupArgs, DataDir, ListKeysArgs, LoginUrlArgs, MintKeyArgs, RestoreArgs, RevokeKeyArgs, RotateArgs,
    ServeArgs,
};
use crate::clock::{system_now_ms, Clock};
use crate::db::audit::{self, Actor, Verdict};
use crate::db::keys::{self, NewKey};
use crate::db::sessions;
use crate::db::{Db, StoreError};
use crate::model::{check_name, is_uuid, opt_rfc3339, rfc3339, Role, ROLE_NAMES};
use crate::routes::keys::{expiry, key_json, WARNING};
use crate::startup::Application;
use crate::state::Settings;
use crate::token::{self, TokenKind};
use crate::{data_dir, telemetry};

fn duration(flag: &str, env: &str, value: &str) -> anyhow::Result<Duration> {
    let value = value.trim();
    // A bare number means seconds.
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(value)
        .map_err(|e| anyhow!("{flag} ({env}): cannot read {value:?} as a duration ({e}); use e.g. 90s, 10m, 12h, 30d"))
}

fn store_err(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Api(api) => anyhow!("{}", api.message),
        StoreError::Busy => anyhow!("the database stayed busy; retry"),
        other => anyhow!(other),
    }
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    telemetry::init(&args.log, &args.log_format)?;
    let mut settings = Settings::new(args.listen, args.data_dir.data_dir);
    settings.offline_after = duration("--offline-after", "MOLECULE_OFFLINE_AFTER", &args.offline_after)?;
    settings.idle_after = duration("--idle-after", "MOLECULE_IDLE_AFTER", &args.idle_after)?;
    settings.approval_ttl = duration("--approval-ttl", "MOLECULE_APPROVAL_TTL", &args.approval_ttl)?;
    if settings.approval_ttl.is_zero() {
        bail!("--approval-ttl (MOLECULE_APPROVAL_TTL): must be longer than zero");
    }
    settings.secrets_key_file = args.key_file.secrets_key_file;
    settings.body_timeout = duration("--body-timeout", "MOLECULE_BODY_TIMEOUT", &args.body_timeout)?;
    if settings.body_timeout.is_zero() {
        bail!("--body-timeout (MOLECULE_BODY_TIMEOUT): must be longer than zero");
    }
    settings.session_idle = duration("--session-idle", "MOLECULE_SESSION_IDLE", &args.session_idle)?;
    settings.session_lifetime = duration(
        "--session-lifetime",
        "MOLECULE_SESSION_LIFETIME",
        &args.session_lifetime,
    )?;
    if settings.session_idle.is_zero() || settings.session_lifetime.is_zero() {
        bail!("--session-idle and --session-lifetime (MOLECULE_SESSION_IDLE, MOLECULE_SESSION_LIFETIME): must be longer than zero");
    }
    if let Some(url) = &args.public_url {
        settings.public_url = Some(base_url("--public-url", "MOLECULE_PUBLIC_URL", url)?);
    }
    if let Some(w) = args.workers {
        if w == 0 {
            bail!("--workers (MOLECULE_WORKERS): must be at least 1");
        }
        settings.workers = w;
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone(), Clock::default())?;
        tracing::info!(
            listen = %settings.listen, port = app.port(), data_dir = %settings.data_dir.display(),
            live_credentials = app.state().db.creds.live_count(), "molecule-tenant serving"
        );
        app.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

pub fn mint_key(args: MintKeyArgs) -> anyhow::Result<ExitCode> {
    let label = args.label.ok_or_else(|| {
        anyhow!("--label (MOLECULE_KEY_LABEL) is required: name the key, e.g. --label my-claude-agent")
    })?;
    check_name("label", &label, 100).map_err(|e| anyhow!("--label (MOLECULE_KEY_LABEL): {e}"))?;
    let role = Role::parse(&args.role).ok_or_else(|| {
        anyhow!(
            "--role (MOLECULE_KEY_ROLE): expected one of {ROLE_NAMES}, got {:?}",
            args.role
        )
    })?;
    if let Some(bad) = args.workspaces.iter().find(|w| !is_uuid(w)) {
        bail!("--workspace (MOLECULE_KEY_WORKSPACES): {bad:?} is not a workspace id");
    }
    let now = system_now_ms();
    let expires_at = match &args.expires_in {
        None => None,
        Some(v) => {
            let d = duration("--expires-in", "MOLECULE_KEY_EXPIRES_IN", v)?;
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            expiry(now, Some(secs), None)
                .map_err(|e| anyhow!("--expires-in (MOLECULE_KEY_EXPIRES_IN): {}", e.message))?
        }
    };
    data_dir::create(&args.data_dir.data_dir)?;
    let db = Db::open(&args.data_dir.data_dir)
        .map_err(store_err)
        .context("opening the database")?;
    let new = NewKey {
        name: label,
        role,
        workspaces: args.workspaces,
        expires_at,
        created_by: "cli".into(),
    };
    let (row, token) = db
        .write(now, |ctx| {
            let (row, token) = keys::insert(ctx, new)?;
            let detail = json!({"name": row.name, "prefix": row.prefix, "role": row.role.as_str(),
                "workspaces": row.workspaces, "expires_at": opt_rfc3339(row.expires_at)});
            audit::append(ctx, &Actor::cli(), "org_key.mint", Some(&row.id), detail)?;
            Ok((row, token))
        })
        .map_err(|e| anyhow!("--workspace (MOLECULE_KEY_WORKSPACES) or database: {}", store_err(e)))?;
    // A running server accepts the key before it is handed out; if the
    // server cannot confirm, the key is still printed (it is minted).
    let confirmed = confirm_with_server(&db, &args.data_dir.data_dir);
    let bound = if row.workspaces.is_empty() {
        "all workspaces".to_string()
    } else {
        row.workspaces.join(", ")
    };
    let expires = row.expires_at.map_or("never".to_string(), rfc3339);
    eprintln!(
        "minted org key {} (id {}, role {}, covers {bound}, expires {expires}); {WARNING}",
        row.prefix,
        row.id,
        row.role.as_str()
    );
    println!("{token}");
    confirmed?;
    Ok(ExitCode::SUCCESS)
}

/// Waits until a running server has applied this process's credential
/// changes (handshake.rs).
fn confirm_with_server(db: &Db, dir: &std::path::Path) -> anyhow::Result<()> {
    let seq = db.committed_cred_seq().map_err(store_err)?;
    crate::handshake::wait_for_server(dir, seq)
}

/// An http(s) URL with no path, query or trailing slash.
fn base_url(flag: &str, env: &str, raw: &str) -> anyhow::Result<String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| anyhow!("{flag} ({env}): {raw:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        bail!("{flag} ({env}): {raw:?} must be a scheme and host only, e.g. https://tenant.example.com");
    }
    Ok(url.to_string())
}

/// The longest a sign-in link may stay valid: it is a bearer credential
/// that travels through terminals and chat.
const MAX_LINK_TTL: Duration = Duration::from_secs(3600);

pub fn login_url(args: LoginUrlArgs) -> anyhow::Result<ExitCode> {
    let base = base_url("--base-url", "MOLECULE_PUBLIC_URL", &args.base_url)?;
    let ttl = duration("--ttl", "MOLECULE_LOGIN_LINK_TTL", &args.ttl)?;
    if ttl.is_zero() || ttl > MAX_LINK_TTL {
        bail!("--ttl (MOLECULE_LOGIN_LINK_TTL): must be between 1s and 1h");
    }
    data_dir::create(&args.data_dir.data_dir)?;
    let db = Db::open(&args.data_dir.data_dir)
        .map_err(store_err)
        .context("opening the database")?;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let secure = base.starts_with("https://");
    let code = db
        .write(system_now_ms(), |ctx| {
            let code = sessions::create_link(ctx, "cli", ttl_ms, secure)?;
            let detail = json!({"expires_in_seconds": ttl.as_secs(), "base_url": base});
            audit::append(ctx, &Actor::cli(), "login_link.create", None, detail)?;
            Ok(code)
        })
        .map_err(store_err)?;
    eprintln!(
        "open this link in your browser within {}; it works once:",
        humantime::format_duration(ttl)
    );
    println!("{base}/login?code={code}");
    Ok(ExitCode::SUCCESS)
}

pub fn end_sessions(args: DataDir) -> anyhow::Result<ExitCode> {
    data_dir::require_db(&args.data_dir)?;
    let db = Db::open(&args.data_dir).map_err(store_err)?;
    let ended = db
        .write(system_now_ms(), |ctx| {
            let n = sessions::revoke_all(ctx)?;
            audit::append(ctx, &Actor::cli(), "session.revoke_all", None, json!({ "count": n }))?;
            Ok(n)
        })
        .map_err(store_err)?;
    confirm_with_server(&db, &args.data_dir)?;
    eprintln!("ended {ended} browser session(s)");
    Ok(ExitCode::SUCCESS)
}

pub fn list_keys(args: ListKeysArgs) -> anyhow::Result<ExitCode> {
    data_dir::require_db(&args.data_dir.data_dir)?;
    let db = Db::open(&args.data_dir.data_dir).map_err(store_err)?;
    let now = system_now_ms();
    let rows = db.read(|conn| keys::list_live(conn, now)).map_err(store_err)?;
    if args.json {
        let tokens: Vec<_> = rows.iter().map(|k| key_json(k, None)).collect();
        println!("{}", json!({ "count": tokens.len(), "tokens": tokens }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<16}  {:<15}  {:<24}  {:<24}  {:<24}  NAME",
        "ID", "PREFIX", "ROLE", "CREATED", "LAST USED", "EXPIRES"
    );
    for k in &rows {
        let bound = if k.workspaces.is_empty() {
            String::new()
        } else {
            format!("  [bound: {}]", k.workspaces.join(","))
        };
        println!(
            "{:<36}  {:<16}  {:<15}  {:<24}  {:<24}  {:<24}  {}{bound}",
            k.id,
            k.prefix,
            k.role.as_str(),
            rfc3339(k.created_at),
            opt_rfc3339(k.last_used_at).unwrap_or_else(|| "-".into()),
            opt_rfc3339(k.expires_at).unwrap_or_else(|| "never".into()),
            k.name,
        );
    }
    eprintln!("{} live key(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}

/// What `revoke-key` was given, resolved without ever echoing a token.
enum Target {
    Id(String),
    Prefix(String),
    Token([u8; 32]),
}

fn revoke_target(raw: &str) -> anyhow::Result<Target> {
    let raw = raw.trim();
    if token::parse(raw).is_some() {
        return Ok(Target::Token(token::hash(raw)));
    }
    if is_uuid(raw) {
        return Ok(Target::Id(raw.to_string()));
    }
    let tag = TokenKind::Org.tag();
    let secret = raw.strip_prefix(tag).unwrap_or("");
    if secret.len() == 8 && secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(Target::Prefix(raw.to_string()));
    }
    // Never print the argument back: it may be a mistyped token.
    bail!("ID_OR_PREFIX: give the key's id, its full 16-character prefix (e.g. mol_org_AbCd1234, see list-keys), or the whole token")
}

pub fn revoke_key(args: RevokeKeyArgs) -> anyhow::Result<ExitCode> {
    data_dir::require_db(&args.data_dir.data_dir)?;
    let target = revoke_target(&args.target)?;
    let db = Db::open(&args.data_dir.data_dir).map_err(store_err)?;
    let key = db
        .write(system_now_ms(), |ctx| {
            let matches = match &target {
                Target::Id(id) => keys::find_live(ctx, id, ctx.now)?.into_iter().collect(),
                Target::Prefix(p) => keys::find_live_by_prefix(ctx, p, ctx.now)?,
                Target::Token(hash) => keys::find_live_by_hash(ctx, hash, ctx.now)?.into_iter().collect(),
            };
            let key = match matches.as_slice() {
                [one] => one.clone(),
                [] => return Err(StoreError::Other("no live org key matches (see list-keys)".into())),
                many => {
                    let ids: Vec<_> = many
                        .iter()
                        .map(|k| format!("{} {} {:?}", k.id, k.prefix, k.name))
                        .collect();
                    return Err(StoreError::Other(format!(
                        "that prefix matches several keys; give the id:\n  {}",
                        ids.join("\n  ")
                    )));
                }
            };
            keys::revoke(ctx, &key.id)?;
            let detail = json!({"prefix": key.prefix, "name": key.name});
            audit::append(ctx, &Actor::cli(), "org_key.revoke", Some(&key.id), detail)?;
            Ok(key)
        })
        .map_err(store_err)?;
    confirm_with_server(&db, &args.data_dir.data_dir)?;
    eprintln!("revoked org key {} ({}, {:?})", key.prefix, key.id, key.name);
    Ok(ExitCode::SUCCESS)
}
pub fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify(dir) = cmd;
    data_dir::require_db(&dir.data_dir)?;
    let db = Db::open(&dir.data_dir).map_err(store_err)?;
    match db.read(audit::verify).map_err(store_err)? {
        Verdict::Intact { entries } => {
            println!("audit trail intact: {entries} entries");
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Broken { id, reason } => {
            println!("audit trail BROKEN at entry {id}: {reason}");
            Ok(ExitCode::from(2))
        }
    }
}

pub fn rotate_secrets_key(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data_dir.data_dir;
    data_dir::require_db(dir)?;
    let mut settings = Settings::new("", dir.clone());
    settings.secrets_key_file = args.key_file.secrets_key_file;
    let (path, named) = settings.key_file();
    if named && !path.exists() {
        bail!(
            "the secrets key file {} does not exist (--secrets-key-file / MOLECULE_SECRETS_KEY_FILE)",
            path.display()
        );
    }
    let db = Db::open(dir).map_err(store_err)?;
    let done = crate::rotation::rotate(&db, &path, system_now_ms())?;
    eprintln!(
        "re-encrypted {} secret(s) and {} channel(s) under key {} (was {}); the old key is kept in {}",
        done.secrets,
        done.channels,
        done.new_key,
        done.old_key,
        crate::crypto::retired_path(&path).display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    data_dir::require_db(&args.data_dir.data_dir)?;
    let bytes = crate::backup::backup(&args.data_dir.data_dir, &args.to)?;
    eprintln!(
        "backed up {bytes} bytes to {} (integrity checked); the secrets key file is not in it: back it up separately",
        args.to.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let bytes = crate::backup::restore(&args.data_dir.data_dir, &args.from)?;
    eprintln!(
        "restored {bytes} bytes into {}; secrets open only with the key file that sealed them",
        args.data_dir.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
