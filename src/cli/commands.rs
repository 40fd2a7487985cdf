//! What each subcommand does. The CLI uses the same storage functions as
//! the server, on the same database, so it works whether or not `serve` is
//! running; a running server sees its changes on its next request.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use super::args::{base_url, duration};
use super::{
    AuditCommand, BackupArgs, DataDir, ListKeysArgs, LoginUrlArgs, MintKeyArgs, OrgTemplateCommand, RestoreArgs,
    RevokeKeyArgs, RotateArgs,
};
use crate::clock::system_now_ms;
use crate::domain::audit::Actor;
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::keys::{expiry, WARNING};
use crate::domain::role::{Role, ROLE_NAMES};
use crate::domain::text::check_name;
use crate::domain::time::{opt_rfc3339, rfc3339};
use crate::domain::token::{self, TokenKind};
use crate::ops::{anchor, audit_key, data_dir};
use crate::service::keys::{self, BoxMint, KeyList, Target};
use crate::service::{audit, sessions, templates};
use crate::settings::Settings;
use crate::store::audit::Verdict;
use crate::store::{Db, StoreError};

fn store_err(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Busy => anyhow!("the database stayed busy; retry"),
        other => anyhow!(other),
    }
}

/// A refusal's message is for people; an internal error says its cause (the
/// operator on the box may see it).
fn refused(e: crate::domain::Error) -> anyhow::Error {
    match e.cause {
        Some(cause) => anyhow!("{}: {cause}", e.message),
        None => anyhow!("{}", e.message),
    }
}

/// The database, opened with its audit key. When the command is done, the
/// audit trail's head is written to the anchor (ops/anchor.rs).
struct OnBox {
    db: Db,
    dir: std::path::PathBuf,
}

impl std::ops::Deref for OnBox {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl Drop for OnBox {
    fn drop(&mut self) {
        if let Err(e) = anchor::record(&self.db, &self.dir) {
            eprintln!("warning: could not record the audit trail's head in the anchor: {e:#}");
        }
    }
}

/// The database on the box, for other commands' modules.
pub(super) fn open_box(dir: &DataDir) -> anyhow::Result<impl std::ops::Deref<Target = Db>> {
    open_db(dir)
}

fn open_db(dir: &DataDir) -> anyhow::Result<OnBox> {
    let db = audit_key::open_db(
        &dir.data_dir,
        dir.audit_key_file.as_deref(),
        &Actor::cli(),
        system_now_ms(),
    )
    .context("opening the database")?;
    Ok(OnBox {
        db,
        dir: dir.data_dir.clone(),
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
    if let Some(bad) = args.workspaces.iter().find(|w| WorkspaceId::parse(w).is_none()) {
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
    let db = open_db(&args.data_dir)?;
    let req = BoxMint {
        label,
        role,
        workspaces: args.workspaces,
        expires_at,
        allowed_cidrs: args.allowed_cidrs,
        override_policy: args.override_policy,
    };
    let (row, token) = keys::mint_on_box(&db, req, now).map_err(|mut e| {
        // Named as the operator wrote it.
        if let Some(rest) = e.message.strip_prefix("allowed_cidrs:") {
            e.message = format!("--allow-from:{rest}");
        }
        refused(e)
    })?;
    // A running server accepts the key before it is handed out; if the
    // server cannot confirm, the key is still printed (it is minted).
    let confirmed = confirm_with_server(&db, &args.data_dir.data_dir);
    let bound = if row.workspaces.is_empty() {
        "all workspaces".to_string()
    } else {
        row.workspaces
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(", ")
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
pub(super) fn confirm_with_server(db: &Db, dir: &std::path::Path) -> anyhow::Result<()> {
    let seq = db.committed_cred_seq().map_err(store_err)?;
    crate::ops::handshake::wait_for_server(dir, seq)
}

/// An http(s) URL with no path, query or trailing slash.
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
    let db = open_db(&args.data_dir)?;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let code = sessions::login_link_on_box(&db, system_now_ms(), ttl_ms, &base).map_err(refused)?;
    eprintln!(
        "open this link in your browser within {}; it works once:",
        humantime::format_duration(ttl)
    );
    println!("{base}/login?code={code}");
    Ok(ExitCode::SUCCESS)
}

pub fn end_sessions(args: DataDir) -> anyhow::Result<ExitCode> {
    data_dir::require_db(&args.data_dir)?;
    let db = open_db(&args)?;
    let ended = sessions::end_all_on_box(&db, system_now_ms()).map_err(refused)?;
    confirm_with_server(&db, &args.data_dir)?;
    eprintln!("ended {ended} browser session(s)");
    Ok(ExitCode::SUCCESS)
}

pub fn list_keys(args: ListKeysArgs) -> anyhow::Result<ExitCode> {
    data_dir::require_db(&args.data_dir.data_dir)?;
    let db = open_db(&args.data_dir)?;
    let rows = keys::list_on_box(&db, system_now_ms()).map_err(refused)?;
    if args.json {
        let list = KeyList {
            count: rows.len(),
            tokens: rows,
        };
        println!("{}", serde_json::to_string(&list)?);
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
            let ids: Vec<String> = k.workspaces.iter().map(|w| w.to_string()).collect();
            format!("  [bound: {}]", ids.join(","))
        };
        println!(
            "{:<36}  {:<16}  {:<15}  {:<24}  {:<24}  {:<24}  {}{bound}",
            k.id.to_string(),
            k.prefix,
            k.role.as_str(),
            rfc3339(k.created_at.0),
            opt_rfc3339(k.last_used_at.map(|t| t.0)).unwrap_or_else(|| "-".into()),
            opt_rfc3339(k.expires_at.map(|t| t.0)).unwrap_or_else(|| "never".into()),
            k.name,
        );
    }
    eprintln!("{} live key(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}

/// What `revoke-key` was given, resolved without ever echoing a token.
fn revoke_target(raw: &str) -> anyhow::Result<Target> {
    let raw = raw.trim();
    if token::parse(raw).is_some() {
        return Ok(Target::Token(token::hash(raw)));
    }
    if let Some(id) = KeyId::parse(raw) {
        return Ok(Target::Id(id));
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
    let db = open_db(&args.data_dir)?;
    let key = keys::revoke_on_box(&db, &target, system_now_ms()).map_err(refused)?;
    confirm_with_server(&db, &args.data_dir.data_dir)?;
    eprintln!("revoked org key {} ({}, {:?})", key.prefix, key.id, key.name);
    Ok(ExitCode::SUCCESS)
}
pub fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify(dir) = cmd;
    data_dir::require_db(&dir.data_dir)?;
    let db = open_db(&dir)?;
    let key_file = audit_key::path(&dir.data_dir, dir.audit_key_file.as_deref());
    let checked = audit::check(&db, &dir.data_dir, &key_file).map_err(refused)?;
    let anchor = match checked.anchor {
        Some(a) => format!("the anchor witnessed #{}", a.seq),
        None => "no anchor yet".into(),
    };
    match checked.verdict {
        Verdict::Intact { entries, head } => {
            let head = head.map_or_else(String::new, |(seq, hash)| {
                let short: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("; head #{seq} {short}")
            });
            println!("audit trail intact: {entries} entries{head}; {anchor}");
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Broken { id, reason } => {
            println!("audit trail BROKEN at entry #{id}: {reason} ({anchor})");
            Ok(ExitCode::from(2))
        }
    }
}

/// Appends a new audit key; a running server seals with it within seconds.
pub fn rotate_audit_key(dir: DataDir) -> anyhow::Result<ExitCode> {
    data_dir::require_db(&dir.data_dir)?;
    let path = audit_key::path(&dir.data_dir, dir.audit_key_file.as_deref());
    // Opened first: the key file must cover the trail before it grows.
    drop(open_db(&dir)?);
    let (old, new) = audit_key::rotate(&path)?;
    let db = open_db(&dir)?;
    audit::record_rotation(&db, &old, &new, system_now_ms()).map_err(refused)?;
    eprintln!(
        "the audit trail is sealed with key {new} from now on (was {old}); {} keeps both: back it up",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn org_template(cmd: OrgTemplateCommand) -> anyhow::Result<ExitCode> {
    let OrgTemplateCommand::Add(args) = cmd;
    data_dir::require_db(&args.data_dir.data_dir)?;
    let (files, skipped) = crate::ops::template_dir::read(&args.path)?;
    let db = open_db(&args.data_dir)?;
    let how = templates::Registering {
        name: args.name,
        replace: args.replace,
    };
    let done =
        templates::register_on_box(&db, templates::Upload::Files(files), how, system_now_ms()).map_err(refused)?;
    let dropped = done["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str());
    for s in skipped.iter().map(String::as_str).chain(dropped) {
        eprintln!("left out {s}");
    }
    eprintln!(
        "registered org template {} ({} workspaces{}); import it with POST /org/import {{\"dir\": \"{}\"}}",
        done["dir"].as_str().unwrap_or(""),
        done["workspaces"],
        if done["replaced"] == true {
            ", replacing the one before"
        } else {
            ""
        },
        done["dir"].as_str().unwrap_or("")
    );
    println!("{done}");
    Ok(ExitCode::SUCCESS)
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
    let db = open_db(&args.data_dir)?;
    let done = crate::ops::rotation::rotate(&db, &path, system_now_ms())?;
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
    let bytes = crate::ops::backup::backup(&args.data_dir.data_dir, &args.to)?;
    eprintln!(
        "backed up {bytes} bytes to {} (integrity checked); the secrets and audit key files are not in it: back them up separately",
        args.to.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data_dir;
    // Before anything is replaced: a database restored by another user
    // would be one the server cannot open.
    crate::ops::data_dir::check_owner(&dir.data_dir)?;
    audit_key::check_backup(&args.from, &dir.data_dir, dir.audit_key_file.as_deref())?;
    let bytes = crate::ops::backup::restore(&args.data_dir.data_dir, &args.from)?;
    let db = open_db(&args.data_dir)?;
    let from = args.from.display().to_string();
    audit::record_restore(&db, &args.data_dir.data_dir, &from, system_now_ms()).map_err(refused)?;
    eprintln!(
        "restored {bytes} bytes into {}; secrets open only with the key file that sealed them",
        args.data_dir.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
