//! One module per resource; its request and answer bodies are the types of
//! `vault_proto`'s module of the same name. Handlers parse and check the
//! request, run storage calls on the blocking pool through
//! [`AppState::db`](crate::AppState::db), notify after commits, and answer
//! with JSON or an [`ApiError`].

pub mod auth;
pub mod circles;
pub mod health;
pub mod invites;
pub mod manifests;
pub mod metrics;
pub mod shares;
pub mod ws;
pub mod zones;

use crate::error::ApiError;

/// 404 `not_found` for every unknown route.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route")
}

/// 405 `method_not_allowed` for a known route with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// 32 bytes from the operating system's random source.
pub(crate) fn random32() -> Result<[u8; 32], ApiError> {
    let mut out = [0u8; 32];
    getrandom::fill(&mut out).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(out)
}
