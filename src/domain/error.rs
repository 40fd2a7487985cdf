//! The one error type of the rules and the use cases. Each error carries a
//! stable code (what clients match on) and a message for people; which
//! HTTP status a code means is decided in one place only, `http/error.rs`.

use serde_json::{Map, Value};

/// Every error code a caller can see. Stable: clients match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    BadRequest,
    InvalidRequest,
    InvalidId,
    InvalidJson,
    InvalidQuery,
    InvalidTemplate,
    InvalidBundle,
    InvalidPlugin,
    UnsupportedSource,
    InvalidLoginLink,
    NotASession,
    Unauthorized,
    Forbidden,
    CrossSiteRequest,
    CorsOriginNotAllowed,
    ControlPlaneForbidden,
    NotFound,
    PluginNotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    AlreadyRotated,
    ChannelExists,
    ConfirmationRequired,
    ParentCycle,
    PluginExists,
    TemplateExists,
    MissingEnv,
    PolicyViolation,
    PayloadTooLarge,
    UnsupportedMediaType,
    Sha256Mismatch,
    RateLimited,
    TooManyTokens,
    TooManyPending,
    Internal,
    DecryptionFailed,
    Unavailable,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::InvalidRequest => "invalid_request",
            Code::InvalidId => "invalid_id",
            Code::InvalidJson => "invalid_json",
            Code::InvalidQuery => "invalid_query",
            Code::InvalidTemplate => "invalid_template",
            Code::InvalidBundle => "invalid_bundle",
            Code::InvalidPlugin => "invalid_plugin",
            Code::UnsupportedSource => "unsupported_source",
            Code::InvalidLoginLink => "invalid_login_link",
            Code::NotASession => "not_a_session",
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::CrossSiteRequest => "cross_site_request",
            Code::CorsOriginNotAllowed => "cors_origin_not_allowed",
            Code::ControlPlaneForbidden => "control_plane_forbidden",
            Code::NotFound => "not_found",
            Code::PluginNotFound => "plugin_not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::NotAcceptable => "not_acceptable",
            Code::RequestTimeout => "request_timeout",
            Code::AlreadyRotated => "already_rotated",
            Code::ChannelExists => "channel_exists",
            Code::ConfirmationRequired => "confirmation_required",
            Code::ParentCycle => "parent_cycle",
            Code::PluginExists => "plugin_exists",
            Code::TemplateExists => "template_exists",
            Code::MissingEnv => "missing_env",
            Code::PolicyViolation => "policy_violation",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::Sha256Mismatch => "sha256_mismatch",
            Code::RateLimited => "rate_limited",
            Code::TooManyTokens => "too_many_tokens",
            Code::TooManyPending => "too_many_pending",
            Code::Internal => "internal",
            Code::DecryptionFailed => "decryption_failed",
            Code::Unavailable => "unavailable",
        }
    }
}

#[derive(Debug)]
pub struct Error {
    pub code: Code,
    /// Shown to the caller.
    pub message: String,
    /// Extra top-level fields for the body (e.g. the children of a 409).
    pub extra: Option<Box<Map<String, Value>>>,
    /// Seconds the caller should wait before trying again.
    pub retry_after: Option<u64>,
    /// Why an internal error happened: logged where it is answered, never
    /// shown.
    pub cause: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            extra: None,
            retry_after: None,
            cause: None,
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value);
        self
    }

    /// The single answer for missing, malformed, unknown, revoked and
    /// expired credentials, so none can be told apart.
    pub fn unauthorized() -> Self {
        Self::new(Code::Unauthorized, "missing or invalid credentials")
    }

    /// Too many failed authentications from this address or with this token.
    pub fn throttled(retry_after: u64) -> Self {
        let mut e = Self::new(Code::RateLimited, "too many failed authentications; retry later");
        e.retry_after = Some(retry_after);
        e
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(Code::Internal, "internal error");
        e.cause = Some(cause.to_string());
        e
    }

    pub fn unavailable() -> Self {
        Self::new(Code::Unavailable, "datastore busy or unavailable, retry shortly")
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
