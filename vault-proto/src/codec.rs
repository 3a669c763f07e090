//! The text codecs of JSON fields (schema/PROTOCOL.md, "Conventions"):
//! binary values as base64url without padding, `peer_id` as 64 lowercase
//! hex digits, `invite_id` as 32, `circle_id` and item uuids as hyphenated
//! UUIDs, change tokens as `EPOCH.SEQ`. Decoding is strict (one text per
//! value) and fails with a [`DecodeError`] naming the field; its text is
//! the message the server answers a bad request with.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use std::fmt;
use uuid::Uuid;
use vault_core::circle::EntryError;
use vault_core::sync::{ManifestError, Token, WireError};

/// A peer id's bytes (the SHA-256 of the peer's Ed25519 key).
pub type PeerBytes = [u8; 32];

/// An invite id's bytes.
pub type InviteBytes = [u8; 16];

/// A JSON field whose text is not what the protocol says. Its `Display`
/// is `"{field}: {expected}"`, such as `challenge: not base64url` or
/// `peer_id: expected 64 lowercase hex digits`: the server sends exactly
/// that as a 400 `invalid` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {expected}")]
pub struct DecodeError {
    /// The field, as named on the wire.
    pub field: &'static str,
    /// What its text failed to be.
    pub expected: Expected,
}

impl DecodeError {
    /// The failure of `field`.
    pub const fn new(field: &'static str, expected: Expected) -> DecodeError {
        DecodeError { field, expected }
    }
}

/// What a field's text should have been. `Display` says how it failed, as
/// the server words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// base64url without padding, canonical.
    Base64Url,
    /// This many bytes (after base64url decoding).
    Bytes(usize),
    /// A peer id: 64 lowercase hex digits.
    PeerId,
    /// An invite id: 32 lowercase hex digits.
    InviteId,
    /// A UUID in its hyphenated form (a `circle_id`, an item's `uuid`).
    HyphenatedUuid,
    /// A change token, `EPOCH.SEQ`.
    ChangeToken,
    /// A bucket id list: 1 to 256 decimals from 0 to 255, comma-separated.
    BucketIds,
    /// At least one byte.
    NonEmpty,
    /// A record list with exactly one record (a push conflict's `current`).
    OneRecord,
    /// A record list (`vault_core::sync::decode_records`).
    Records(WireError),
    /// A circle log entry (`vault_core::circle::SignedEntry::decode`).
    Entry(EntryError),
    /// A signed manifest (`vault_core::sync::SignedManifest::decode`).
    Manifest(ManifestError),
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Base64Url => f.write_str("not base64url"),
            Expected::Bytes(n) => write!(f, "expected {n} bytes"),
            Expected::PeerId => f.write_str("expected 64 lowercase hex digits"),
            Expected::InviteId => f.write_str("expected 32 lowercase hex digits"),
            Expected::HyphenatedUuid => f.write_str("expected a hyphenated UUID"),
            Expected::ChangeToken => f.write_str("expected EPOCH.SEQ"),
            Expected::BucketIds => {
                f.write_str("expected 1 to 256 bucket ids (0-255), comma-separated")
            }
            Expected::NonEmpty => f.write_str("empty"),
            Expected::OneRecord => f.write_str("expected exactly one record"),
            Expected::Records(e) => write!(f, "undecodable record list: {e}"),
            Expected::Entry(e) => write!(f, "{e}"),
            Expected::Manifest(e) => write!(f, "{e}"),
        }
    }
}

/// Encodes bytes as base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

/// Decodes a base64url field (no padding, canonical).
pub fn unb64(field: &'static str, text: &str) -> Result<Vec<u8>, DecodeError> {
    BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| DecodeError::new(field, Expected::Base64Url))
}

/// Decodes a base64url field of exactly `N` bytes.
pub fn unb64_array<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], DecodeError> {
    unb64(field, text)?
        .try_into()
        .map_err(|_| DecodeError::new(field, Expected::Bytes(N)))
}

/// Decodes a base64url field that must hold at least one byte.
pub fn unb64_nonempty(field: &'static str, text: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = unb64(field, text)?;
    if bytes.is_empty() {
        return Err(DecodeError::new(field, Expected::NonEmpty));
    }
    Ok(bytes)
}

/// Encodes a peer id.
pub fn peer_hex(peer: &PeerBytes) -> String {
    HEXLOWER.encode(peer)
}

/// Parses a peer id (64 lowercase hex digits).
pub fn parse_peer(field: &'static str, text: &str) -> Result<PeerBytes, DecodeError> {
    fixed_hex(text).ok_or(DecodeError::new(field, Expected::PeerId))
}

/// Encodes an invite id.
pub fn invite_hex(id: &InviteBytes) -> String {
    HEXLOWER.encode(id)
}

/// Parses an invite id (32 lowercase hex digits).
pub fn parse_invite(field: &'static str, text: &str) -> Result<InviteBytes, DecodeError> {
    fixed_hex(text).ok_or(DecodeError::new(field, Expected::InviteId))
}

/// `N` bytes as `2N` lowercase hex digits, or `None`.
fn fixed_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    HEXLOWER
        .decode(text.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
}

/// Encodes a circle id or an item's uuid: hyphenated, lowercase.
pub fn uuid_text(id: &Uuid) -> String {
    id.hyphenated().to_string()
}

/// Parses a circle id or an item's uuid: the hyphenated form (upper or
/// lower case); the simple, braced and URN forms are refused.
pub fn parse_uuid(field: &'static str, text: &str) -> Result<Uuid, DecodeError> {
    match Uuid::try_parse(text) {
        Ok(id) if id.hyphenated().to_string() == text.to_ascii_lowercase() => Ok(id),
        _ => Err(DecodeError::new(field, Expected::HyphenatedUuid)),
    }
}

/// Parses a change token, `EPOCH.SEQ` ([`Token::parse`]).
pub fn parse_token(field: &'static str, text: &str) -> Result<Token, DecodeError> {
    Token::parse(text).ok_or(DecodeError::new(field, Expected::ChangeToken))
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
        assert_eq!(unb64_array::<2>("x", "-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(unb64_nonempty("x", "").unwrap_err().to_string(), "x: empty");
    }

    #[test]
    fn ids_are_lowercase_hex_of_their_length() {
        let p = [0xabu8; 32];
        assert_eq!(parse_peer("p", &peer_hex(&p)).unwrap(), p);
        assert!(parse_peer("p", &peer_hex(&p).to_uppercase()).is_err());
        assert!(parse_peer("p", "ab").is_err());
        assert_eq!(parse_invite("i", &invite_hex(&[1; 16])).unwrap(), [1; 16]);
        assert!(parse_invite("i", "0g000000000000000000000000000000").is_err());
        assert!(parse_invite("i", &peer_hex(&p)).is_err());
        let c = Uuid::new_v4();
        assert_eq!(parse_uuid("c", &uuid_text(&c)).unwrap(), c);
        assert_eq!(parse_uuid("c", &uuid_text(&c).to_uppercase()).unwrap(), c);
        assert!(parse_uuid("c", &c.simple().to_string()).is_err());
        assert!(parse_uuid("c", &c.urn().to_string()).is_err());
    }

    #[test]
    fn tokens_parse_or_are_refused() {
        assert_eq!(parse_token("t", "1.5").unwrap(), Token { epoch: 1, seq: 5 });
        for bad in ["1", "x.1", "1.", ".1", "1.-1", "1.5.6", " 1.5"] {
            assert!(parse_token("t", bad).is_err(), "{bad:?}");
        }
    }

    /// The texts clients see in 400 answers: changing one is a protocol
    /// change.
    #[test]
    fn messages_are_pinned() {
        let m = |r: Result<(), DecodeError>| r.unwrap_err().to_string();
        assert_eq!(
            m(unb64("challenge", "=").map(drop)),
            "challenge: not base64url"
        );
        assert_eq!(
            m(unb64_array::<32>("x", "AA").map(drop)),
            "x: expected 32 bytes"
        );
        assert_eq!(
            m(parse_peer("peer_id", "x").map(drop)),
            "peer_id: expected 64 lowercase hex digits"
        );
        assert_eq!(
            m(parse_invite("invite_id", "x").map(drop)),
            "invite_id: expected 32 lowercase hex digits"
        );
        assert_eq!(
            m(parse_uuid("circle_id", "x").map(drop)),
            "circle_id: expected a hyphenated UUID"
        );
        assert_eq!(
            m(parse_token("since", "x").map(drop)),
            "since: expected EPOCH.SEQ"
        );
        assert_eq!(
            DecodeError::new("manifest", Expected::Manifest(WireError::Truncated.into()))
                .to_string(),
            "manifest: malformed manifest: truncated"
        );
    }
}
