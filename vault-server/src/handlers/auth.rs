//! `POST /v1/auth/challenge` and `POST /v1/auth/token`: a current member
//! signs a fresh single-use challenge with its Ed25519 key and gets a
//! short-lived session token. Only the token's SHA-256 is stored.

use super::random32;
use crate::circle::auth_signature_ok;
use crate::error::ApiError;
use crate::extract::{AppJson, token_hash};
use crate::state::{AppState, unix_now};
use crate::storage::{Storage, StorageError};
use axum::extract::State;
use uuid::Uuid;
use vault_proto::auth::{
    BearerToken, ChallengeRequest, ChallengeResponse, TokenClaim, TokenRequest, TokenResponse,
};
use vault_proto::codec::b64;

/// A challenge's lifetime, in seconds.
pub const CHALLENGE_TTL_SECS: u64 = 60;

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
    let (circle_id, peer) = req.decode()?;
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
    let TokenClaim {
        circle_id,
        peer,
        challenge,
        signature,
    } = req.decode()?;
    let token = BearerToken::from_bytes(random32()?);
    let hash = token_hash(token.expose_secret());
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
    Ok(AppJson(TokenResponse::new(&token, ttl)))
}
