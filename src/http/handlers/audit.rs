//! `GET /org/audit`: the trail, newest first, paged by id.

use actix_web::{web, HttpResponse};

use crate::http::error::ApiResult;
use crate::http::gate::{AuditReader, Gated};
use crate::service::audit::{self, AuditQuery};
use crate::service::App;

pub async fn list(
    app: web::Data<App>,
    Gated(who, _): Gated<AuditReader>,
    q: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(audit::list(&app, who, q.into_inner()).await?))
}
