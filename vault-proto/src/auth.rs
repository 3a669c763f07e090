//! Authentication: `POST /v1/auth/challenge` and `POST /v1/auth/token`
//! bodies, and the bearer token's text (32 random bytes, base64url without
//! padding) as the `Authorization: Bearer TOKEN` header carries it.

use crate::codec::{
    DecodeError, PeerBytes, b64, parse_peer, parse_uuid, unb64, unb64_array, uuid_text,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;
use vault_core::circle::PeerId;

/// A bearer token's length in bytes: a session token, or a joiner's relay
/// token.
pub const TOKEN_LEN: usize = 32;

/// A session or relay token. It is a credential: its `Debug` shows
/// nothing, it is neither `Clone` nor comparable (the server compares
/// SHA-256 hashes); [`BearerToken::to_text`] and
/// [`BearerToken::expose_secret`] are the only ways to its value.
pub struct BearerToken([u8; TOKEN_LEN]);

impl BearerToken {
    /// A token of these bytes (the server draws them at random).
    pub fn from_bytes(bytes: [u8; TOKEN_LEN]) -> BearerToken {
        BearerToken(bytes)
    }

    /// Parses a token's text: base64url of exactly 32 bytes.
    pub fn parse(field: &'static str, text: &str) -> Result<BearerToken, DecodeError> {
        unb64_array(field, text).map(BearerToken)
    }

    /// Parses an `Authorization` header's value, `Bearer TOKEN` (the
    /// scheme in any case, blanks around the token ignored); `None` for
    /// anything else.
    pub fn from_authorization(value: &str) -> Option<BearerToken> {
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        BearerToken::parse("token", token.trim()).ok()
    }

    /// The token's text, as a JSON answer carries it.
    pub fn to_text(&self) -> String {
        b64(&self.0)
    }

    /// The `Authorization` header's value that presents the token.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.to_text())
    }

    /// The token's bytes (the server stores only their SHA-256).
    pub fn expose_secret(&self) -> &[u8; TOKEN_LEN] {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// `POST /v1/auth/challenge` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRequest {
    /// The circle, a hyphenated UUID.
    pub circle_id: String,
    /// The device, 64 lowercase hex digits.
    pub peer_id: String,
}

impl ChallengeRequest {
    /// The request of `peer` in `circle_id`.
    pub fn new(circle_id: Uuid, peer: &PeerId) -> ChallengeRequest {
        ChallengeRequest {
            circle_id: uuid_text(&circle_id),
            peer_id: peer.to_string(),
        }
    }

    /// The circle and the peer.
    pub fn decode(&self) -> Result<(Uuid, PeerBytes), DecodeError> {
        Ok((
            parse_uuid("circle_id", &self.circle_id)?,
            parse_peer("peer_id", &self.peer_id)?,
        ))
    }
}

/// `POST /v1/auth/challenge` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// 32 random bytes to sign, base64url.
    pub challenge: String,
    /// Seconds until the challenge expires.
    pub expires_in: u64,
}

impl ChallengeResponse {
    /// The challenge's 32 bytes.
    pub fn challenge(&self) -> Result<[u8; 32], DecodeError> {
        unb64_array("challenge", &self.challenge)
    }
}

/// `POST /v1/auth/token` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// The circle, a hyphenated UUID.
    pub circle_id: String,
    /// The device, 64 lowercase hex digits.
    pub peer_id: String,
    /// The challenge received, base64url.
    pub challenge: String,
    /// The device's Ed25519 signature over the auth payload, base64url.
    pub signature: String,
}

/// A [`TokenRequest`], decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaim {
    /// The circle.
    pub circle_id: Uuid,
    /// The device.
    pub peer: PeerBytes,
    /// The challenge it signed.
    pub challenge: [u8; 32],
    /// The signature (its length is checked with it).
    pub signature: Vec<u8>,
}

impl TokenRequest {
    /// The request of `peer` in `circle_id`, with its signature of the
    /// challenge.
    pub fn new(
        circle_id: Uuid,
        peer: &PeerId,
        challenge: &[u8; 32],
        signature: &[u8; 64],
    ) -> TokenRequest {
        TokenRequest {
            circle_id: uuid_text(&circle_id),
            peer_id: peer.to_string(),
            challenge: b64(challenge),
            signature: b64(signature),
        }
    }

    /// Every field decoded, in the order of the body (the first bad one
    /// is reported).
    pub fn decode(&self) -> Result<TokenClaim, DecodeError> {
        Ok(TokenClaim {
            circle_id: parse_uuid("circle_id", &self.circle_id)?,
            peer: parse_peer("peer_id", &self.peer_id)?,
            challenge: unb64_array("challenge", &self.challenge)?,
            signature: unb64("signature", &self.signature)?,
        })
    }
}

/// `POST /v1/auth/token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The session token, base64url.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl TokenResponse {
    /// The answer carrying `token`.
    pub fn new(token: &BearerToken, expires_in: u64) -> TokenResponse {
        TokenResponse {
            token: token.to_text(),
            expires_in,
        }
    }

    /// The session token.
    pub fn token(&self) -> Result<BearerToken, DecodeError> {
        BearerToken::parse("token", &self.token)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_32_bytes_of_base64url() {
        let t = BearerToken::from_bytes([7; 32]);
        assert_eq!(t.to_text().len(), 43);
        let same = |a: BearerToken| a.expose_secret() == t.expose_secret();
        assert!(same(BearerToken::parse("token", &t.to_text()).unwrap()));
        assert_eq!(format!("{t:?}"), "BearerToken(..)");
        assert!(BearerToken::parse("token", &b64(&[7; 31])).is_err());
        assert!(same(
            BearerToken::from_authorization(&t.authorization()).unwrap()
        ));
        let text = t.to_text();
        assert!(BearerToken::from_authorization(&format!("bearer  {text} ")).is_some());
        for bad in [
            text.clone(),
            format!("Basic {text}"),
            format!("Bearer {text}="),
            "Bearer".to_owned(),
        ] {
            assert!(BearerToken::from_authorization(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn requests_round_trip_and_decode() {
        let circle = Uuid::from_bytes([1; 16]);
        let peer = PeerId::from_bytes([2; 32]);
        let req = TokenRequest::new(circle, &peer, &[3; 32], &[4; 64]);
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(serde_json::from_str::<TokenRequest>(&json).unwrap(), req);
        let claim = req.decode().unwrap();
        assert_eq!(claim.circle_id, circle);
        assert_eq!(&claim.peer, peer.as_bytes());
        assert_eq!(claim.challenge, [3; 32]);
        assert_eq!(claim.signature, vec![4; 64]);
        let bad = TokenRequest {
            challenge: b64(&[3; 16]),
            ..req
        };
        assert_eq!(
            bad.decode().unwrap_err().to_string(),
            "challenge: expected 32 bytes"
        );
        let ch = ChallengeRequest::new(circle, &peer);
        assert_eq!(
            serde_json::to_value(&ch).unwrap(),
            serde_json::json!({"circle_id": circle.to_string(), "peer_id": peer.to_string()})
        );
        assert_eq!(ch.decode().unwrap(), (circle, *peer.as_bytes()));
    }

    #[test]
    fn answers_are_pinned_and_decode() {
        let a = ChallengeResponse {
            challenge: b64(&[5; 32]),
            expires_in: 60,
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"challenge":"{}","expires_in":60}}"#, b64(&[5; 32]))
        );
        let back: ChallengeResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back.challenge().unwrap(), [5; 32]);
        let t = TokenResponse::new(&BearerToken::from_bytes([6; 32]), 900);
        let back: TokenResponse =
            serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.token().unwrap().expose_secret(), &[6; 32]);
        assert!(serde_json::from_str::<TokenResponse>(r#"{"token":"x"}"#).is_err());
    }
}
