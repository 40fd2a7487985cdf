//! The one place where an error becomes an HTTP status. Every error body
//! is `{"error": message, "code": snake_case}`; internal failures are
//! logged and answered with a fixed message.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::domain::{Code, Error};

pub type ApiResult<T> = Result<T, ApiError>;

/// A domain error on its way out over HTTP.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// What each code means in HTTP.
pub fn status_of(code: Code) -> StatusCode {
    use Code::*;
    match code {
        BadRequest | InvalidRequest | InvalidId | InvalidJson | InvalidQuery | InvalidTemplate | InvalidBundle
        | InvalidPlugin | UnsupportedSource | InvalidLoginLink | NotASession => StatusCode::BAD_REQUEST,
        Unauthorized => StatusCode::UNAUTHORIZED,
        Forbidden | CrossSiteRequest | CorsOriginNotAllowed | ControlPlaneForbidden => StatusCode::FORBIDDEN,
        NotFound | PluginNotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        AlreadyRotated | ChannelExists | ConfirmationRequired | ParentCycle | PluginExists | TemplateExists => {
            StatusCode::CONFLICT
        }
        MissingEnv => StatusCode::PRECONDITION_FAILED,
        PolicyViolation => StatusCode::UNPROCESSABLE_ENTITY,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Sha256Mismatch => StatusCode::UNPROCESSABLE_ENTITY,
        RateLimited | TooManyTokens | TooManyPending => StatusCode::TOO_MANY_REQUESTS,
        Internal | DecryptionFailed => StatusCode::INTERNAL_SERVER_ERROR,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", status_of(self.0.code).as_u16(), self.0)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.code)
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.0;
        if let Some(cause) = &e.cause {
            tracing::error!(error = %cause, "internal error");
        }
        let mut body = e.extra.as_deref().cloned().unwrap_or_default();
        body.insert("error".into(), json!(e.message));
        body.insert("code".into(), json!(e.code.as_str()));
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(secs) = e.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(body)
    }
}

pub fn invalid_json(message: impl std::fmt::Display) -> ApiError {
    ApiError(Error::new(Code::InvalidJson, format!("invalid body: {message}")))
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req: &HttpRequest| {
            let e = match &err {
                JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => Error::new(
                    Code::PayloadTooLarge,
                    format!("the body exceeds the {limit}-byte limit"),
                ),
                JsonPayloadError::ContentType => Error::new(
                    Code::UnsupportedMediaType,
                    "send the body as JSON with Content-Type: application/json",
                ),
                JsonPayloadError::Deserialize(d) => return invalid_json(d).into(),
                _ => Error::new(Code::InvalidJson, "the body could not be read as JSON"),
            };
            ApiError(e).into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError(Error::new(Code::InvalidQuery, format!("invalid query string: {err}"))).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError(Error::new(Code::NotFound, format!("invalid path: {err}"))).into()
    })
}

/// An error body with a status of the framework's own choosing (405, 408,
/// 413, 431, …), in our shape.
fn framework_error(status: StatusCode) -> HttpResponse {
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => Code::RequestTimeout,
        s if s.is_server_error() => Code::Internal,
        _ => Code::BadRequest,
    };
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    HttpResponse::build(status).json(json!({ "error": message, "code": code.as_str() }))
}

/// Framework-made errors arrive with a plain body; give them the same JSON
/// shape as ours.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let (req, _) = res.into_parts();
        let body: HttpResponse<BoxBody> = framework_error(status);
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, body).map_into_right_body(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn errors_render_json_with_code() {
        let res = ApiError(Error::not_found("workspace")).error_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let body = to_bytes(res.into_body()).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"error": "workspace not found", "code": "not_found"}));
    }

    #[actix_web::test]
    async fn unauthorized_carries_the_bearer_challenge() {
        let res = ApiError(Error::unauthorized()).error_response();
        assert_eq!(res.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    }

    #[actix_web::test]
    async fn internal_errors_hide_their_cause() {
        let res = ApiError(Error::internal("disk I/O error at /secret/path")).error_response();
        let body = to_bytes(res.into_body()).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
    }

    #[test]
    fn every_code_has_a_4xx_or_5xx() {
        for code in [
            Code::Unauthorized,
            Code::TooManyPending,
            Code::DecryptionFailed,
            Code::MissingEnv,
        ] {
            assert!(status_of(code).is_client_error() || status_of(code).is_server_error());
        }
    }
}
