//! Peers' public identity: the peer id (a hash of the Ed25519 key), the two
//! public keys, strict Ed25519 verification under a [`Namespace`], and the
//! lowercase-hex text form of 32-byte ids.

use super::hazmat;
use super::{Namespace, hash};
use std::fmt;
use std::str::FromStr;

/// Why a hex id did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// Not exactly the id's number of hex digits.
    #[error("expected {expected} hex digits, got {found}")]
    Length {
        /// Digits an id has.
        expected: usize,
        /// Characters given.
        found: usize,
    },
    /// A character that is not a hex digit.
    #[error("not a hex digit")]
    Digit,
}

pub(crate) fn write_hex(f: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    let _ = write_hex(&mut s, bytes);
    s
}

/// Parses exactly `2 * N` hex digits (either case).
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], ParseIdError> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return Err(ParseIdError::Length {
            expected: 2 * N,
            found: s.chars().count(),
        });
    }
    let digit = |c: u8| (c as char).to_digit(16).ok_or(ParseIdError::Digit);
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?) as u8;
    }
    Ok(out)
}

/// A device's id in the circle: SHA-256 of the [`Namespace::PeerId`] label
/// and the device's Ed25519 key. Prints as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId([u8; 32]);

impl PeerId {
    /// The peer id of an Ed25519 public key.
    pub fn of(signing_key: &[u8; 32]) -> PeerId {
        PeerId(hash(Namespace::PeerId, &[signing_key]))
    }

    /// An id from its 32 bytes (as read from the wire or storage).
    pub const fn from_bytes(bytes: [u8; 32]) -> PeerId {
        PeerId(bytes)
    }

    /// The id's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 16 hex digits, for people.
    pub fn short(&self) -> String {
        hex(&self.0[..8])
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl FromStr for PeerId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s).map(PeerId)
    }
}

/// A peer's two public keys: Ed25519 for signatures, X25519 for key shares.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct PeerKeys {
    /// The Ed25519 verifying key.
    pub signing: [u8; 32],
    /// The X25519 public key.
    pub agreement: [u8; 32],
}

impl PeerKeys {
    /// The peer id these keys belong to (a hash of the signing key).
    pub fn peer_id(&self) -> PeerId {
        PeerId::of(&self.signing)
    }
}

/// A public key that Ed25519 refuses: it does not decode, is not canonical,
/// or has small order (a "weak" key that verifies forged signatures under
/// lax rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the public key is malformed or weak")]
pub struct WeakKey;

/// A signature that does not verify under the key and namespace given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify")]
pub struct BadSignature;

/// An Ed25519 public key, decoded and checked once, so many signatures by
/// one writer cost one decoding.
#[derive(Clone, Copy)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyingKey(")?;
        write_hex(f, self.0.as_bytes())?;
        f.write_str(")")
    }
}

impl VerifyingKey {
    /// Decodes a key, refusing a weak or non-canonical one.
    pub fn decode(bytes: &[u8; 32]) -> Result<Self, WeakKey> {
        hazmat::ed25519_public(bytes).map(Self).map_err(|_| WeakKey)
    }

    /// The key's 32-byte encoding.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Strict verification of a signature over `ns`'s label followed by
    /// `parts` (the form [`DeviceIdentity::sign`](super::DeviceIdentity::sign) signs).
    pub fn verify(
        &self,
        ns: Namespace,
        parts: &[&[u8]],
        signature: &[u8; 64],
    ) -> Result<(), BadSignature> {
        let mut message = Vec::with_capacity(64 + parts.iter().map(|p| p.len()).sum::<usize>());
        message.extend_from_slice(ns.label());
        for p in parts {
            message.extend_from_slice(p);
        }
        hazmat::ed25519_verify_strict(&self.0, &message, signature).map_err(|_| BadSignature)
    }
}

/// Why a signature by a peer did not check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The peer's signing key is malformed or weak.
    #[error(transparent)]
    WeakKey(#[from] WeakKey),
    /// The signature does not verify.
    #[error(transparent)]
    BadSignature(#[from] BadSignature),
}

impl PeerKeys {
    /// The signing key, decoded and checked.
    pub fn verifying_key(&self) -> Result<VerifyingKey, WeakKey> {
        VerifyingKey::decode(&self.signing)
    }

    /// Strict verification of this peer's signature over `ns`'s label and
    /// `parts`.
    pub fn verify(
        &self,
        ns: Namespace,
        parts: &[&[u8]],
        signature: &[u8; 64],
    ) -> Result<(), VerifyError> {
        Ok(self.verifying_key()?.verify(ns, parts, signature)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn peer_id_text_round_trips_and_is_pinned() {
        let id = PeerId::of(&[7; 32]);
        let mut want = b"vault.v1.peer-id".to_vec();
        want.extend_from_slice(&[7; 32]);
        assert_eq!(id.as_bytes(), &hazmat::sha256(&[&want]));
        let s = id.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s, s.to_lowercase());
        assert_eq!(format!("{id:?}"), s);
        assert_eq!(s.parse::<PeerId>().unwrap(), id);
        assert_eq!(s.to_uppercase().parse::<PeerId>().unwrap(), id);
        assert_eq!(id.short(), s[..16]);
    }
}
