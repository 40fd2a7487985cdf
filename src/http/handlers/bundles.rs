//! Bundles: a workspace tree as one JSON document.

use actix_web::{web, HttpResponse};

use crate::domain::bundle::Bundle;
use crate::http::body::Json;
use crate::http::error::ApiResult;
use crate::http::gate::{AdminWide, Gated, WsRead};
use crate::service::bundles;
use crate::service::App;

pub async fn import(
    app: web::Data<App>,
    Gated(who, _): Gated<AdminWide>,
    body: Json<Bundle>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(bundles::import(&app, who, body.into_inner()).await?))
}

pub async fn export(
    app: web::Data<App>,
    Gated(who, _): Gated<WsRead>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(bundles::export(&app, who, &id).await?))
}
