//! `POST /v1/auth/challenge` and `POST /v1/auth/token`: a current member
//! signs a fresh single-use challenge with its Ed25519 key and gets a
//! short-lived session token. Only the token's SHA-256 is stored.

use super::random32;
use crate::circle::auth_signature_ok;
use crate::error::ApiError;
use crate::extract::{AppJson, token_hash};
use crate::state::{AppState, unix_now};
use crate::storage::{Storage, StorageError};
use crate::wire::{b64, parse_circle, parse_peer, unb64, unb64_array};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A challenge's lifetime, in seconds.
pub const CHALLENGE_TTL_SECS: u64 = 60;

/// `POST /v1/auth/challenge` body.
#[derive(Debug, Deserialize)]
pub struct ChallengeRequest {
    circle_id: String,
    peer_id: String,
}

/// `POST /v1/auth/challenge` answer.
#[derive(Debug, Serialize)]
pub struct ChallengeResponse {
    challenge: String,
    expires_in: u64,
}

/// `POST /v1/auth/token` body.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    circle_id: String,
    peer_id: String,
    challenge: String,
    signature: String,
}

/// `POST /v1/auth/token` answer.
#[derive(Serialize)]
pub struct TokenResponse {
    token: String,
    expires_in: u64,
}

/// 404 for an unknown circle, 403 for a peer that is not a current member.
fn require_current(
    s: &dyn Storage,
    circle_id: Uuid,
    peer: &[u8; 32],
) -> Result<crate::storage::MemberRow, ApiError> {
    match s.member(circle_id, peer) {
        Ok(m) if !m.removed => Ok(m),
        Ok(_) => Err(ApiError::Forbidden("not a current member")),
        Err(StorageError::NotFound) => {
            if s.circle_exists(circle_id)? {
                Err(ApiError::Forbidden("not a current member"))
            } else {
                Err(ApiError::NotFound("no such circle"))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Issues a challenge to a current member.
pub async fn challenge(
    State(state): State<AppState>,
    AppJson(req): AppJson<ChallengeRequest>,
) -> Result<AppJson<ChallengeResponse>, ApiError> {
    let circle_id = parse_circle("circle_id", &req.circle_id)?;
    let peer = parse_peer("peer_id", &req.peer_id)?;
    let challenge = random32()?;
    let expires = unix_now().saturating_add(CHALLENGE_TTL_SECS as i64);
    state
        .db(move |s| {
            require_current(s, circle_id, &peer)?;
            s.put_challenge(circle_id, &peer, &challenge, expires)
                .map_err(ApiError::from)
        })
        .await?;
    Ok(AppJson(ChallengeResponse {
        challenge: b64(&challenge),
        expires_in: CHALLENGE_TTL_SECS,
    }))
}

/// Exchanges a signed challenge for a session token.
pub async fn token(
    State(state): State<AppState>,
    AppJson(req): AppJson<TokenRequest>,
) -> Result<AppJson<TokenResponse>, ApiError> {
    let circle_id = parse_circle("circle_id", &req.circle_id)?;
    let peer = parse_peer("peer_id", &req.peer_id)?;
    let challenge = unb64_array::<32>("challenge", &req.challenge)?;
    let signature = unb64("signature", &req.signature)?;
    let token = random32()?;
    let hash = token_hash(&token);
    let ttl = state.config().token_ttl_secs;
    let now = unix_now();
    let expires = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    state
        .db(move |s| {
            // Any failure below still uses the challenge up.
            let burn = |s: &dyn Storage| {
                let _ = s.consume_challenge(circle_id, &peer, &challenge, now);
            };
            let member = match require_current(s, circle_id, &peer) {
                Ok(m) => m,
                Err(e) => {
                    burn(s);
                    return Err(e);
                }
            };
            if !auth_signature_ok(&member.keys, circle_id, &peer, &challenge, &signature) {
                burn(s);
                return Err(ApiError::Unauthorized);
            }
            s.issue_token(circle_id, &peer, &challenge, &hash, now, expires)
                .map_err(ApiError::from)
        })
        .await?;
    Ok(AppJson(TokenResponse {
        token: b64(&token),
        expires_in: ttl,
    }))
}
