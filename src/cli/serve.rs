//! `serve`: the flags into settings, then the server until a signal.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;

use super::args::{base_url, duration, proxy_net};
use super::ServeArgs;
use crate::clock::Clock;
use crate::http::server::Application;
use crate::settings::{ForwardedHeader, Settings};
use crate::telemetry;

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    telemetry::init(&args.log, &args.log_format)?;
    let mut settings = Settings::new(args.listen, args.data_dir.data_dir);
    settings.audit_key_file = args.data_dir.audit_key_file;
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
    for origin in &args.cors_origins {
        let origin = base_url("--cors-origin", "MOLECULE_CORS_ORIGINS", origin)?;
        settings.cors_origins.push(origin);
    }
    for net in &args.trusted_proxies {
        settings.trusted_proxies.push(proxy_net(net)?);
    }
    settings.forwarded_header = match args.forwarded_header.to_ascii_lowercase().as_str() {
        "x-forwarded-for" => ForwardedHeader::XForwardedFor,
        "forwarded" => ForwardedHeader::Forwarded,
        other => {
            bail!("--forwarded-header (MOLECULE_FORWARDED_HEADER): {other:?} is neither x-forwarded-for nor forwarded")
        }
    };
    settings.retention = duration("--retention", "MOLECULE_RETENTION", &args.retention)?;
    if settings.retention < Duration::from_secs(3600) {
        bail!("--retention (MOLECULE_RETENTION): at least 1h, so a refused request can still be traced");
    }
    if args.mcp_calls_per_minute == 0 {
        bail!("--mcp-calls-per-minute (MOLECULE_MCP_CALLS_PER_MINUTE): must be at least 1");
    }
    settings.mcp_calls_per_minute = args.mcp_calls_per_minute;
    settings.tls = args.tls_cert.zip(args.tls_key);
    if let Some(w) = args.workers {
        if w == 0 {
            bail!("--workers (MOLECULE_WORKERS): must be at least 1");
        }
        settings.workers = w;
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone(), Clock::default())?;
        tracing::info!(
            listen = %settings.listen, port = app.port(), tls = settings.tls.is_some(),
            data_dir = %settings.data_dir.display(),
            live_credentials = app.state().creds.live_count(), "molecule-tenant serving"
        );
        app.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}
