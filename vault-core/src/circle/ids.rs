//! The circle's identifiers: peer ids, a peer's public keys, entry hashes,
//! and their lowercase-hex text form.

use crate::crypto::Namespace;
use crate::crypto::hazmat;
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
        PeerId(hazmat::sha256(&[Namespace::PeerId.label(), signing_key]))
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

/// A number two people compare to check their devices hold each other's
/// true keys: 30 digits in groups of five, the same on both devices (the
/// order of the arguments does not matter).
pub fn safety_number(a: &PeerKeys, b: &PeerKeys) -> String {
    let (lo, hi) = if a.peer_id() <= b.peer_id() {
        (a, b)
    } else {
        (b, a)
    };
    let h = hazmat::sha256(&[
        Namespace::SafetyNumber.label(),
        &lo.signing,
        &lo.agreement,
        &hi.signing,
        &hi.agreement,
    ]);
    let groups: Vec<String> = h[..30]
        .chunks(5)
        .map(|c| {
            let v = c.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
            format!("{:05}", v % 100_000)
        })
        .collect();
    groups.join(" ")
}

/// The hash of a signed circle log entry: SHA-256 of the
/// [`Namespace::CircleHash`] label, the entry's bytes and its signature.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryHash(pub [u8; 32]);

impl EntryHash {
    /// The `prev` of the genesis entry.
    pub const ZERO: EntryHash = EntryHash([0; 32]);

    /// The hash's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EntryHash(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl FromStr for EntryHash {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s).map(EntryHash)
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn safety_numbers_are_symmetric_and_key_bound() {
        let k = |s: u8, a: u8| PeerKeys {
            signing: [s; 32],
            agreement: [a; 32],
        };
        let n = safety_number(&k(1, 2), &k(3, 4));
        assert_eq!(n, safety_number(&k(3, 4), &k(1, 2)));
        assert_eq!(n.len(), 6 * 5 + 5);
        assert!(
            n.split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
        assert_ne!(n, safety_number(&k(1, 2), &k(3, 5)));
        assert_ne!(n, safety_number(&k(1, 9), &k(3, 4)));
    }

    #[test]
    fn bad_hex_is_typed() {
        assert_eq!(
            "abc".parse::<PeerId>(),
            Err(ParseIdError::Length {
                expected: 64,
                found: 3
            })
        );
        let mut s = "0".repeat(63);
        s.push('g');
        assert_eq!(s.parse::<EntryHash>(), Err(ParseIdError::Digit));
        // A multi-byte character must not panic on a char boundary.
        let s = format!("{}é", "0".repeat(62));
        assert!(s.parse::<PeerId>().is_err());
        assert_eq!(
            EntryHash::ZERO.to_string().parse::<EntryHash>(),
            Ok(EntryHash::ZERO)
        );
    }
}
