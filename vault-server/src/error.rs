//! The API's one error type. Every failure a client sees is
//! `{"error": {"code": "...", "message": "..."}}` (`vault_proto::ErrorBody`)
//! with the status that PROTOCOL.md gives its code. A 500 says nothing
//! about its cause: the cause goes to the log (which never holds tokens or
//! ciphertext).

use crate::storage::{
    AppendError, ChangesError, InviteError, IssueError, ManifestPutError, PushError, QuotaExceeded,
    ShareError, StorageError,
};
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use vault_proto::{DecodeError, ErrorBody, ErrorCode};

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `bad_json`: not JSON, or not an object of the documented shape.
    #[error("{0}")]
    BadJson(Cow<'static, str>),
    /// 400 `invalid`: well-formed JSON whose values are wrong.
    #[error("{0}")]
    Invalid(Cow<'static, str>),
    /// 401 `unauthorized`: no token, or an unknown, forged or expired one.
    #[error("missing, unknown or expired token")]
    Unauthorized,
    /// 403 `forbidden`: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 403 `circle_disabled`: the server's admin disabled the circle.
    #[error("the server's admin disabled this circle; nothing of it was deleted: ask the admin")]
    CircleDisabled,
    /// 403 `quota_exceeded`: the change would take the circle past a
    /// quota; nothing of it was stored.
    #[error(
        "{0}: nothing of it was stored; delete what is not needed, or ask the server's admin to raise the quota"
    )]
    QuotaExceeded(QuotaExceeded),
    /// 403 `registration_refused`: this server does not let the caller
    /// create a circle (closed, no token, or a token it refuses).
    #[error("{0}")]
    RegistrationRefused(Cow<'static, str>),
    /// 404 `not_found`: unknown route, circle or invite.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405 `method_not_allowed`: known route, wrong method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 408 `request_timeout`: the body did not arrive within
    /// `body_timeout_secs`.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 409 `conflict`: the log's head moved, or the thing already exists.
    #[error("{0}")]
    Conflict(&'static str),
    /// 409 `zone_moved`: a removal's cut is not the zone's state any more.
    #[error("a zone moved past the removal's cut: sync, then remove again")]
    ZoneMoved,
    /// 410 `gone`: the invite expired or was already used.
    #[error("{0}")]
    Gone(&'static str),
    /// 410 `token_expired`: a change token of another zone epoch, behind
    /// collected tombstones, or ahead of the zone: resync from the start.
    #[error("the change token expired: resync from the start")]
    TokenExpired,
    /// 413 `too_large`: a body (or part of one) over its limit.
    #[error("{0}")]
    TooLarge(&'static str),
    /// 414 `uri_too_long`: the request target is over 8 KiB.
    #[error("the request target is over 8 KiB")]
    UriTooLong,
    /// 431 `headers_too_large`: over 100 header lines or 32 KiB of them.
    #[error("the request's headers are over 100 lines or 32 KiB")]
    HeadersTooLarge,
    /// 415 `unsupported_media_type`: a body of another media type than the
    /// route's (`application/json`, or the one named).
    #[error("expected a body with Content-Type: {0}")]
    UnsupportedMediaType(&'static str),
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds to wait, at least 1.
        retry_after_secs: u64,
    },
    /// 500 `internal`: the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 503 `unavailable`: shutting down, or the database is busy.
    #[error("{0}")]
    Unavailable(&'static str),
}

impl ApiError {
    /// A 400 `invalid` with a fixed message, or one built at run time.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::Invalid(message.into())
    }

    /// A 500 for any failure; the cause is logged when the response is built.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ApiError {
        ApiError::Internal(e.into())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadJson(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_)
            | ApiError::RegistrationRefused(_)
            | ApiError::CircleDisabled
            | ApiError::QuotaExceeded(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) | ApiError::ZoneMoved => StatusCode::CONFLICT,
            ApiError::Gone(_) | ApiError::TokenExpired => StatusCode::GONE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadJson(_) => ErrorCode::BadJson,
            ApiError::Invalid(_) => ErrorCode::Invalid,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::RegistrationRefused(_) => ErrorCode::RegistrationRefused,
            ApiError::CircleDisabled => ErrorCode::CircleDisabled,
            ApiError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::RequestTimeout => ErrorCode::RequestTimeout,
            ApiError::UriTooLong => ErrorCode::UriTooLong,
            ApiError::HeadersTooLarge => ErrorCode::HeadersTooLarge,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::ZoneMoved => ErrorCode::ZoneMoved,
            ApiError::Gone(_) => ErrorCode::Gone,
            ApiError::TokenExpired => ErrorCode::TokenExpired,
            ApiError::TooLarge(_) => ErrorCode::TooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Internal(_) => ErrorCode::Internal,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %ErrorChain(cause.as_ref()), "request failed");
        }
        let body = ErrorBody::new(self.code(), self.to_string());
        let mut response = (self.status(), Json(body)).into_response();
        let retry = match &self {
            ApiError::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            ApiError::Unavailable(_) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Displays an error and its sources on one line.
pub(crate) struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if crate::middleware::body_timed_out(&r) {
            return ApiError::RequestTimeout;
        }
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge("the body is over the size limit"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::UnsupportedMediaType("application/json")
            }
            _ => match r {
                // serde's message names the field and the type expected.
                JsonRejection::JsonDataError(e) => ApiError::BadJson(e.body_text().into()),
                JsonRejection::JsonSyntaxError(_) => {
                    ApiError::BadJson("the body is not JSON".into())
                }
                _ => ApiError::BadJson("the body could not be read".into()),
            },
        }
    }
}

/// A malformed field of a body or query: 400 `invalid`, with the
/// field's name and what it should have been (`challenge: not base64url`).
impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        ApiError::Invalid(Cow::Owned(e.to_string()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::Invalid(r.body_text().into())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::NotFound("no such resource")
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::NotFound("not found"),
            StorageError::Conflict => ApiError::Conflict("already exists"),
            StorageError::Busy => ApiError::Unavailable("the database is busy; retry"),
            StorageError::Backend(_) | StorageError::Lock(_) | StorageError::Unsupported(_) => {
                ApiError::internal(e)
            }
        }
    }
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::NoCircle => ApiError::NotFound("no such circle"),
            AppendError::HeadMoved => {
                ApiError::Conflict("prev_hash is not the head: re-read the log and retry")
            }
            AppendError::BadSeq => ApiError::invalid("the entry's seq is not the head's plus one"),
            AppendError::SignerNotMember => ApiError::Forbidden("not a current member"),
            AppendError::PeerExists => ApiError::invalid("the peer is already in the circle"),
            AppendError::TargetNotMember => {
                ApiError::invalid("the peer to remove is not a current member")
            }
            AppendError::LastMember => ApiError::invalid("the last member cannot be removed"),
            AppendError::ZoneMoved => ApiError::ZoneMoved,
            AppendError::Quota(q) => ApiError::QuotaExceeded(q),
            AppendError::Storage(e) => e.into(),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Challenge => ApiError::Unauthorized,
            IssueError::NotMember => ApiError::Forbidden("not a current member"),
            IssueError::Disabled => ApiError::CircleDisabled,
            IssueError::Storage(e) => e.into(),
        }
    }
}

impl From<ShareError> for ApiError {
    fn from(e: ShareError) -> Self {
        match e {
            ShareError::RecipientNotMember => {
                ApiError::invalid("a recipient is not a current member")
            }
            ShareError::SenderNotMember => ApiError::Forbidden("not a current member"),
            ShareError::Storage(e) => e.into(),
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> Self {
        match e {
            InviteError::NotFound => ApiError::NotFound("no such invite"),
            InviteError::Gone => ApiError::Gone("the invite expired or was already used"),
            InviteError::Full => ApiError::TooLarge("the pairing session is full"),
            InviteError::Storage(e) => e.into(),
        }
    }
}

impl From<ChangesError> for ApiError {
    fn from(e: ChangesError) -> Self {
        match e {
            ChangesError::TokenExpired => ApiError::TokenExpired,
            ChangesError::Storage(e) => e.into(),
        }
    }
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::NotMember => ApiError::Forbidden("not a current member"),
            PushError::CirclePos => {
                ApiError::invalid("a record's circle_pos is past the circle log's head")
            }
            PushError::Quota(q) => ApiError::QuotaExceeded(q),
            PushError::Storage(e) => e.into(),
        }
    }
}

impl From<ManifestPutError> for ApiError {
    fn from(e: ManifestPutError) -> Self {
        match e {
            ManifestPutError::StaleCounter => {
                ApiError::Conflict("the manifest's counter is not greater than the one stored")
            }
            ManifestPutError::Storage(e) => e.into(),
        }
    }
}
