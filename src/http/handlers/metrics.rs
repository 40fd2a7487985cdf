//! `GET /metrics`: Prometheus text format. Counts only; no secret, token or
//! id ever appears in it.

use actix_web::{web, HttpResponse};
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

use crate::domain::{Code, Error};
use crate::http::error::ApiResult;
use crate::http::gate::{Gated, ReaderWide};
use crate::http::metrics::{RequestMetrics, Snapshot};
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
        audit_head,
        database_bytes,
        expiring,
        activity_dropped,
        followed: (unchanged, applied),
    } = stats::gauges(&app, who).await?;
    let mut s = Snapshot::default();
    let failures: Vec<(String, u64)> = failures.iter().map(|(f, n)| (f.as_str().to_owned(), *n)).collect();
    s.counter(
        "molecule_auth_failures",
        "Failed authentications, by reason",
        "reason",
        &failures,
    );
    s.gauge(
        "molecule_live_credentials",
        "Live, unexpired credentials, by kind",
        Some("kind"),
        &[
            ("org_key".into(), org_keys as i64),
            ("workspace_token".into(), ws_tokens as i64),
            ("session".into(), sessions as i64),
        ],
    );
    let statuses: Vec<(String, i64)> = workspaces.iter().map(|(st, n)| (st.to_string(), *n as i64)).collect();
    s.gauge(
        "molecule_workspaces",
        "Live workspaces, by status",
        Some("status"),
        &statuses,
    );
    s.gauge(
        "molecule_workspaces_idle",
        "Online workspaces that are idle",
        None,
        &[(String::new(), idle as i64)],
    );
    s.gauge(
        "molecule_approvals_pending",
        "Approvals waiting for a decision",
        None,
        &[(String::new(), pending_approvals)],
    );
    // The head, for a scraper to keep as a witness: the first 48 bits of
    // its hash fit a sample's float exactly.
    let (seq, hash48) = audit_head.map_or((0, 0), |(seq, h)| {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&h[..6]);
        (seq, i64::from_be_bytes(b))
    });
    s.gauge(
        "molecule_audit_head_seq",
        "The audit trail's newest entry, which is also its length",
        None,
        &[(String::new(), seq)],
    );
    s.gauge(
        "molecule_audit_head_hash48",
        "The first 48 bits of the newest audit entry's hash",
        None,
        &[(String::new(), hash48)],
    );
    s.gauge(
        "molecule_database_bytes",
        "The database file's size",
        None,
        &[(String::new(), database_bytes)],
    );
    let windows: Vec<(String, i64)> = expiring.iter().map(|(d, n)| (format!("{d}d"), *n)).collect();
    s.gauge(
        "molecule_keys_expiring",
        "Live org keys expiring within the window (7d is within 30d too)",
        Some("within"),
        &windows,
    );
    s.counter(
        "molecule_activity_dropped",
        "Key and token requests left out of the activity log (a flood past its buffer)",
        "log",
        &[("activity".into(), activity_dropped)],
    );
    s.counter(
        "molecule_followed_commits",
        "Commits the credential follower looked at, by whether they brought credential changes not yet applied",
        "credentials",
        &[("unchanged".into(), unchanged), ("applied".into(), applied)],
    );
    let mut out = String::new();
    requests
        .render(&mut out)
        .and_then(|()| s.render(&mut out))
        .map_err(|_| Error::new(Code::Internal, "the metrics could not be written"))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(out))
}
