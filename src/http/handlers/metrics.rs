//! `GET /metrics`: Prometheus text format. Counts only; no secret, token or
//! id ever appears in it.

use actix_web::{web, HttpResponse};

use crate::http::error::ApiResult;
use crate::http::gate::{Gated, ReaderWide};
use crate::http::metrics::{family, RequestMetrics};
use crate::service::stats::{self, Gauges};
use crate::service::App;

pub async fn metrics(
    app: web::Data<App>,
    requests: web::Data<RequestMetrics>,
    Gated(who, _): Gated<ReaderWide>,
) -> ApiResult<HttpResponse> {
    let Gauges {
        credentials: (org_keys, ws_tokens, sessions),
        workspaces,
        idle,
        pending_approvals,
        failures,
    } = stats::gauges(&app, who).await?;
    let mut out = String::new();
    requests.render(&mut out);
    let failures: Vec<(String, f64)> = failures
        .iter()
        .map(|(f, n)| (format!("reason=\"{}\"", f.as_str()), *n as f64))
        .collect();
    family(
        &mut out,
        "molecule_auth_failures_total",
        "counter",
        "Failed authentications, by reason.",
        &failures,
    );
    family(
        &mut out,
        "molecule_live_credentials",
        "gauge",
        "Live, unexpired credentials, by kind.",
        &[
            ("kind=\"org_key\"".into(), org_keys as f64),
            ("kind=\"workspace_token\"".into(), ws_tokens as f64),
            ("kind=\"session\"".into(), sessions as f64),
        ],
    );
    let statuses: Vec<(String, f64)> = workspaces
        .iter()
        .map(|(s, n)| (format!("status=\"{s}\""), *n as f64))
        .collect();
    family(
        &mut out,
        "molecule_workspaces",
        "gauge",
        "Live workspaces, by status.",
        &statuses,
    );
    family(
        &mut out,
        "molecule_workspaces_idle",
        "gauge",
        "Online workspaces that are idle.",
        &[(String::new(), idle as f64)],
    );
    family(
        &mut out,
        "molecule_approvals_pending",
        "gauge",
        "Approvals waiting for a decision.",
        &[(String::new(), pending_approvals as f64)],
    );
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out))
}
