//! A workspace's own tokens. Org keys with write access mint and revoke
//! them. The workspace's own token may list them and revoke itself, but not
//! mint: a leaked token must not be able to mint a sibling that survives
//! its revocation.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{mint, App, Principal};
use crate::domain::audit::{Action, Actor};
use crate::domain::authz::Need;
use crate::domain::ids::{TokenId, WorkspaceId};
use crate::domain::keys::{expiry, WARNING};
use crate::domain::time::Time;
use crate::domain::token::TokenKind;
use crate::domain::{Code, Error, Result};
use crate::store::tokens::{self, TokenRow};
use crate::store::{audit, WriteCtx};

pub const MAX_LIVE_PER_WORKSPACE: i64 = 50;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintTokenRequest {
    expires_in: Option<i64>,
    expires_at: Option<String>,
}

#[derive(Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub prefix: String,
    pub created_by: String,
    pub created_at: Time,
    pub expires_at: Option<Time>,
    pub last_used_at: Option<Time>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
}

#[derive(Serialize)]
pub struct TokenList {
    pub count: usize,
    pub tokens: Vec<TokenView>,
}

#[derive(Serialize)]
pub struct MintedToken {
    pub id: TokenId,
    pub prefix: String,
    pub workspace_id: WorkspaceId,
    pub created_by: String,
    pub created_at: Time,
    pub expires_at: Option<Time>,
    pub auth_token: String,
    pub warning: &'static str,
}

/// A workspace id from a path; anything but an id is a 400.
pub fn workspace_id(raw: &str) -> Result<WorkspaceId> {
    WorkspaceId::parse(raw).ok_or_else(|| Error::new(Code::InvalidId, "invalid workspace id"))
}

/// Mints a token for a live workspace inside the caller's transaction
/// (429 once it has the maximum); returns the row and the token.
pub fn insert(
    ctx: &mut WriteCtx,
    id: WorkspaceId,
    actor: &Actor,
    expires_at: Option<i64>,
) -> Result<(TokenRow, String)> {
    if tokens::count_live(ctx, id, ctx.now)? >= MAX_LIVE_PER_WORKSPACE {
        return Err(Error::new(
            Code::TooManyTokens,
            format!("a workspace may have at most {MAX_LIVE_PER_WORKSPACE} live tokens; revoke one first"),
        ));
    }
    let minted = mint(TokenKind::Workspace)?;
    let row = tokens::insert(ctx, id, &actor.name, expires_at, &minted)?;
    Ok((row, minted.plaintext))
}

pub async fn list(app: &App, who: Principal, raw: &str) -> Result<TokenList> {
    let id = workspace_id(raw)?;
    let now = app.now();
    let rows = app
        .read(move |conn| {
            who.workspace(conn, id, Need::ReadOrAgent)?;
            Ok(tokens::list_live(conn, id, now)?)
        })
        .await?;
    let tokens: Vec<TokenView> = rows
        .into_iter()
        .map(|t| TokenView {
            last_used_at: app.creds.last_used(&t.token_hash).max(t.last_used_at).map(Time),
            id: t.id,
            prefix: t.prefix,
            created_by: t.created_by,
            created_at: Time(t.created_at),
            expires_at: t.expires_at.map(Time),
            last_used_ip: t.last_used_ip,
            last_used_user_agent: t.last_used_user_agent,
        })
        .collect();
    Ok(TokenList {
        count: tokens.len(),
        tokens,
    })
}

pub async fn mint_for(app: &App, who: Principal, raw: &str, req: Option<MintTokenRequest>) -> Result<MintedToken> {
    let id = workspace_id(raw)?;
    let req = req.unwrap_or_default();
    let asked = expiry(app.now(), req.expires_in, req.expires_at.as_deref())?;
    let (row, token) = app
        .write(who, move |ctx, who| {
            who.workspace(ctx, id, Need::Write)?;
            let expires_at = who.cap_expiry(ctx, ctx.now, asked)?;
            let actor = who.actor();
            let (row, token) = insert(ctx, id, &actor, expires_at)?;
            let detail = json!({"workspace_id": id, "prefix": row.prefix, "expires_at": row.expires_at.map(Time)});
            audit::append(
                ctx,
                &actor,
                Action::WorkspaceTokenMint,
                Some(&row.id.to_string()),
                detail,
            )?;
            Ok((row, token))
        })
        .await?;
    Ok(MintedToken {
        id: row.id,
        prefix: row.prefix,
        workspace_id: row.workspace_id,
        created_by: row.created_by,
        created_at: Time(row.created_at),
        expires_at: row.expires_at.map(Time),
        auth_token: token,
        warning: WARNING,
    })
}

pub async fn revoke(app: &App, who: Principal, raw_ws: &str, raw_token: &str) -> Result<String> {
    let id = workspace_id(raw_ws)?;
    let revoked = raw_token.to_string();
    let token_id = TokenId::parse(raw_token);
    app.write(who, move |ctx, who| {
        // A workspace token may revoke itself (a leaked agent token can
        // end itself), never its siblings.
        let own = who.workspace_id() == Some(id) && token_id.is_some() && who.cred.is(&revoked);
        if !own {
            who.check_workspace(ctx, id, Need::Write)?;
        }
        let Some(token_id) = token_id else {
            return Err(Error::not_found("token"));
        };
        if !tokens::revoke(ctx, id, token_id)? {
            return Err(Error::not_found("token"));
        }
        let detail = json!({"workspace_id": id});
        Ok(audit::append(
            ctx,
            &who.actor(),
            Action::WorkspaceTokenRevoke,
            Some(&token_id.to_string()),
            detail,
        )?)
    })
    .await?;
    Ok(raw_token.to_string())
}
