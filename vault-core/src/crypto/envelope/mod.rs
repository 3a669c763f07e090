//! Envelopes: every AEAD the vault uses goes through this module, each
//! under its own [`Namespace`], so a blob made for one purpose never opens
//! as another. Items and wrapped keys have their layouts here ([`item`]);
//! the other formats (export files, sealed device names, key shares,
//! pairing messages, the wrapped device identity) lay out their own bytes
//! next to their types and seal through [`seal_labelled`] and friends.

mod item;

pub use item::{
    DEFAULT_ZONE, ITEM_FORMAT, ItemContext, SealedItem, encitem_aad, open_item, open_item_into,
    rewrap_content_key, seal_item, wrappedkey_aad,
};
pub(crate) use item::{unwrap_data_key, unwrap_vault_key, wrap_data_key, wrap_vault_key};

use super::hazmat::{self, NONCE_LEN, TAG_LEN};
use super::keys::ShareKey;
use super::{Namespace, VaultRng};
use aes_gcm::Aes256Gcm;

/// The version byte that opens every blob this library writes.
pub const BLOB_VERSION: u8 = 1;

/// Why a blob did not open. None of these says anything about the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The blob is shorter than its layout.
    #[error("blob is truncated")]
    Truncated,
    /// The blob's version byte is not one this library reads.
    #[error("blob version {0} is not supported")]
    UnsupportedVersion(u8),
    /// The blob's key commitment does not match its content key.
    #[error("blob does not commit to its content key")]
    KeyCommitment,
    /// The AEAD tag did not verify: a wrong key, altered bytes, or a blob
    /// moved to another item, version, epoch or vault.
    #[error("authentication failed: wrong key, altered bytes or a blob moved out of its context")]
    Authentication,
    /// The plaintext authenticated but does not parse as an item.
    #[error("decrypted item is malformed: {0}")]
    Malformed(&'static str),
}

/// Sealing fails only for a plaintext beyond AES-GCM's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("plaintext is too large to seal")]
pub struct SealError;

/// A key role that seals with AES-256-GCM (each role is its own type; see
/// `keys.rs`).
pub(crate) trait AeadKey {
    /// The key's expanded cipher.
    fn cipher(&self) -> &Aes256Gcm;
}

fn labelled_aad(ns: Namespace, aad: &[&[u8]]) -> Vec<u8> {
    let mut out = ns.label().to_vec();
    for part in aad {
        out.extend_from_slice(part);
    }
    out
}

/// Appends `plaintext` sealed under `key` (ciphertext, then tag) to `out`;
/// the associated data is `ns`'s label followed by `aad`.
pub(crate) fn seal_labelled(
    key: &impl AeadKey,
    ns: Namespace,
    aad: &[&[u8]],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SealError> {
    hazmat::seal_into(key.cipher(), nonce, &labelled_aad(ns, aad), plaintext, out)
        .map_err(|_| SealError)
}

/// Opens what [`seal_labelled`] sealed into `out` (cleared first; the
/// caller wipes it).
pub(crate) fn open_labelled(
    key: &impl AeadKey,
    ns: Namespace,
    aad: &[&[u8]],
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), DecryptError> {
    hazmat::open_into(
        key.cipher(),
        nonce,
        &labelled_aad(ns, aad),
        ciphertext_and_tag,
        out,
    )
    .map_err(|_| DecryptError::Authentication)
}

/// A blob `version || nonce || ciphertext || tag` with a random nonce, its
/// associated data `ns`'s label followed by `aad`.
pub(crate) fn seal_blob(
    key: &impl AeadKey,
    ns: Namespace,
    aad: &[&[u8]],
    plaintext: &[u8],
    rng: &mut VaultRng,
) -> Result<Vec<u8>, SealError> {
    let nonce: [u8; NONCE_LEN] = rng.array();
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(BLOB_VERSION);
    out.extend_from_slice(&nonce);
    seal_labelled(key, ns, aad, &nonce, plaintext, &mut out)?;
    Ok(out)
}

/// Opens what [`seal_blob`] sealed into `out` (cleared first; the caller
/// wipes it).
pub(crate) fn open_blob(
    key: &impl AeadKey,
    ns: Namespace,
    aad: &[&[u8]],
    blob: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), DecryptError> {
    match blob.first() {
        None => return Err(DecryptError::Truncated),
        Some(&v) if v != BLOB_VERSION => return Err(DecryptError::UnsupportedVersion(v)),
        Some(_) => {}
    }
    if blob.len() < 1 + NONCE_LEN + TAG_LEN {
        return Err(DecryptError::Truncated);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&blob[1..1 + NONCE_LEN]);
    open_labelled(key, ns, aad, &nonce, &blob[1 + NONCE_LEN..], out)
}

/// Appends a key share's sealed body to `out`. Its associated data is the
/// share's header alone: the share's namespace ([`Namespace::KeyShare`])
/// enters through the derivation of its [`ShareKey`], the only key this
/// takes.
pub(crate) fn seal_share(
    key: &ShareKey,
    header: &[u8],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SealError> {
    hazmat::seal_into(key.cipher(), nonce, header, plaintext, out).map_err(|_| SealError)
}

/// Opens what [`seal_share`] sealed.
pub(crate) fn open_share(
    key: &ShareKey,
    header: &[u8],
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), DecryptError> {
    hazmat::open_into(key.cipher(), nonce, header, ciphertext_and_tag, out)
        .map_err(|_| DecryptError::Authentication)
}
