//! Key shares: vault keys sealed to one member's X25519 key (ephemeral
//! X25519, HKDF-SHA256, AES-256-GCM) and signed by the sender's Ed25519 key.
//!
//! ```text
//! header     = version u8 (=1) | circle_id 16 | sender 32 | recipient 32 | ephemeral X25519 32
//! ciphertext = nonce 12 | AES-256-GCM(key, nonce, aad = header, plaintext) (+ tag 16)
//! plaintext  = n u16 | n × (epoch u32 | key_uuid 16 | vault key 32)
//! key        = HKDF-SHA256(salt = ephemeral || recipient X25519, ikm = X25519(eph, recipient),
//!                          info = "vault.v1.key-share")
//! signature  = Ed25519(sender, "vault.v1.share-sig" || header || ciphertext)
//! bytes      = header | ciphertext | signature 64
//! ```

use super::chain::CircleState;
use super::entry::MAX_EPOCHS;
use super::ids::{PeerId, PeerKeys};
use crate::crypto::envelope::{open_share, seal_share};
use crate::crypto::{
    DeviceIdentity, EphemeralSecret, EpochKey, KEY_LEN, NONCE_LEN, Namespace, ShareKey, TAG_LEN,
    VaultKey, VaultRng, VerifyError, derive_key,
};
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The share layout's version byte.
pub const SHARE_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 16 + 32 + 32 + 32;
const RECORD_LEN: usize = 4 + 16 + KEY_LEN;
const SIG_LEN: usize = 64;

/// Why a key share could not be sealed, parsed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// Bytes shorter than the layout, or a plaintext of the wrong length.
    #[error("key share is truncated or malformed")]
    Malformed,
    /// The version byte is not one this library reads.
    #[error("key share version {0} is not supported")]
    UnknownVersion(u8),
    /// A share with no epoch, or more than [`MAX_EPOCHS`].
    #[error("a key share holds 1 to {MAX_EPOCHS} epochs, not {0}")]
    EpochCount(usize),
    /// The same epoch twice in one share.
    #[error("epoch {0} appears twice in the share")]
    DuplicateEpoch(u32),
    /// The share is addressed to another device.
    #[error("the key share is addressed to another device")]
    WrongRecipient,
    /// The keys given are not the ones of the share's sender.
    #[error("the sender's keys given are not the share's sender")]
    WrongSender,
    /// The share is for another circle.
    #[error("the key share belongs to another circle")]
    WrongCircle,
    /// The sender is not, or was not at the epoch's start, a member.
    #[error("the share's sender {0} is not a member for its epochs")]
    SenderNotMember(PeerId),
    /// The sender's signature does not verify (strict Ed25519).
    #[error("the key share's signature does not verify")]
    BadSignature,
    /// A weak or small-order key (no contributory X25519 secret).
    #[error("the key share involves a weak key")]
    WeakKey,
    /// The ciphertext did not open.
    #[error("the key share does not decrypt")]
    Decrypt,
    /// The chain names no such epoch.
    #[error("the chain names no epoch {0}")]
    UnknownEpoch(u32),
    /// The key is not the one the chain's epoch commitment names.
    #[error("the key of epoch {0} does not match the chain's commitment")]
    CommitMismatch(u32),
}

/// Vault keys sealed to one recipient and signed by their sender.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyShare {
    bytes: Vec<u8>,
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyShare")
            .field("circle_id", &self.circle_id())
            .field("sender", &self.sender())
            .field("recipient", &self.recipient())
            .field("len", &self.bytes.len())
            .finish()
    }
}

fn share_key(shared: &[u8; KEY_LEN], eph: &[u8; 32], recipient: &[u8; 32]) -> ShareKey {
    let salt = [&eph[..], &recipient[..]].concat();
    ShareKey::from_bytes(derive_key(Namespace::KeyShare, Some(&salt), shared, &[]))
}

impl KeyShare {
    /// Seals `epochs` to `recipient` and signs the share as `sender`.
    pub fn seal(
        sender: &DeviceIdentity,
        recipient: &PeerKeys,
        circle_id: Uuid,
        epochs: &[&EpochKey],
        rng: &mut VaultRng,
    ) -> Result<KeyShare, ShareError> {
        if epochs.is_empty() || epochs.len() > MAX_EPOCHS {
            return Err(ShareError::EpochCount(epochs.len()));
        }
        let eph = EphemeralSecret::generate(rng);
        let eph_pub = eph.public();
        let shared = eph.agree(&recipient.agreement).ok_or(ShareError::WeakKey)?;
        let key = share_key(&shared, &eph_pub, &recipient.agreement);

        let mut bytes = Vec::with_capacity(
            HEADER_LEN + NONCE_LEN + 2 + RECORD_LEN * epochs.len() + TAG_LEN + SIG_LEN,
        );
        bytes.push(SHARE_VERSION);
        bytes.extend_from_slice(circle_id.as_bytes());
        bytes.extend_from_slice(sender.peer_id().as_bytes());
        bytes.extend_from_slice(recipient.peer_id().as_bytes());
        bytes.extend_from_slice(&eph_pub);

        let mut plain = Zeroizing::new(Vec::with_capacity(2 + RECORD_LEN * epochs.len()));
        plain.extend_from_slice(&(epochs.len() as u16).to_be_bytes());
        for e in epochs {
            plain.extend_from_slice(&e.number.to_be_bytes());
            plain.extend_from_slice(e.key_uuid.as_bytes());
            plain.extend_from_slice(e.key.dangerously_expose());
        }
        let nonce: [u8; NONCE_LEN] = rng.array();
        let header = bytes.clone();
        bytes.extend_from_slice(&nonce);
        seal_share(&key, &header, &nonce, &plain, &mut bytes).map_err(|_| ShareError::Malformed)?;
        let sig = sender.sign(Namespace::ShareSignature, &[&bytes]);
        bytes.extend_from_slice(&sig);
        Ok(KeyShare { bytes })
    }

    /// The share as one blob (header, ciphertext, signature), for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The blob, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Parses a share's blob; nothing is verified until [`KeyShare::open`].
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare, ShareError> {
        if bytes.is_empty() {
            return Err(ShareError::Malformed);
        }
        if bytes[0] != SHARE_VERSION {
            return Err(ShareError::UnknownVersion(bytes[0]));
        }
        let body = bytes
            .len()
            .checked_sub(HEADER_LEN + NONCE_LEN + TAG_LEN + SIG_LEN + 2)
            .ok_or(ShareError::Malformed)?;
        if body % RECORD_LEN != 0 {
            return Err(ShareError::Malformed);
        }
        let n = body / RECORD_LEN;
        if n == 0 || n > MAX_EPOCHS {
            return Err(ShareError::EpochCount(n));
        }
        Ok(KeyShare {
            bytes: bytes.to_vec(),
        })
    }

    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[at..at + N]);
        out
    }

    /// The circle the share belongs to.
    pub fn circle_id(&self) -> Uuid {
        Uuid::from_bytes(self.array(1))
    }

    /// The member who sealed and signed the share.
    pub fn sender(&self) -> PeerId {
        PeerId::from_bytes(self.array(17))
    }

    /// The member the share is sealed to.
    pub fn recipient(&self) -> PeerId {
        PeerId::from_bytes(self.array(49))
    }

    /// Verifies the sender's signature, then opens the share as `me`.
    pub fn open(
        &self,
        me: &DeviceIdentity,
        sender: &PeerKeys,
    ) -> Result<Vec<EpochKey>, ShareError> {
        if sender.peer_id() != self.sender() {
            return Err(ShareError::WrongSender);
        }
        let split = self.bytes.len() - SIG_LEN;
        let (signed, sig) = self.bytes.split_at(split);
        let sig: [u8; SIG_LEN] = sig.try_into().map_err(|_| ShareError::Malformed)?;
        sender
            .verify(Namespace::ShareSignature, &[signed], &sig)
            .map_err(|e| match e {
                VerifyError::WeakKey(_) => ShareError::WeakKey,
                VerifyError::BadSignature(_) => ShareError::BadSignature,
            })?;
        if self.recipient() != me.peer_id() {
            return Err(ShareError::WrongRecipient);
        }
        let eph: [u8; 32] = self.array(81);
        let shared = me.agree(&eph).ok_or(ShareError::WeakKey)?;
        let key = share_key(&shared, &eph, &me.public().agreement);
        let nonce: [u8; NONCE_LEN] = self.array(HEADER_LEN);
        let mut plain = Zeroizing::new(Vec::new());
        open_share(
            &key,
            &signed[..HEADER_LEN],
            &nonce,
            &signed[HEADER_LEN + NONCE_LEN..],
            &mut plain,
        )
        .map_err(|_| ShareError::Decrypt)?;
        parse_plaintext(&plain)
    }

    /// [`KeyShare::open`] against a verified chain: the share is for this
    /// circle, its sender was a member when each epoch it holds began (and
    /// its keys come from the chain), and every key matches the chain's
    /// commitment.
    pub fn open_verified(
        &self,
        me: &DeviceIdentity,
        state: &CircleState,
    ) -> Result<Vec<EpochKey>, ShareError> {
        if self.circle_id() != state.circle_id() {
            return Err(ShareError::WrongCircle);
        }
        let sender_id = self.sender();
        let sender = state
            .peer(&sender_id)
            .ok_or(ShareError::SenderNotMember(sender_id))?;
        let keys = self.open(me, &sender.keys)?;
        for k in &keys {
            let commit = state
                .epoch(k.number)
                .ok_or(ShareError::UnknownEpoch(k.number))?;
            let started = state
                .epoch_seq(k.number)
                .ok_or(ShareError::UnknownEpoch(k.number))?;
            if sender.removed.is_some_and(|r| r.seq <= started) {
                return Err(ShareError::SenderNotMember(sender_id));
            }
            if !commit.matches(k) {
                return Err(ShareError::CommitMismatch(k.number));
            }
        }
        Ok(keys)
    }
}

fn parse_plaintext(plain: &[u8]) -> Result<Vec<EpochKey>, ShareError> {
    if plain.len() < 2 {
        return Err(ShareError::Malformed);
    }
    let n = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
    if n == 0 || n > MAX_EPOCHS {
        return Err(ShareError::EpochCount(n));
    }
    if plain.len() != 2 + n * RECORD_LEN {
        return Err(ShareError::Malformed);
    }
    let mut out: Vec<EpochKey> = Vec::with_capacity(n);
    for rec in plain[2..].chunks_exact(RECORD_LEN) {
        let mut num = [0u8; 4];
        num.copy_from_slice(&rec[..4]);
        let number = u32::from_be_bytes(num);
        if out.iter().any(|e| e.number == number) {
            return Err(ShareError::DuplicateEpoch(number));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&rec[4..20]);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&rec[20..]);
        out.push(EpochKey {
            number,
            key_uuid: Uuid::from_bytes(uuid),
            key: VaultKey::from_bytes(key),
        });
    }
    Ok(out)
}
