//! Device names in the circle log, sealed under the vault key of an epoch
//! so the server never learns them; every name seals to the same length.

use super::entry::EntryError;
use crate::crypto::envelope::{open_blob, seal_blob};
use crate::crypto::{BLOB_VERSION, EpochKey, NONCE_LEN, Namespace, PeerId, TAG_LEN, VaultRng};
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The longest device name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 64;
/// A sealed name's blob: `version || nonce || (len u8 || name padded to 64) || tag`.
/// Every name seals to the same length, so the log does not leak it.
pub const SEALED_NAME_LEN: usize = 1 + NONCE_LEN + 1 + MAX_NAME_LEN + TAG_LEN;

/// Why a device name could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("device name is {0} bytes; the limit is {MAX_NAME_LEN}")]
    TooLong(usize),
    /// The key given is of another epoch than the one the name is sealed under.
    #[error("name is sealed under epoch {sealed}, not {given}")]
    WrongEpoch {
        /// The epoch the name is sealed under.
        sealed: u32,
        /// The key's epoch.
        given: u32,
    },
    /// The AEAD refused: another key, peer or circle, or altered bytes.
    #[error("sealed name does not open")]
    Decrypt,
    /// It opened but is not a padded UTF-8 name.
    #[error("sealed name is malformed")]
    Malformed,
}

/// A device's display name, sealed (AES-256-GCM) under the vault key of
/// `epoch`: the server never learns device names. The AAD binds the circle,
/// the peer and the epoch key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedName {
    epoch: u32,
    blob: Vec<u8>,
}

impl fmt::Debug for SealedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedName {{ epoch: {}, <{} bytes> }}",
            self.epoch,
            self.blob.len()
        )
    }
}

/// What a sealed name's associated data binds after its label: the
/// circle, the peer, and the epoch key's number and uuid.
fn name_context(key: &EpochKey, circle_id: Uuid, peer: &PeerId) -> [u8; 16 + 32 + 4 + 16] {
    let mut aad = [0u8; 16 + 32 + 4 + 16];
    aad[..16].copy_from_slice(circle_id.as_bytes());
    aad[16..48].copy_from_slice(peer.as_bytes());
    aad[48..52].copy_from_slice(&key.number().to_be_bytes());
    aad[52..].copy_from_slice(key.key_uuid().as_bytes());
    aad
}

impl SealedName {
    /// Seals `name` (at most [`MAX_NAME_LEN`] bytes, padded to it).
    pub fn seal(
        key: &EpochKey,
        circle_id: Uuid,
        peer: &PeerId,
        name: &str,
        rng: &mut VaultRng,
    ) -> Result<SealedName, NameError> {
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong(name.len()));
        }
        let mut plain = Zeroizing::new([0u8; 1 + MAX_NAME_LEN]);
        plain[0] = name.len() as u8;
        plain[1..1 + name.len()].copy_from_slice(name.as_bytes());
        let blob = seal_blob(
            &key.key,
            Namespace::DeviceName,
            &[&name_context(key, circle_id, peer)],
            &*plain,
            rng,
        )
        .map_err(|_| NameError::Decrypt)?;
        Ok(SealedName {
            epoch: key.number(),
            blob,
        })
    }

    /// Opens the name with the vault key of its epoch.
    pub fn open(
        &self,
        key: &EpochKey,
        circle_id: Uuid,
        peer: &PeerId,
    ) -> Result<String, NameError> {
        if key.number() != self.epoch {
            return Err(NameError::WrongEpoch {
                sealed: self.epoch,
                given: key.number(),
            });
        }
        let mut plain = Zeroizing::new(Vec::with_capacity(1 + MAX_NAME_LEN));
        open_blob(
            &key.key,
            Namespace::DeviceName,
            &[&name_context(key, circle_id, peer)],
            &self.blob,
            &mut plain,
        )
        .map_err(|_| NameError::Decrypt)?;
        let len = usize::from(plain[0]);
        if len > MAX_NAME_LEN || plain[1 + len..].iter().any(|&b| b != 0) {
            return Err(NameError::Malformed);
        }
        String::from_utf8(plain[1..1 + len].to_vec()).map_err(|_| NameError::Malformed)
    }

    /// A sealed name from its parts (as stored), length-checked.
    pub fn from_parts(epoch: u32, blob: Vec<u8>) -> Result<SealedName, EntryError> {
        if blob.len() != SEALED_NAME_LEN {
            return Err(EntryError::NameLength(blob.len()));
        }
        if blob[0] != BLOB_VERSION {
            return Err(EntryError::UnknownVersion(blob[0]));
        }
        Ok(SealedName { epoch, blob })
    }

    /// The epoch whose vault key seals the name.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The sealed blob.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }
}
