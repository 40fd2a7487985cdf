use std::process::ExitCode;

use clap::Parser;
use molecule_tenant::cli::{commands, healthcheck, mcp, scan, serve, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve::serve(*a),
        Command::MintKey(a) => commands::mint_key(a),
        Command::ListKeys(a) => commands::list_keys(a),
        Command::RevokeKey(a) => commands::revoke_key(a),
        Command::RotateSecretsKey(a) => commands::rotate_secrets_key(a),
        Command::Backup(a) => commands::backup(a),
        Command::Restore(a) => commands::restore(a),
        Command::Audit(a) => commands::audit(a),
        Command::RotateAuditKey(a) => commands::rotate_audit_key(a),
        Command::LoginUrl(a) => commands::login_url(a),
        Command::EndSessions(a) => commands::end_sessions(a),
        Command::OrgTemplate(c) => commands::org_template(c),
        Command::Mcp(a) => mcp::run(a),
        Command::Healthcheck(a) => healthcheck::run(a),
        // 1 means "found" there, as with secret scanners: an error is 2.
        Command::Scan(a) => scan::run(a).or_else(|e| {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
