//! The device identity: an Ed25519 signing key and an X25519 agreement key,
//! generated on the device, stored only wrapped under the key-encryption key.

use super::hazmat::{self, KEY_LEN, NONCE_LEN, TAG_LEN};
use super::{BLOB_VERSION, DecryptError, KeyEncryptionKey, Namespace, VaultRng};
use crate::circle::{Entry, EntryError, PeerId, PeerKeys, SignedEntry, auth_payload};
use crate::sync::SealedRecord;
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

    /// Signs a log entry. The entry's `signer` must be this device, and the
    /// entry must fit the format's limits.
    pub fn sign_entry(&self, entry: Entry) -> Result<SignedEntry, EntryError> {
        if entry.signer != self.peer_id {
            return Err(EntryError::SignerMismatch);
        }
        let bytes = entry.to_bytes()?;
        let signature = self.sign(Namespace::CircleEntry, &[&bytes]);
        Ok(SignedEntry::from_parts(entry, bytes, signature))
    }

    /// Signs a server's authentication challenge (see [`auth_payload`]).
    pub fn sign_auth(&self, circle_id: Uuid, challenge: &[u8; 32]) -> [u8; 64] {
        hazmat::ed25519_sign(
            &self.signing,
            &[&auth_payload(circle_id, &self.peer_id, challenge)],
        )
    }

    /// Signs a sync record as its writer: sets `writer` to this device and
    /// `signature` over [`SealedRecord::signed_bytes`].
    pub fn sign_record(&self, record: &mut SealedRecord, circle_id: Uuid, zone: &str) {
        record.writer = self.peer_id;
        record.signature =
            hazmat::ed25519_sign(&self.signing, &[&record.signed_bytes(circle_id, zone)]);
    }

    /// Signs the namespace's label followed by `parts`.
    pub(crate) fn sign(&self, ns: Namespace, parts: &[&[u8]]) -> [u8; 64] {
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
        let nonce: [u8; NONCE_LEN] = rng.array();
        let mut out = Vec::with_capacity(WRAPPED_IDENTITY_LEN);
        out.push(BLOB_VERSION);
        out.extend_from_slice(&nonce);
        hazmat::seal_into(
            kek.cipher(),
            &nonce,
            &identity_aad(vault_id, &self.peer_id),
            &*plain,
            &mut out,
        )
        .expect("64 bytes are within AES-GCM's limits");
        out
    }

    /// Opens what [`DeviceIdentity::wrap`] wrote and checks that the keys
    /// inside are the ones of `peer_id`.
    pub(crate) fn unwrap(
        kek: &KeyEncryptionKey,
        vault_id: Uuid,
        peer_id: &PeerId,
        blob: &[u8],
    ) -> Result<Self, DecryptError> {
        if blob.is_empty() {
            return Err(DecryptError::Truncated);
        }
        if blob[0] != BLOB_VERSION {
            return Err(DecryptError::UnsupportedVersion(blob[0]));
        }
        if blob.len() != WRAPPED_IDENTITY_LEN {
            return Err(DecryptError::Truncated);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&blob[1..1 + NONCE_LEN]);
        let mut plain = Zeroizing::new(Vec::with_capacity(2 * KEY_LEN));
        hazmat::open_into(
            kek.cipher(),
            &nonce,
            &identity_aad(vault_id, peer_id),
            &blob[1 + NONCE_LEN..],
            &mut plain,
        )
        .map_err(|_| DecryptError::Authentication)?;
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

fn identity_aad(vault_id: Uuid, peer_id: &PeerId) -> Vec<u8> {
    let mut aad = Namespace::WrappedIdentity.label().to_vec();
    aad.extend_from_slice(vault_id.as_bytes());
    aad.extend_from_slice(peer_id.as_bytes());
    aad
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
        let seed = crate::circle::ids::hex(id.signing.as_bytes());
        assert!(!shown.contains(&seed[..8]));
    }
}
