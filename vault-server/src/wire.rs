//! Wire encodings: binary values are base64url without padding; `peer_id`
//! is 64 lowercase hex digits, `invite_id` 32, `circle_id` a hyphenated
//! UUID. Decoding failures are 400 `invalid` (or 404 for ids in a path).
//! Sync records travel in `vault_core::sync`'s binary formats, under their
//! own media types.

use crate::error::ApiError;
use crate::storage::{InviteId, PeerBytes};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use std::borrow::Cow;
use uuid::Uuid;

/// The media type of a record list (`vault_core::sync::encode_records`):
/// a push's body, a buckets answer.
pub const RECORDS_MEDIA_TYPE: &str = "application/vnd.vault.records";

/// The media type of a changes page (`vault_core::sync::ChangesPage`).
pub const CHANGES_MEDIA_TYPE: &str = "application/vnd.vault.changes";

/// Encodes bytes as base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

/// Decodes a base64url field (no padding, canonical).
pub fn unb64(field: &'static str, text: &str) -> Result<Vec<u8>, ApiError> {
    BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| ApiError::Invalid(Cow::Owned(format!("{field}: not base64url"))))
}

/// Decodes a base64url field of exactly `N` bytes.
pub fn unb64_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], ApiError> {
    unb64(field, text)?
        .try_into()
        .map_err(|_| ApiError::Invalid(Cow::Owned(format!("{field}: expected {N} bytes"))))
}

/// Encodes a peer id.
pub fn peer_hex(peer: &PeerBytes) -> String {
    HEXLOWER.encode(peer)
}

/// Parses a peer id (64 lowercase hex digits).
pub fn parse_peer(field: &'static str, text: &str) -> Result<PeerBytes, ApiError> {
    let bad = || {
        ApiError::Invalid(Cow::Owned(format!(
            "{field}: expected 64 lowercase hex digits"
        )))
    };
    if text.len() != 64 {
        return Err(bad());
    }
    HEXLOWER
        .decode(text.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)
}

/// Parses a circle id in a body (a hyphenated UUID).
pub fn parse_circle(field: &'static str, text: &str) -> Result<Uuid, ApiError> {
    match Uuid::try_parse(text) {
        Ok(id) if id.hyphenated().to_string() == text.to_ascii_lowercase() => Ok(id),
        _ => Err(ApiError::Invalid(Cow::Owned(format!(
            "{field}: expected a hyphenated UUID"
        )))),
    }
}

/// Parses an invite id (32 lowercase hex digits); `None` if malformed.
pub fn parse_invite(text: &str) -> Option<InviteId> {
    if text.len() != 32 {
        return None;
    }
    HEXLOWER
        .decode(text.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
}

/// Encodes an invite id.
pub fn invite_hex(id: &InviteId) -> String {
    HEXLOWER.encode(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64url_is_unpadded_and_strict() {
        assert_eq!(b64(&[0xfb, 0xff]), "-_8");
        assert_eq!(unb64("x", "-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(unb64("x", "-_8=").is_err(), "padding refused");
        assert!(unb64("x", "+/8").is_err(), "standard alphabet refused");
        assert!(
            unb64("x", "-_9").is_err(),
            "non-canonical trailing bits refused"
        );
        assert!(unb64_array::<3>("x", "-_8").is_err());
    }

    #[test]
    fn ids_are_lowercase_hex_of_their_length() {
        let p = [0xabu8; 32];
        assert_eq!(parse_peer("p", &peer_hex(&p)).unwrap(), p);
        assert!(parse_peer("p", &peer_hex(&p).to_uppercase()).is_err());
        assert!(parse_peer("p", "ab").is_err());
        assert_eq!(parse_invite(&invite_hex(&[1; 16])), Some([1; 16]));
        assert_eq!(parse_invite("0g000000000000000000000000000000"), None);
        let c = Uuid::new_v4();
        assert_eq!(parse_circle("c", &c.to_string()).unwrap(), c);
        assert!(parse_circle("c", &c.simple().to_string()).is_err());
    }
}
