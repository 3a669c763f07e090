//! Hashes, key derivations, MACs and key agreement, each under a
//! [`Namespace`]: the safe face of the raw primitives in `hazmat`.

use super::hazmat::{self, KEY_LEN};
use super::{Namespace, VaultRng};
use std::fmt;
use zeroize::Zeroizing;

/// SHA-256 of `ns`'s label followed by `parts`.
pub fn hash(ns: Namespace, parts: &[&[u8]]) -> [u8; 32] {
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(ns.label());
    all.extend_from_slice(parts);
    hazmat::sha256(&all)
}

/// SHA-256 over `ns`'s label and whatever is fed to it, for a hash over
/// many small parts (a manifest bucket) without gathering them first.
pub struct Hasher(sha2::Sha256);

impl Hasher {
    /// A hasher that has taken `ns`'s label.
    pub fn new(ns: Namespace) -> Self {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(ns.label());
        Self(h)
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: impl AsRef<[u8]>) {
        use sha2::Digest as _;
        self.0.update(bytes);
    }

    /// The digest.
    pub fn finish(self) -> [u8; 32] {
        use sha2::Digest as _;
        self.0.finalize().into()
    }
}

/// HKDF-SHA256 of `ikm` (with `salt`) to one 32-byte key; the info is
/// `ns`'s label followed by `info` (a transcript hash, or nothing).
pub(crate) fn derive_key(
    ns: Namespace,
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; KEY_LEN]> {
    if info.is_empty() {
        hazmat::hkdf_sha256(salt, ikm, ns.label())
    } else {
        hazmat::hkdf_sha256(salt, ikm, &[ns.label(), info].concat())
    }
}

/// An invite's MAC key (HKDF of the invite secret): proves to each side
/// that the other holds the secret. Wiped on drop; prints redacted.
pub(crate) struct InviteMacKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for InviteMacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteMacKey(<redacted>)")
    }
}

impl InviteMacKey {
    /// The MAC key of an invite secret.
    pub(crate) fn derive(secret: &[u8]) -> Self {
        Self(derive_key(Namespace::InviteMac, None, secret, &[]))
    }

    /// HMAC-SHA256 over `ns`'s label followed by `parts`.
    pub(crate) fn mac(&self, ns: Namespace, parts: &[&[u8]]) -> [u8; 32] {
        let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        all.push(ns.label());
        all.extend_from_slice(parts);
        hazmat::hmac_parts(&self.0, &all)
    }

    /// Checks a tag made by [`InviteMacKey::mac`], in constant time.
    pub(crate) fn verify(&self, ns: Namespace, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        all.push(ns.label());
        all.extend_from_slice(parts);
        hazmat::hmac_verify(&self.0, &all, tag)
    }

    /// The raw key, as the salt of the pairing session's derivations.
    pub(crate) fn dangerously_expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// A one-time X25519 secret (a key share's or a pairing hello's), wiped on
/// drop.
pub struct EphemeralSecret(x25519_dalek::StaticSecret);

impl fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EphemeralSecret(<redacted>)")
    }
}

impl EphemeralSecret {
    /// A fresh secret from the vault's random source.
    pub fn generate(rng: &mut VaultRng) -> Self {
        Self(hazmat::x25519_secret(rng.array()))
    }

    /// Its public key.
    pub fn public(&self) -> [u8; 32] {
        hazmat::x25519_public(&self.0)
    }

    /// X25519 with `their_public`; `None` for a non-contributory
    /// (small-order) public key.
    pub fn agree(&self, their_public: &[u8; 32]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        hazmat::x25519_agree(&self.0, their_public)
    }
}
