//! The error answer of every failed request (schema/PROTOCOL.md,
//! "Conventions"): `{"error": {"code": "...", "message": "..."}}`, whose
//! `code` is for programs and `message` for people.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::hash::{Hash, Hasher};

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What failed.
    pub error: ErrorDetail,
}

/// The code and message of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The machine-readable code; its status is PROTOCOL.md's.
    pub code: ErrorCode,
    /// For people: what was wrong. Never the cause of a 500.
    pub message: String,
}

impl ErrorBody {
    /// The body of an error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

/// An error code, one per row of PROTOCOL.md's table. On the wire it is
/// its snake_case name ([`ErrorCode::as_str`]). A code this version does
/// not know (a newer server's) deserializes into [`ErrorCode::Other`] with
/// its text, so a client can still report it; [`ErrorCode::parse`] (and
/// deserialization) never builds `Other` from a known code's text, and
/// codes compare by their text.
#[derive(Debug, Clone)]
pub enum ErrorCode {
    /// 400: the body is not JSON, or not an object of the documented shape.
    BadJson,
    /// 400: well-formed JSON whose values are wrong.
    Invalid,
    /// 401: no bearer token, or an unknown, forged or expired one.
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 403: the server's admin disabled the circle: its devices are
    /// refused and their sockets closed until it is enabled again.
    CircleDisabled,
    /// 403: this server does not let the caller create a circle: its
    /// registration is closed, or it needs a registration token and got
    /// none, or one that is unknown, used, expired or revoked.
    RegistrationRefused,
    /// 403: the change would take the circle past one of its quotas
    /// (devices, records or bytes; the message names it): nothing of it
    /// was stored.
    QuotaExceeded,
    /// 404: unknown route, circle, invite or zone.
    NotFound,
    /// 405: known route, wrong method.
    MethodNotAllowed,
    /// 408: the request's body did not arrive within the server's time.
    RequestTimeout,
    /// 409: the log's head moved, the thing already exists, or a signed
    /// manifest's counter does not grow.
    Conflict,
    /// 409: a removal's cut is not the zone's state any more (a push
    /// landed since): sync, prepare the removal again, retry.
    ZoneMoved,
    /// 410: the invite expired or was already used.
    Gone,
    /// 410: a change token to resync from the start.
    TokenExpired,
    /// 413: a body (or part of one) over its limit.
    TooLarge,
    /// 414: the request target (path and query) is too long.
    UriTooLong,
    /// 431: the request's headers are too many or too large.
    HeadersTooLarge,
    /// 415: a body of another media type than the route's.
    UnsupportedMediaType,
    /// 429: over a rate limit; `Retry-After` gives seconds.
    RateLimited,
    /// 500: the server failed.
    Internal,
    /// 503: the server is shutting down or the database is busy.
    Unavailable,
    /// A code this version does not know, as the server sent it.
    Other(String),
}

/// Every known code, for [`ErrorCode::parse`].
const KNOWN: [ErrorCode; 21] = [
    ErrorCode::BadJson,
    ErrorCode::Invalid,
    ErrorCode::Unauthorized,
    ErrorCode::Forbidden,
    ErrorCode::RegistrationRefused,
    ErrorCode::CircleDisabled,
    ErrorCode::QuotaExceeded,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::RequestTimeout,
    ErrorCode::Conflict,
    ErrorCode::ZoneMoved,
    ErrorCode::Gone,
    ErrorCode::TokenExpired,
    ErrorCode::TooLarge,
    ErrorCode::UriTooLong,
    ErrorCode::HeadersTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::RateLimited,
    ErrorCode::Internal,
    ErrorCode::Unavailable,
];

impl ErrorCode {
    /// The code's text on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RegistrationRefused => "registration_refused",
            ErrorCode::CircleDisabled => "circle_disabled",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ZoneMoved => "zone_moved",
            ErrorCode::Gone => "gone",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Other(code) => code,
        }
    }

    /// The code of a text: a known one, else [`ErrorCode::Other`].
    pub fn parse(text: &str) -> ErrorCode {
        KNOWN
            .into_iter()
            .find(|c| c.as_str() == text)
            .unwrap_or_else(|| ErrorCode::Other(text.to_owned()))
    }
}

impl From<&str> for ErrorCode {
    fn from(text: &str) -> Self {
        ErrorCode::parse(text)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for ErrorCode {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ErrorCode {}

impl Hash for ErrorCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(ErrorCode::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_code_round_trips_by_its_text() {
        for code in KNOWN {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert!(!matches!(back, ErrorCode::Other(_)), "{code}");
            assert_eq!(back, code);
        }
        assert_eq!(ErrorCode::TokenExpired.as_str(), "token_expired");
        assert_eq!(
            ErrorCode::UnsupportedMediaType.as_str(),
            "unsupported_media_type"
        );
    }

    #[test]
    fn unknown_codes_keep_their_text() {
        let code: ErrorCode = serde_json::from_str(r#""teapot""#).unwrap();
        assert_eq!(code, ErrorCode::Other("teapot".into()));
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""teapot""#);
        assert_eq!(ErrorCode::Other("gone".into()), ErrorCode::Gone);
        assert!(serde_json::from_str::<ErrorCode>("7").is_err());
    }

    #[test]
    fn the_envelope_is_pinned() {
        let body = ErrorBody::new(ErrorCode::NotFound, "no such route");
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json,
            r#"{"error":{"code":"not_found","message":"no such route"}}"#
        );
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), body);
        assert!(serde_json::from_str::<ErrorBody>(r#"{"error":{"code":"x"}}"#).is_err());
    }
}
