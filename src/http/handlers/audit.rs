//! `GET /org/audit`: the trail, newest first, paged by id, with its head;
//! `GET /org/audit/verify`: whether it is intact.

use actix_web::{web, HttpResponse};

use crate::http::error::ApiResult;
use crate::http::gate::{AdminWide, AuditReader, Gated};
use crate::service::audit::{self, AuditQuery};
use crate::service::App;

pub async fn list(
    app: web::Data<App>,
    Gated(who, _): Gated<AuditReader>,
    q: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(audit::list(&app, who, q.into_inner()).await?))
}

pub async fn verify(app: web::Data<App>, Gated(who, _): Gated<AdminWide>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(audit::verify(&app, who).await?))
}
