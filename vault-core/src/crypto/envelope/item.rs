//! The item envelopes: `encitem` (an item version sealed by its content
//! key, committing to that key) and `wrappedkey` (the content key wrapped by
//! its epoch's vault key), and the vault and data keys wrapped under the
//! key-encryption key. Each binds its context, so a blob moved to another
//! item, version, epoch or vault fails.

use super::{BLOB_VERSION, DecryptError, SealError};
use crate::crypto::hazmat::{self, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::crypto::keys::{ContentKey, DataKey, EpochKey, KeyEncryptionKey, VaultKey};
use crate::crypto::{Namespace, VaultRng};
use aes_gcm::Aes256Gcm;
use std::fmt;
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The item serialization format bound into `encitem`'s associated data.
pub const ITEM_FORMAT: u8 = 1;
/// The zone a local vault's items belong to until sync names others.
pub const DEFAULT_ZONE: &str = "keychain";

const COMMIT_LEN: usize = 32;
/// `version || nonce || ciphertext(32) || tag`.
const WRAPPED_KEY_LEN: usize = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;
/// `version || nonce || commitment` before the ciphertext of `encitem`.
const ENCITEM_HEADER: usize = 1 + NONCE_LEN + COMMIT_LEN;

/// Where an item version lives: what `encitem`'s associated data binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemContext<'a> {
    /// The zone (CloudKit's record zone) the item belongs to.
    pub zone: &'a str,
    /// The item's uuid.
    pub uuid: Uuid,
    /// The item version's generation counter.
    pub gencount: u64,
}

/// An item version as storage and the server hold it: ciphertext only.
/// Made by [`seal_item`]; opened by [`open_item`].
#[derive(Clone, PartialEq, Eq)]
pub struct SealedItem {
    wrappedkey: Vec<u8>,
    encitem: Vec<u8>,
}

impl SealedItem {
    /// A sealed item from its two blobs as stored (nothing is checked
    /// until it is opened).
    pub fn from_parts(wrappedkey: Vec<u8>, encitem: Vec<u8>) -> Self {
        Self {
            wrappedkey,
            encitem,
        }
    }

    /// The content key, wrapped by the epoch's vault key.
    pub fn wrappedkey(&self) -> &[u8] {
        &self.wrappedkey
    }

    /// The item, sealed by the content key.
    pub fn encitem(&self) -> &[u8] {
        &self.encitem
    }

    /// The two blobs, moved out: `(wrappedkey, encitem)`.
    pub fn into_parts(self) -> (Vec<u8>, Vec<u8>) {
        (self.wrappedkey, self.encitem)
    }
}

impl fmt::Debug for SealedItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedItem {{ wrappedkey: <{} bytes>, encitem: <{} bytes> }}",
            self.wrappedkey.len(),
            self.encitem.len()
        )
    }
}

/// `encitem`'s associated data: zone, item uuid, gencount, format version.
pub fn encitem_aad(ctx: &ItemContext<'_>) -> Vec<u8> {
    let label = Namespace::EncItem.label();
    let mut aad = Vec::with_capacity(label.len() + 2 + ctx.zone.len() + 16 + 8 + 1);
    aad.extend_from_slice(label);
    aad.extend_from_slice(&(ctx.zone.len() as u16).to_be_bytes());
    aad.extend_from_slice(ctx.zone.as_bytes());
    aad.extend_from_slice(ctx.uuid.as_bytes());
    aad.extend_from_slice(&ctx.gencount.to_be_bytes());
    aad.push(ITEM_FORMAT);
    aad
}

/// `wrappedkey`'s associated data: item uuid and the epoch key's uuid.
pub fn wrappedkey_aad(item: Uuid, epoch_key: Uuid) -> Vec<u8> {
    let mut aad = Namespace::WrappedKey.label().to_vec();
    aad.extend_from_slice(item.as_bytes());
    aad.extend_from_slice(epoch_key.as_bytes());
    aad
}

fn commitment(ck: &ContentKey) -> [u8; COMMIT_LEN] {
    hazmat::sha256(&[Namespace::KeyCommitment.label(), ck.dangerously_expose()])
}

/// Seals an item's serialized plaintext under a fresh content key, and
/// wraps that key under the epoch's vault key. One 56-byte draw from the
/// userspace generator supplies the key and both nonces.
pub fn seal_item(
    epoch: &EpochKey,
    ctx: &ItemContext<'_>,
    plaintext: &[u8],
    rng: &mut VaultRng,
) -> Result<SealedItem, SealError> {
    let mut draw = Zeroizing::new([0u8; KEY_LEN + 2 * NONCE_LEN]);
    rng.fill(&mut *draw);
    let mut ck_bytes = Zeroizing::new([0u8; KEY_LEN]);
    ck_bytes.copy_from_slice(&draw[..KEY_LEN]);
    let ck = ContentKey::from_bytes(ck_bytes);
    let mut n_item = [0u8; NONCE_LEN];
    n_item.copy_from_slice(&draw[KEY_LEN..KEY_LEN + NONCE_LEN]);
    let mut n_wrap = [0u8; NONCE_LEN];
    n_wrap.copy_from_slice(&draw[KEY_LEN + NONCE_LEN..]);

    let mut encitem = Vec::with_capacity(ENCITEM_HEADER + plaintext.len() + TAG_LEN);
    encitem.push(BLOB_VERSION);
    encitem.extend_from_slice(&n_item);
    encitem.extend_from_slice(&commitment(&ck));
    hazmat::seal_into(
        ck.cipher(),
        &n_item,
        &encitem_aad(ctx),
        plaintext,
        &mut encitem,
    )
    .map_err(|_| SealError)?;

    let wrappedkey = wrap_raw(
        epoch.key.cipher(),
        &n_wrap,
        &wrappedkey_aad(ctx.uuid, epoch.key_uuid),
        ck.dangerously_expose(),
    )?;
    Ok(SealedItem {
        wrappedkey,
        encitem,
    })
}

/// Unwraps the content key and opens `encitem`, checking the key
/// commitment and the context. Returns the padded, serialized plaintext.
pub fn open_item(
    epoch: &EpochKey,
    ctx: &ItemContext<'_>,
    wrappedkey: &[u8],
    encitem: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let mut out = Zeroizing::new(Vec::with_capacity(encitem.len()));
    open_item_into(epoch, ctx, wrappedkey, encitem, &mut out)?;
    Ok(out)
}

/// [`open_item`] into a buffer the caller reuses across items and zeroizes
/// when done (a whole-vault scan wipes one buffer, not one per item).
pub fn open_item_into(
    epoch: &EpochKey,
    ctx: &ItemContext<'_>,
    wrappedkey: &[u8],
    encitem: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), DecryptError> {
    let ck = unwrap_content_key(&epoch.key, epoch.key_uuid, ctx.uuid, wrappedkey)?;
    if encitem.len() < ENCITEM_HEADER + TAG_LEN {
        return Err(DecryptError::Truncated);
    }
    if encitem[0] != BLOB_VERSION {
        return Err(DecryptError::UnsupportedVersion(encitem[0]));
    }
    let nonce: [u8; NONCE_LEN] = array_at(encitem, 1);
    let commit = &encitem[1 + NONCE_LEN..ENCITEM_HEADER];
    if !bool::from(commit.ct_eq(&commitment(&ck))) {
        return Err(DecryptError::KeyCommitment);
    }
    hazmat::open_into(
        ck.cipher(),
        &nonce,
        &encitem_aad(ctx),
        &encitem[ENCITEM_HEADER..],
        out,
    )
    .map_err(|_| DecryptError::Authentication)
}

/// Re-wraps an item version's content key from one epoch to another
/// without touching its `encitem` (vault key rotation).
pub fn rewrap_content_key(
    from: &EpochKey,
    to: &EpochKey,
    item: Uuid,
    wrappedkey: &[u8],
    rng: &mut VaultRng,
) -> Result<Vec<u8>, DecryptError> {
    let ck = unwrap_content_key(&from.key, from.key_uuid, item, wrappedkey)?;
    let nonce: [u8; NONCE_LEN] = rng.array();
    wrap_raw(
        to.key.cipher(),
        &nonce,
        &wrappedkey_aad(item, to.key_uuid),
        ck.dangerously_expose(),
    )
    .map_err(|_| DecryptError::Authentication)
}

fn unwrap_content_key(
    vk: &VaultKey,
    epoch_key: Uuid,
    item: Uuid,
    wrappedkey: &[u8],
) -> Result<ContentKey, DecryptError> {
    let raw = unwrap_raw(vk.cipher(), &wrappedkey_aad(item, epoch_key), wrappedkey)?;
    Ok(ContentKey::from_bytes(raw))
}

fn vault_key_aad(number: u32, key_uuid: Uuid, circle_id: Uuid) -> Vec<u8> {
    let mut aad = Namespace::WrappedVaultKey.label().to_vec();
    aad.extend_from_slice(&number.to_be_bytes());
    aad.extend_from_slice(key_uuid.as_bytes());
    aad.extend_from_slice(circle_id.as_bytes());
    aad
}

/// Wraps an epoch's vault key under the key-encryption key; the AAD binds
/// the epoch number, its key uuid and the circle id.
pub(crate) fn wrap_vault_key(
    kek: &KeyEncryptionKey,
    epoch: &EpochKey,
    circle_id: Uuid,
    rng: &mut VaultRng,
) -> Vec<u8> {
    let aad = vault_key_aad(epoch.number, epoch.key_uuid, circle_id);
    wrap_raw(
        kek.cipher(),
        &rng.array(),
        &aad,
        epoch.key.dangerously_expose(),
    )
    .expect("a 32-byte key is within AES-GCM's limits")
}

pub(crate) fn unwrap_vault_key(
    kek: &KeyEncryptionKey,
    number: u32,
    key_uuid: Uuid,
    circle_id: Uuid,
    blob: &[u8],
) -> Result<EpochKey, DecryptError> {
    let raw = unwrap_raw(
        kek.cipher(),
        &vault_key_aad(number, key_uuid, circle_id),
        blob,
    )?;
    Ok(EpochKey {
        number,
        key_uuid,
        key: VaultKey::from_bytes(raw),
    })
}

/// Wraps the data key; `header` is the vault header's canonical bytes, so
/// the KDF parameters are authenticated by the password itself.
pub(crate) fn wrap_data_key(
    kek: &KeyEncryptionKey,
    dk: &DataKey,
    header: &[u8],
    rng: &mut VaultRng,
) -> Vec<u8> {
    let mut aad = Namespace::WrappedDataKey.label().to_vec();
    aad.extend_from_slice(header);
    wrap_raw(kek.cipher(), &rng.array(), &aad, dk.dangerously_expose())
        .expect("a 32-byte key is within AES-GCM's limits")
}

pub(crate) fn unwrap_data_key(
    kek: &KeyEncryptionKey,
    header: &[u8],
    blob: &[u8],
) -> Result<DataKey, DecryptError> {
    let mut aad = Namespace::WrappedDataKey.label().to_vec();
    aad.extend_from_slice(header);
    Ok(DataKey::from_bytes(unwrap_raw(kek.cipher(), &aad, blob)?))
}

fn wrap_raw(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    key: &[u8; KEY_LEN],
) -> Result<Vec<u8>, SealError> {
    let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
    out.push(BLOB_VERSION);
    out.extend_from_slice(nonce);
    hazmat::seal_into(cipher, nonce, aad, key, &mut out).map_err(|_| SealError)?;
    Ok(out)
}

fn unwrap_raw(
    cipher: &Aes256Gcm,
    aad: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>, DecryptError> {
    if blob.is_empty() {
        return Err(DecryptError::Truncated);
    }
    if blob[0] != BLOB_VERSION {
        return Err(DecryptError::UnsupportedVersion(blob[0]));
    }
    if blob.len() != WRAPPED_KEY_LEN {
        return Err(DecryptError::Truncated);
    }
    let nonce: [u8; NONCE_LEN] = array_at(blob, 1);
    hazmat::open_key(cipher, &nonce, aad, &blob[1 + NONCE_LEN..])
        .map_err(|_| DecryptError::Authentication)
}

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(uuid: Uuid, gencount: u64) -> ItemContext<'static> {
        ItemContext {
            zone: DEFAULT_ZONE,
            uuid,
            gencount,
        }
    }

    #[test]
    fn aad_bytes_are_pinned() {
        let u = Uuid::from_bytes([0x11; 16]);
        let k = Uuid::from_bytes([0x22; 16]);
        let mut want = b"vault.v1.encitem\x00\x08keychain".to_vec();
        want.extend_from_slice(&[0x11; 16]);
        want.extend_from_slice(&7u64.to_be_bytes());
        want.push(1);
        assert_eq!(encitem_aad(&ctx(u, 7)), want);
        let mut want = b"vault.v1.wrappedkey".to_vec();
        want.extend_from_slice(&[0x11; 16]);
        want.extend_from_slice(&[0x22; 16]);
        assert_eq!(wrappedkey_aad(u, k), want);
    }

    #[test]
    fn blob_layout_is_pinned() {
        let mut rng = VaultRng::new().unwrap();
        let epoch = EpochKey::generate(1, &mut rng);
        let u = Uuid::new_v4();
        let s = seal_item(&epoch, &ctx(u, 1), &[0u8; 64], &mut rng).unwrap();
        assert_eq!(s.wrappedkey.len(), 61);
        assert_eq!(s.wrappedkey[0], BLOB_VERSION);
        assert_eq!(s.encitem.len(), 1 + 12 + 32 + 64 + 16);
        assert_eq!(s.encitem[0], BLOB_VERSION);
    }

    #[test]
    fn context_is_bound() {
        let mut rng = VaultRng::new().unwrap();
        let e1 = EpochKey::generate(1, &mut rng);
        let e2 = EpochKey::generate(2, &mut rng);
        let (u, v) = (Uuid::new_v4(), Uuid::new_v4());
        let s = seal_item(&e1, &ctx(u, 3), b"secret plaintext", &mut rng).unwrap();
        let ok = open_item(&e1, &ctx(u, 3), &s.wrappedkey, &s.encitem).unwrap();
        assert_eq!(ok.as_slice(), b"secret plaintext");
        let bad = |e: &EpochKey, c: ItemContext<'_>| open_item(e, &c, &s.wrappedkey, &s.encitem);
        assert_eq!(bad(&e1, ctx(u, 4)), Err(DecryptError::Authentication));
        assert_eq!(bad(&e1, ctx(v, 3)), Err(DecryptError::Authentication));
        assert_eq!(bad(&e2, ctx(u, 3)), Err(DecryptError::Authentication));
        let other_zone = ItemContext {
            zone: "other",
            ..ctx(u, 3)
        };
        assert_eq!(bad(&e1, other_zone), Err(DecryptError::Authentication));
    }

    #[test]
    fn a_blob_never_opens_under_another_content_key() {
        // Splice another item's wrappedkey (same epoch and uuid, so it
        // unwraps): the key commitment refuses before the AEAD runs.
        let mut rng = VaultRng::new().unwrap();
        let e = EpochKey::generate(1, &mut rng);
        let u = Uuid::new_v4();
        let a = seal_item(&e, &ctx(u, 1), b"a", &mut rng).unwrap();
        let b = seal_item(&e, &ctx(u, 1), b"b", &mut rng).unwrap();
        assert_eq!(
            open_item(&e, &ctx(u, 1), &b.wrappedkey, &a.encitem),
            Err(DecryptError::KeyCommitment)
        );
    }

    #[test]
    fn rewrap_keeps_encitem_and_moves_epoch() {
        let mut rng = VaultRng::new().unwrap();
        let e1 = EpochKey::generate(1, &mut rng);
        let e2 = EpochKey::generate(2, &mut rng);
        let u = Uuid::new_v4();
        let s = seal_item(&e1, &ctx(u, 1), b"x", &mut rng).unwrap();
        let w2 = rewrap_content_key(&e1, &e2, u, &s.wrappedkey, &mut rng).unwrap();
        assert_ne!(w2, s.wrappedkey);
        assert_eq!(
            open_item(&e2, &ctx(u, 1), &w2, &s.encitem)
                .unwrap()
                .as_slice(),
            b"x"
        );
        assert!(open_item(&e1, &ctx(u, 1), &w2, &s.encitem).is_err());
    }

    #[test]
    fn truncated_and_unknown_versions_are_typed() {
        let mut rng = VaultRng::new().unwrap();
        let e = EpochKey::generate(1, &mut rng);
        let u = Uuid::new_v4();
        let s = seal_item(&e, &ctx(u, 1), b"x", &mut rng).unwrap();
        let c = ctx(u, 1);
        assert_eq!(
            open_item(&e, &c, &s.wrappedkey[..30], &s.encitem),
            Err(DecryptError::Truncated)
        );
        assert_eq!(
            open_item(&e, &c, &s.wrappedkey, &s.encitem[..40]),
            Err(DecryptError::Truncated)
        );
        let mut v = s.encitem.clone();
        v[0] = 9;
        assert_eq!(
            open_item(&e, &c, &s.wrappedkey, &v),
            Err(DecryptError::UnsupportedVersion(9))
        );
    }
}
