//! Extractors whose rejections are our JSON errors: [`AppJson`] (bodies),
//! [`RecordsBody`] (a binary record list), [`AppQuery`], [`AppPath`], and
//! authentication: [`Bearer`] (the hash of the presented token) and
//! [`Member`] (a valid session token, after the per-device rate limit).

use crate::error::ApiError;
use crate::state::{AppState, unix_now};
use crate::storage::{Hash32, PeerBytes, StorageError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use vault_proto::RECORDS_MEDIA_TYPE;
use vault_proto::auth::BearerToken;
use vault_proto::codec::parse_uuid;

/// A JSON body. Not JSON or the wrong shape: 400 `bad_json`; another
/// content type: 415; over the body limit: 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(AppJson(value))
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// A binary record list body (`application/vnd.vault.records`), not yet
/// decoded. Another content type: 415; over the route's body limit: 413.
#[derive(Debug, Clone)]
pub struct RecordsBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RecordsBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media_ok = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(RECORDS_MEDIA_TYPE));
        if !media_ok {
            return Err(ApiError::UnsupportedMediaType(RECORDS_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| match r.status() {
                _ if crate::middleware::body_timed_out(&r) => ApiError::RequestTimeout,
                StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::TooLarge("the body is over the size limit")
                }
                _ => ApiError::invalid("the body could not be read"),
            })?;
        Ok(RecordsBody(bytes))
    }
}

/// Query parameters; a malformed one is 400 `invalid`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(AppQuery(value))
    }
}

/// Path parameters; a malformed path is 404 `not_found`.
#[derive(Debug, Clone)]
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(AppPath(value))
    }
}

/// The SHA-256 of the bearer token presented; 401 if there is none or it
/// is not 32 bytes of base64url. The token itself is never kept or logged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bearer(pub Hash32);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(..)")
    }
}

/// The SHA-256 of a token's bytes, as stored.
pub fn token_hash(token: &[u8]) -> Hash32 {
    Sha256::digest(token).into()
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(BearerToken::from_authorization)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Bearer(token_hash(token.expose_secret())))
    }
}

/// A device authenticated by a session token: a current member of
/// `circle_id` (a removed member's tokens are deleted with its removal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The circle the token is for.
    pub circle_id: Uuid,
    /// The device.
    pub peer: PeerBytes,
    /// When its session token expires (Unix seconds).
    pub expires: i64,
}

impl Member {
    /// Checks that a circle named in the path is the token's: 403 if not
    /// (whether or not that circle exists).
    pub fn require_circle(&self, path_circle: &str) -> Result<Uuid, ApiError> {
        match parse_uuid("circle_id", path_circle) {
            Ok(id) if id == self.circle_id => Ok(id),
            _ => Err(ApiError::Forbidden("the token is for another circle")),
        }
    }

    /// Resolves a token hash to its member; 401 for an unknown or expired one.
    pub async fn from_token(state: &AppState, hash: Hash32) -> Result<Member, ApiError> {
        let now = unix_now();
        let row = state
            .db(move |s| {
                s.token(&hash, now).map_err(|e| match e {
                    StorageError::NotFound => ApiError::Unauthorized,
                    other => other.into(),
                })
            })
            .await?;
        if row.disabled {
            return Err(ApiError::CircleDisabled);
        }
        state.limits().check_device(row.circle_id, &row.peer)?;
        Ok(Member {
            circle_id: row.circle_id,
            peer: row.peer,
            expires: row.expires,
        })
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Bearer(hash) = Bearer::from_request_parts(parts, state).await?;
        Member::from_token(state, hash).await
    }
}
