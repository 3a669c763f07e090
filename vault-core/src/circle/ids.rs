//! The circle's identifiers: entry hashes and the safety number two
//! people compare. Peer ids and keys are the crypto layer's
//! ([`crate::crypto::PeerId`]) and are re-exported here.

use crate::crypto::{Namespace, hash};
pub use crate::crypto::{ParseIdError, PeerId, PeerKeys};
pub(crate) use crate::crypto::{hex, parse_hex, write_hex};
use std::fmt;
use std::str::FromStr;

/// A number two people compare to check their devices hold each other's
/// true keys: 30 digits in groups of five, the same on both devices (the
/// order of the arguments does not matter).
pub fn safety_number(a: &PeerKeys, b: &PeerKeys) -> String {
    let (lo, hi) = if a.peer_id() <= b.peer_id() {
        (a, b)
    } else {
        (b, a)
    };
    let h = hash(
        Namespace::SafetyNumber,
        &[&lo.signing, &lo.agreement, &hi.signing, &hi.agreement],
    );
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
