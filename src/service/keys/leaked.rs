//! Leak reports: whoever holds a leaked token may kill it, as with
//! GitHub's credential-revocation API. `POST /org/tokens/leaked` takes up
//! to 100 tokens from anyone, revokes the live org keys and workspace
//! tokens among them, and answers the same whatever they were; `scan
//! --revoke` does it on the box for tokens found in files.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::audit::{Action, Actor};
use crate::domain::token::{self, TokenKind};
use crate::domain::{Code, Error, Result};
use crate::service::auth::client_text;
use crate::service::App;
use crate::store::{audit, keys, tokens, Db, WriteCtx};

pub const MAX_TOKENS: usize = 100;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// The leaked tokens, in full.
    tokens: Vec<String>,
}

/// The hashes of the reported tokens that could be credentials (anything
/// else is ignored, silently).
fn hashes(reported: &[String]) -> Vec<[u8; 32]> {
    reported
        .iter()
        .filter(|t| matches!(token::parse(t.trim()), Some(TokenKind::Org | TokenKind::Workspace)))
        .map(|t| token::hash(t.trim()))
        .collect()
}

/// Revokes what is live among `hashes`, each on the record as reported
/// from `client`; returns the display prefixes revoked.
pub fn revoke_reported(ctx: &mut WriteCtx, hashes: &[[u8; 32]], actor: &Actor) -> Result<Vec<String>> {
    let mut revoked = Vec::new();
    for h in hashes {
        if let Some(k) = keys::find_live_by_hash(ctx, h, ctx.now)? {
            keys::revoke(ctx, k.id)?;
            let detail = json!({"prefix": k.prefix, "name": k.name});
            audit::append(ctx, actor, Action::OrgKeyLeaked, Some(&k.id.to_string()), detail)?;
            revoked.push(k.prefix);
        } else if let Some((id, ws, prefix)) = tokens::find_live_by_hash(ctx, h, ctx.now)? {
            tokens::revoke(ctx, ws, id)?;
            let detail = json!({"prefix": prefix, "workspace_id": ws});
            audit::append(ctx, actor, Action::WorkspaceTokenLeaked, Some(&id.to_string()), detail)?;
            revoked.push(prefix);
        }
    }
    Ok(revoked)
}

/// A report from anyone. Throttled per address; answered alike whatever
/// the tokens were. Its time may differ (a revocation is a durable write),
/// which tells the reporter nothing it could not learn by presenting the
/// token. Only a report that revoked something is audited: reports of
/// dead or made-up tokens, from any number of addresses, cannot fill the
/// trail.
pub async fn report(app: &App, client: Option<IpAddr>, r: LeakReport) -> Result<Value> {
    if r.tokens.is_empty() || r.tokens.len() > MAX_TOKENS {
        return Err(Error::invalid(format!("tokens: between 1 and {MAX_TOKENS}")));
    }
    let addr = client_text(client);
    if let Some(secs) = app.leak_reports.retry_after(&addr, None, app.now()) {
        let mut e = Error::new(
            Code::RateLimited,
            "too many leak reports from this address; retry later",
        );
        e.retry_after = Some(secs);
        return Err(e);
    }
    app.leak_reports.record(&addr, None, app.now());
    let hashes = hashes(&r.tokens);
    let actor = Actor {
        name: "leak-report".into(),
        client: client.map(|c| c.to_string()),
        via: None,
    };
    let received = r.tokens.len();
    if !hashes.is_empty() {
        app.write_unauthenticated(move |ctx| {
            let revoked = revoke_reported(ctx, &hashes, &actor)?;
            if !revoked.is_empty() {
                let detail = json!({"tokens": received, "revoked": revoked.len()});
                audit::append(ctx, &actor, Action::LeakReport, None, detail)?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(json!({
        "status": "received",
        "tokens": received,
        "note": "every live org key or workspace token among them is revoked; the answer is the same whatever they were",
    }))
}

/// `scan --revoke` on the box.
pub fn revoke_on_box(db: &Db, found: &[String], now: i64) -> Result<Vec<String>> {
    let hashes = hashes(found);
    db.write_with(now, |ctx| revoke_reported(ctx, &hashes, &Actor::cli()))
}
