//! `molecule-tenant healthcheck`: `GET /health` for a container's or
//! systemd's health check, where curl may not be installed.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use ureq::tls::{PemItem, RootCerts, TlsConfig};

use super::args::duration;
use super::HealthcheckArgs;

fn agent(args: &HealthcheckArgs) -> anyhow::Result<ureq::Agent> {
    let timeout = duration("--timeout", "MOLECULE_HEALTHCHECK_TIMEOUT", &args.timeout)?;
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        // The check is of this box's server: never through a proxy that
        // the environment (HTTPS_PROXY, ALL_PROXY) names.
        .proxy(None)
        .max_redirects(0);
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {} (--ca-cert)", path.display()))?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(anyhow!("{} holds no certificate (--ca-cert)", path.display()));
        }
        config = config.tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(Arc::new(certs)))
                .build(),
        );
    }
    Ok(config.build().into())
}

pub fn run(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let agent = agent(&args)?;
    let mut res = match agent.get(&args.url).call() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("unhealthy: {} cannot be reached: {e}", args.url);
            return Ok(ExitCode::FAILURE);
        }
    };
    let status = res.status();
    let body: serde_json::Value = res.body_mut().read_json().unwrap_or_default();
    let word = |k: &str| body[k].as_str().unwrap_or("?").to_string();
    if status == 200 && body["status"] == "ok" {
        println!(
            "ok: version {}, schema {}, following changes made on the box",
            word("version"),
            body["schema_version"]
        );
        Ok(ExitCode::SUCCESS)
    } else {
        let why = body["error"].as_str().map_or_else(|| word("status"), str::to_string);
        eprintln!("unhealthy: {} answered {status}: {why}", args.url);
        Ok(ExitCode::FAILURE)
    }
}
