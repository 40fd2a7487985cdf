//! `GET /org/audit`: the trail, newest first, paged by id.

use actix_web::{web, HttpResponse};

use crate::http::error::ApiResult;
use crate::service::audit::{self, AuditQuery};
use crate::service::{App, Principal};

pub async fn list(app: web::Data<App>, who: Principal, q: web::Query<AuditQuery>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(audit::list(&app, who, q.into_inner()).await?))
}
