//! `molecule-tenant scan PATH…`: finds tokens in files by their shape and
//! checksum, offline (only a display prefix is ever printed), and with
//! `--revoke` revokes the live ones among them on the box.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::ScanArgs;
use crate::clock::system_now_ms;
use crate::domain::token::{self, TokenKind};
use crate::service::keys;

/// Files larger than this are skipped (a token sits in config, not in a
/// video).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

struct Found {
    place: String,
    token: String,
    kind: TokenKind,
}

fn scan_file(path: &Path, out: &mut Vec<Found>) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    if meta.len() > MAX_FILE_BYTES {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else { return };
    // Tokens are ASCII: a file that is not UTF-8 is read lossily.
    let text = String::from_utf8_lossy(&bytes);
    for (at, t, kind) in token::find_in(&text) {
        let line = text[..at].matches('\n').count() + 1;
        out.push(Found {
            place: format!("{}:{line}", path.display()),
            token: t.to_string(),
            kind,
        });
    }
}

fn walk(path: &Path, out: &mut Vec<Found>) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if e.file_name() != ".git" {
                walk(&e.path(), out)?;
            }
        }
    } else if meta.is_file() {
        scan_file(path, out);
    }
    Ok(())
}

fn kind_name(k: TokenKind) -> &'static str {
    match k {
        TokenKind::Org => "org key",
        TokenKind::Workspace => "workspace token",
        TokenKind::Session => "session",
        TokenKind::Login => "sign-in code",
    }
}

/// Exit status 0 when nothing was found, 1 when tokens were (as secret
/// scanners do), 2 on an error.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let mut found = Vec::new();
    for p in &args.paths {
        walk(p, &mut found)?;
    }
    for f in &found {
        // A key's or token's display prefix is what lists show; a session
        // or sign-in code has none, so none of its secret is printed.
        let shown = match f.kind {
            TokenKind::Org | TokenKind::Workspace => token::display_prefix(f.kind, &f.token),
            TokenKind::Session | TokenKind::Login => f.kind.tag().to_string(),
        };
        println!("{}: {} {shown}…", f.place, kind_name(f.kind));
    }
    if args.revoke && !found.is_empty() {
        crate::ops::data_dir::require_db(&args.data_dir.data_dir)?;
        let db = super::commands::open_box(&args.data_dir)?;
        let all: Vec<String> = found.iter().map(|f| f.token.clone()).collect();
        let revoked =
            keys::revoke_leaked_on_box(&db, &all, system_now_ms()).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        for p in &revoked {
            println!("revoked {p}…");
        }
        // A running server refuses them from its next request.
        super::commands::confirm_with_server(&db, &args.data_dir.data_dir)?;
        eprintln!(
            "{} found, {} live and now revoked (the rest were not live org keys or workspace tokens)",
            found.len(),
            revoked.len()
        );
    } else {
        eprintln!("{} token(s) found", found.len());
    }
    Ok(if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
