//! Server authentication: what a device signs to get a session token.

use super::entry::EntryError;
use super::ids::{PeerId, PeerKeys};
use crate::crypto::{DeviceIdentity, Namespace, VerifyError};
use uuid::Uuid;

/// The bytes a device signs for the server's challenge:
/// `"vault.v1.server-auth" || circle_id (16) || peer_id (32) || challenge (32)`.
pub fn auth_payload(circle_id: Uuid, peer: &PeerId, challenge: &[u8; 32]) -> Vec<u8> {
    let label = Namespace::ServerAuth.label();
    let mut out = Vec::with_capacity(label.len() + 16 + 32 + 32);
    out.extend_from_slice(label);
    out.extend_from_slice(circle_id.as_bytes());
    out.extend_from_slice(peer.as_bytes());
    out.extend_from_slice(challenge);
    out
}

/// Signs a server's authentication challenge as `identity` (the bytes of
/// [`auth_payload`]).
pub fn sign_auth(identity: &DeviceIdentity, circle_id: Uuid, challenge: &[u8; 32]) -> [u8; 64] {
    identity.sign(
        Namespace::ServerAuth,
        &[
            circle_id.as_bytes(),
            identity.peer_id().as_bytes(),
            challenge,
        ],
    )
}

/// Checks a challenge signature strictly. `keys` must be `peer`'s keys.
pub fn verify_auth(
    keys: &PeerKeys,
    circle_id: Uuid,
    peer: &PeerId,
    challenge: &[u8; 32],
    signature: &[u8],
) -> Result<(), EntryError> {
    if keys.peer_id() != *peer {
        return Err(EntryError::SignerMismatch);
    }
    let sig: &[u8; 64] = signature
        .try_into()
        .map_err(|_| EntryError::SignatureLength(signature.len()))?;
    keys.verify(
        Namespace::ServerAuth,
        &[circle_id.as_bytes(), peer.as_bytes(), challenge],
        sig,
    )
    .map_err(|e| match e {
        VerifyError::WeakKey(_) => EntryError::WeakKey,
        VerifyError::BadSignature(_) => EntryError::BadSignature,
    })
}
