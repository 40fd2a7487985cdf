//! `GET /metrics`: Prometheus text format. Counts only; no secret, token or
//! id ever appears in it.

use actix_web::{web, HttpResponse};

use super::workspaces::status_of;
use crate::auth::{Failure, Principal};
use crate::db::workspaces as ws;
use crate::error::ApiResult;
use crate::metrics::family;
use crate::model::Role;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").get(metrics));
}

async fn metrics(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    who.org_wide(Role::ReadOnly)?;
    let now = state.now();
    let (rows, pending) = state
        .read(move |conn| {
            let pending: i64 = conn.query_row(
                "SELECT count(*) FROM approvals a JOIN workspaces w ON w.id = a.workspace_id
                 WHERE a.status = 'pending' AND a.expires_at > ?1 AND w.deleted_at IS NULL",
                [now],
                |r| r.get(0),
            )?;
            Ok((ws::list(conn, None)?, pending))
        })
        .await?;
    let mut by_status = std::collections::BTreeMap::from([
        ("awaiting_agent", 0.0),
        ("online", 0.0),
        ("offline", 0.0),
        ("paused", 0.0),
    ]);
    let mut idle = 0.0;
    for w in &rows {
        let (status, is_idle) = status_of(&w.as_ref(), now, &state.settings);
        *by_status.entry(status).or_default() += 1.0;
        idle += f64::from(u8::from(is_idle));
    }
    let (org_keys, ws_tokens, sessions) = state.db.creds.live_by_kind(now);
    let mut out = String::new();
    state.requests.render(&mut out);
    let failures: Vec<(String, f64)> = Failure::ALL
        .iter()
        .map(|f| (format!("reason=\"{}\"", f.as_str()), state.failures.total(*f) as f64))
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
    let statuses: Vec<(String, f64)> = by_status.iter().map(|(s, n)| (format!("status=\"{s}\""), *n)).collect();
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
        &[(String::new(), idle)],
    );
    family(
        &mut out,
        "molecule_approvals_pending",
        "gauge",
        "Approvals waiting for a decision.",
        &[(String::new(), pending as f64)],
    );
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out))
}
