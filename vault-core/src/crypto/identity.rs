//! The device identity: an Ed25519 signing key and an X25519 agreement key,
//! generated on the device, stored only wrapped under the key-encryption key.

use super::envelope::{open_blob, seal_blob};
use super::hazmat::{self, KEY_LEN, NONCE_LEN, TAG_LEN};
use super::{DecryptError, KeyEncryptionKey, Namespace, PeerId, PeerKeys, VaultRng};
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

/// `version || nonce || ciphertext(ed25519 seed 32 || x25519 secret 32) || tag`.
pub(crate) const WRAPPED_IDENTITY_LEN: usize = 1 + NONCE_LEN + 2 * KEY_LEN + TAG_LEN;

/// This device's keys in the circle. Both secrets are wiped on drop; the
/// type has no `Clone` and prints only its peer id.
pub struct DeviceIdentity {
    signing: ed25519_dalek::SigningKey,
    agreement: x25519_dalek::StaticSecret,
    public: PeerKeys,
    peer_id: PeerId,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceIdentity({}, <redacted>)", self.peer_id)
    }
}

impl DeviceIdentity {
    /// Fresh keys from the vault's random source.
    pub fn generate(rng: &mut VaultRng) -> Self {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(&mut *seed);
        let mut x = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(&mut *x);
        Self::from_secrets(&seed, &x)
    }

    fn from_secrets(seed: &[u8; KEY_LEN], x: &[u8; KEY_LEN]) -> Self {
        let signing = hazmat::ed25519_signing(seed);
        let agreement = hazmat::x25519_secret(*x);
        let public = PeerKeys {
            signing: signing.verifying_key().to_bytes(),
            agreement: hazmat::x25519_public(&agreement),
        };
        let peer_id = public.peer_id();
        Self {
            signing,
            agreement,
            public,
            peer_id,
        }
    }

    /// This device's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// This device's public keys.
    pub fn public(&self) -> PeerKeys {
        self.public.clone()
    }

    /// Signs `ns`'s label followed by `parts`: every signature a device
    /// makes (log entries, records, manifests, key shares, server
    /// challenges, pairing proofs) has this form, under its own namespace.
    pub fn sign(&self, ns: Namespace, parts: &[&[u8]]) -> [u8; 64] {
        let mut all = Vec::with_capacity(parts.len() + 1);
        all.push(ns.label());
        all.extend_from_slice(parts);
        hazmat::ed25519_sign(&self.signing, &all)
    }

    /// X25519 with this device's agreement key; `None` for a
    /// non-contributory (small-order) public key.
    pub(crate) fn agree(&self, their_public: &[u8; 32]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        hazmat::x25519_agree(&self.agreement, their_public)
    }

    /// Wraps both secrets under the key-encryption key; the AAD binds the
    /// vault id and this peer id.
    pub(crate) fn wrap(
        &self,
        kek: &KeyEncryptionKey,
        vault_id: Uuid,
        rng: &mut VaultRng,
    ) -> Vec<u8> {
        let mut plain = Zeroizing::new([0u8; 2 * KEY_LEN]);
        plain[..KEY_LEN].copy_from_slice(self.signing.as_bytes());
        plain[KEY_LEN..].copy_from_slice(self.agreement.as_bytes());
        seal_blob(
            kek,
            Namespace::WrappedIdentity,
            &[vault_id.as_bytes(), self.peer_id.as_bytes()],
            &*plain,
            rng,
        )
        .expect("64 bytes are within AES-GCM's limits")
    }

    /// Opens what [`DeviceIdentity::wrap`] wrote and checks that the keys
    /// inside are the ones of `peer_id`.
    pub(crate) fn unwrap(
        kek: &KeyEncryptionKey,
        vault_id: Uuid,
        peer_id: &PeerId,
        blob: &[u8],
    ) -> Result<Self, DecryptError> {
        if !blob.is_empty() && blob.len() != WRAPPED_IDENTITY_LEN {
            return Err(match blob[0] {
                super::BLOB_VERSION => DecryptError::Truncated,
                v => DecryptError::UnsupportedVersion(v),
            });
        }
        let mut plain = Zeroizing::new(Vec::with_capacity(2 * KEY_LEN));
        open_blob(
            kek,
            Namespace::WrappedIdentity,
            &[vault_id.as_bytes(), peer_id.as_bytes()],
            blob,
            &mut plain,
        )?;
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        seed.copy_from_slice(&plain[..KEY_LEN]);
        let mut x = Zeroizing::new([0u8; KEY_LEN]);
        x.copy_from_slice(&plain[KEY_LEN..]);
        let id = Self::from_secrets(&seed, &x);
        if id.peer_id != *peer_id {
            return Err(DecryptError::Malformed(
                "identity keys do not match the peer id",
            ));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyEncryptionKey;

    fn kek(rng: &mut VaultRng) -> KeyEncryptionKey {
        KeyEncryptionKey::generate(rng)
    }

    #[test]
    fn wrap_round_trips_and_binds_vault_and_peer() {
        let mut rng = VaultRng::new().unwrap();
        let k = kek(&mut rng);
        let id = DeviceIdentity::generate(&mut rng);
        let v = Uuid::new_v4();
        let blob = id.wrap(&k, v, &mut rng);
        assert_eq!(blob.len(), WRAPPED_IDENTITY_LEN);
        let back = DeviceIdentity::unwrap(&k, v, &id.peer_id(), &blob).unwrap();
        assert_eq!(back.public(), id.public());
        let other = DeviceIdentity::generate(&mut rng).peer_id();
        assert_eq!(
            DeviceIdentity::unwrap(&k, v, &other, &blob).err(),
            Some(DecryptError::Authentication)
        );
        assert_eq!(
            DeviceIdentity::unwrap(&k, Uuid::new_v4(), &id.peer_id(), &blob).err(),
            Some(DecryptError::Authentication)
        );
        assert_eq!(
            DeviceIdentity::unwrap(&kek(&mut rng), v, &id.peer_id(), &blob).err(),
            Some(DecryptError::Authentication)
        );
    }

    #[test]
    fn debug_shows_only_the_peer_id() {
        let mut rng = VaultRng::new().unwrap();
        let id = DeviceIdentity::generate(&mut rng);
        let shown = format!("{id:?}");
        assert!(shown.contains(&id.peer_id().to_string()));
        assert!(shown.contains("<redacted>"));
        let seed = crate::crypto::hex(id.signing.as_bytes());
        assert!(!shown.contains(&seed[..8]));
    }
}
