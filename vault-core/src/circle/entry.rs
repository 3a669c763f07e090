//! Circle log entries: the canonical byte layout, its strict decoder, the
//! signature over it and the entry hash that chains the log.
//!
//! Layout (big-endian), version 1:
//!
//! ```text
//! version u8 (=1) | circle_id 16 | seq u64 | prev 32 | signer 32 | time i64 | kind u8 | body
//! kind 1 Genesis:    signing 32 | agreement 32 | sealed name | n u16 | n × epoch commit
//! kind 2 AddPeer:    signing 32 | agreement 32 | sealed name
//! kind 3 RemovePeer: peer 32
//! kind 4 NewEpoch:   epoch commit
//! kind 5 Removal:    peer 32 | epoch commit | n u8 | n × zone cut (see `cut`)
//! sealed name:       epoch u32 | len u16 | blob (len = 94)
//! epoch commit:      epoch u32 | key_uuid 16 | commit 32
//! ```
//!
//! The signature is Ed25519 over `"vault.v1.circle-entry" || entry`; the
//! hash is SHA-256 of `"vault.v1.circle-hash" || entry || signature`.

use super::cut::{CutError, MAX_CUT_ZONES, ZoneCut};
use super::ids::{EntryHash, PeerId, PeerKeys};
use crate::crypto::{DeviceIdentity, EpochKey, Namespace, hash};
use crate::wire::{ReadError, Reader};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// The entry layout's version byte.
pub const ENTRY_VERSION: u8 = 1;
/// The most epoch commitments a genesis entry carries.
pub const MAX_EPOCHS: usize = 512;
/// Bytes of the fixed part before the body.
const HEAD_LEN: usize = 1 + 16 + 8 + 32 + 32 + 8 + 1;

pub use super::name::{MAX_NAME_LEN, NameError, SEALED_NAME_LEN, SealedName};

const KIND_GENESIS: u8 = 1;
const KIND_ADD_PEER: u8 = 2;
const KIND_REMOVE_PEER: u8 = 3;
const KIND_NEW_EPOCH: u8 = 4;
const KIND_REMOVAL: u8 = 5;

/// Why entry bytes were refused. Decoding is strict: a value that does not
/// re-encode to the same bytes is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The bytes end before the layout does.
    #[error("entry is truncated")]
    Truncated,
    /// Bytes follow the end of the layout.
    #[error("entry has trailing bytes")]
    TrailingBytes,
    /// The version byte is not one this library reads.
    #[error("entry version {0} is not supported")]
    UnknownVersion(u8),
    /// The kind byte names no entry kind.
    #[error("entry kind {0} is not known")]
    UnknownKind(u8),
    /// A public key that does not decode, has small order, or is all zero.
    #[error("entry carries a weak or invalid public key")]
    WeakKey,
    /// More epoch commitments than [`MAX_EPOCHS`].
    #[error("entry lists {0} epochs; the limit is {MAX_EPOCHS}")]
    TooManyEpochs(usize),
    /// A sealed name whose blob is not [`SEALED_NAME_LEN`] bytes.
    #[error("sealed name has length {0}, expected {SEALED_NAME_LEN}")]
    NameLength(usize),
    /// A signature that is not 64 bytes.
    #[error("signature has length {0}, expected 64")]
    SignatureLength(usize),
    /// The signature does not verify (strict Ed25519).
    #[error("signature does not verify")]
    BadSignature,
    /// The keys given are not those of the entry's signer (or the peer named).
    #[error("the keys given are not the signer's")]
    SignerMismatch,
    /// A removal's zone cuts do not decode, repeat a zone, or are too many.
    #[error("the removal's cut: {0}")]
    BadCut(CutError),
}

/// A commitment to one epoch's vault key: SHA-256 of the
/// [`Namespace::EpochCommit`] label, the key uuid and the key. Members check
/// a key they receive against the commitment the chain names.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct EpochCommit {
    /// The epoch's number.
    pub epoch: u32,
    /// The epoch key's uuid (`parent_key_uuid` of the rows it wraps).
    pub key_uuid: Uuid,
    /// SHA-256(label || key_uuid || vault key).
    pub commit: [u8; 32],
}

impl EpochCommit {
    /// The commitment to `key`.
    pub fn of(key: &EpochKey) -> EpochCommit {
        EpochCommit {
            epoch: key.number(),
            key_uuid: key.key_uuid(),
            commit: commit_bytes(key),
        }
    }

    /// Whether `key` is the key this commitment names (constant time).
    pub fn matches(&self, key: &EpochKey) -> bool {
        self.epoch == key.number()
            && self.key_uuid == key.key_uuid()
            && bool::from(self.commit.ct_eq(&commit_bytes(key)))
    }
}

fn commit_bytes(key: &EpochKey) -> [u8; 32] {
    hash(
        Namespace::EpochCommit,
        &[key.key_uuid().as_bytes(), key.key.dangerously_expose()],
    )
}

/// What an entry does.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EntryBody {
    /// The first entry: the founder's keys and name, and a commitment to
    /// every epoch key the founder's vault holds (the last is current).
    Genesis {
        /// The founder's public keys; the entry's signer is their peer id.
        founder: PeerKeys,
        /// The founder's device name.
        name: SealedName,
        /// The epochs the circle starts with, in increasing order.
        epochs: Vec<EpochCommit>,
    },
    /// A new member, with its two public keys.
    AddPeer {
        /// The new member's public keys.
        peer: PeerKeys,
        /// The new member's device name.
        name: SealedName,
    },
    /// A member leaves (or is removed), without a cut: the legacy form,
    /// still verified in old logs. The server takes no new ones.
    RemovePeer {
        /// The member removed.
        peer: PeerId,
    },
    /// A member is removed at a cut, and the vault key moves to a new epoch
    /// the removed member never gets, in one entry.
    Removal {
        /// The member removed.
        peer: PeerId,
        /// The new epoch (current + 1).
        epoch: EpochCommit,
        /// Per zone, the state the remover reached and the hash of the
        /// removed member's records there.
        cuts: Vec<ZoneCut>,
    },
    /// A new vault key epoch (current + 1).
    NewEpoch(EpochCommit),
}

/// One log entry, decoded. Its canonical bytes are [`Entry::to_bytes`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The circle the log belongs to.
    pub circle_id: Uuid,
    /// Position in the log (genesis is 0).
    pub seq: u64,
    /// Hash of the previous entry ([`EntryHash::ZERO`] for genesis).
    pub prev: EntryHash,
    /// The member who signed the entry.
    pub signer: PeerId,
    /// Unix seconds, as the signer's clock said (informational).
    pub time: i64,
    /// What the entry does.
    pub body: EntryBody,
}

fn put_keys(out: &mut Vec<u8>, k: &PeerKeys) {
    out.extend_from_slice(&k.signing);
    out.extend_from_slice(&k.agreement);
}

fn put_name(out: &mut Vec<u8>, n: &SealedName) {
    out.extend_from_slice(&n.epoch().to_be_bytes());
    out.extend_from_slice(&(n.blob().len() as u16).to_be_bytes());
    out.extend_from_slice(n.blob());
}

fn put_commit(out: &mut Vec<u8>, c: &EpochCommit) {
    out.extend_from_slice(&c.epoch.to_be_bytes());
    out.extend_from_slice(c.key_uuid.as_bytes());
    out.extend_from_slice(&c.commit);
}

impl Entry {
    /// Signs the entry as `identity`, which must be the entry's `signer`;
    /// the signature covers the [`Namespace::CircleEntry`] label and the
    /// entry's canonical bytes.
    pub fn sign(self, identity: &DeviceIdentity) -> Result<SignedEntry, EntryError> {
        if self.signer != identity.peer_id() {
            return Err(EntryError::SignerMismatch);
        }
        let bytes = self.to_bytes()?;
        let signature = identity.sign(Namespace::CircleEntry, &[&bytes]);
        Ok(SignedEntry::from_parts(self, bytes, signature))
    }

    /// The canonical bytes (what is signed). Fails only for more than
    /// [`MAX_EPOCHS`] epoch commitments.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EntryError> {
        let mut out = Vec::with_capacity(HEAD_LEN + 64 + 6 + SEALED_NAME_LEN);
        out.push(ENTRY_VERSION);
        out.extend_from_slice(self.circle_id.as_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.prev.0);
        out.extend_from_slice(self.signer.as_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        match &self.body {
            EntryBody::Genesis {
                founder,
                name,
                epochs,
            } => {
                if epochs.len() > MAX_EPOCHS {
                    return Err(EntryError::TooManyEpochs(epochs.len()));
                }
                out.push(KIND_GENESIS);
                put_keys(&mut out, founder);
                put_name(&mut out, name);
                out.extend_from_slice(&(epochs.len() as u16).to_be_bytes());
                for c in epochs {
                    put_commit(&mut out, c);
                }
            }
            EntryBody::AddPeer { peer, name } => {
                out.push(KIND_ADD_PEER);
                put_keys(&mut out, peer);
                put_name(&mut out, name);
            }
            EntryBody::RemovePeer { peer } => {
                out.push(KIND_REMOVE_PEER);
                out.extend_from_slice(peer.as_bytes());
            }
            EntryBody::NewEpoch(c) => {
                out.push(KIND_NEW_EPOCH);
                put_commit(&mut out, c);
            }
            EntryBody::Removal { peer, epoch, cuts } => {
                check_cuts(cuts)?;
                out.push(KIND_REMOVAL);
                out.extend_from_slice(peer.as_bytes());
                put_commit(&mut out, epoch);
                out.push(cuts.len() as u8);
                for c in cuts {
                    c.put(&mut out);
                }
            }
        }
        Ok(out)
    }

    /// Parses canonical bytes strictly: exact lengths, no trailing bytes,
    /// known version and kind, bounded lists, no weak keys.
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != ENTRY_VERSION {
            return Err(EntryError::UnknownVersion(version));
        }
        let circle_id = Uuid::from_bytes(r.array()?);
        let seq = u64::from_be_bytes(r.array()?);
        let prev = EntryHash(r.array()?);
        let signer = PeerId::from_bytes(r.array()?);
        let time = i64::from_be_bytes(r.array()?);
        let body = match r.u8()? {
            KIND_GENESIS => {
                let founder = read_keys(&mut r)?;
                let name = read_name(&mut r)?;
                let n = usize::from(u16::from_be_bytes(r.array()?));
                if n > MAX_EPOCHS {
                    return Err(EntryError::TooManyEpochs(n));
                }
                let epochs = (0..n)
                    .map(|_| read_commit(&mut r))
                    .collect::<Result<_, _>>()?;
                EntryBody::Genesis {
                    founder,
                    name,
                    epochs,
                }
            }
            KIND_ADD_PEER => EntryBody::AddPeer {
                peer: read_keys(&mut r)?,
                name: read_name(&mut r)?,
            },
            KIND_REMOVE_PEER => EntryBody::RemovePeer {
                peer: PeerId::from_bytes(r.array()?),
            },
            KIND_NEW_EPOCH => EntryBody::NewEpoch(read_commit(&mut r)?),
            KIND_REMOVAL => {
                let peer = PeerId::from_bytes(r.array()?);
                let epoch = read_commit(&mut r)?;
                let n = usize::from(r.u8()?);
                let cuts = (0..n)
                    .map(|_| ZoneCut::read(&mut r).map_err(EntryError::BadCut))
                    .collect::<Result<Vec<_>, _>>()?;
                check_cuts(&cuts)?;
                EntryBody::Removal { peer, epoch, cuts }
            }
            other => return Err(EntryError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(Entry {
            circle_id,
            seq,
            prev,
            signer,
            time,
            body,
        })
    }
}

impl From<ReadError> for EntryError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Trailing => EntryError::TrailingBytes,
            // The entry layout has fixed lengths and no varints.
            ReadError::Truncated | ReadError::Varint | ReadError::TooLong => EntryError::Truncated,
        }
    }
}

fn read_keys(r: &mut Reader<'_>) -> Result<PeerKeys, EntryError> {
    let keys = PeerKeys {
        signing: r.array()?,
        agreement: r.array()?,
    };
    check_keys(&keys)?;
    Ok(keys)
}

fn read_name(r: &mut Reader<'_>) -> Result<SealedName, EntryError> {
    let epoch = u32::from_be_bytes(r.array()?);
    let len = usize::from(u16::from_be_bytes(r.array()?));
    if len != SEALED_NAME_LEN {
        return Err(EntryError::NameLength(len));
    }
    SealedName::from_parts(epoch, r.take(len)?.to_vec())
}

fn read_commit(r: &mut Reader<'_>) -> Result<EpochCommit, EntryError> {
    Ok(EpochCommit {
        epoch: u32::from_be_bytes(r.array()?),
        key_uuid: Uuid::from_bytes(r.array()?),
        commit: r.array()?,
    })
}

/// At most [`MAX_CUT_ZONES`] cuts, each zone once, each name valid.
fn check_cuts(cuts: &[ZoneCut]) -> Result<(), EntryError> {
    if cuts.len() > MAX_CUT_ZONES {
        return Err(EntryError::BadCut(CutError::TooLarge));
    }
    for (i, c) in cuts.iter().enumerate() {
        if c.zone.is_empty() || c.zone.len() > super::cut::MAX_ZONE_LEN {
            return Err(EntryError::BadCut(CutError::BadZone));
        }
        if cuts[..i].iter().any(|d| d.zone == c.zone) {
            return Err(EntryError::BadCut(CutError::Unsorted));
        }
    }
    Ok(())
}

/// Refuses an Ed25519 key that does not decode or has small order, and an
/// all-zero X25519 key.
pub(crate) fn check_keys(keys: &PeerKeys) -> Result<(), EntryError> {
    keys.verifying_key().map_err(|_| EntryError::WeakKey)?;
    if keys.agreement == [0; 32] {
        return Err(EntryError::WeakKey);
    }
    Ok(())
}

/// An entry with its signature, as the server stores it and devices verify it.
#[derive(Clone, Debug)]
pub struct SignedEntry {
    entry: Entry,
    bytes: Vec<u8>,
    signature: [u8; 64],
    hash: EntryHash,
}

impl SignedEntry {
    /// Parses an entry and its signature (strictly; see [`Entry::decode`]).
    /// The signature is not checked here: see [`SignedEntry::verify_signature`].
    pub fn decode(entry: &[u8], signature: &[u8]) -> Result<SignedEntry, EntryError> {
        let sig: [u8; 64] = signature
            .try_into()
            .map_err(|_| EntryError::SignatureLength(signature.len()))?;
        let decoded = Entry::decode(entry)?;
        Ok(Self::from_parts(decoded, entry.to_vec(), sig))
    }

    pub(crate) fn from_parts(entry: Entry, bytes: Vec<u8>, signature: [u8; 64]) -> SignedEntry {
        let hash = EntryHash(hash(Namespace::CircleHash, &[&bytes, &signature]));
        SignedEntry {
            entry,
            bytes,
            signature,
            hash,
        }
    }

    /// The decoded entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The entry's canonical bytes (what was signed).
    pub fn entry_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The Ed25519 signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// SHA-256 of the [`Namespace::CircleHash`] label, entry bytes and signature.
    pub fn hash(&self) -> EntryHash {
        self.hash
    }

    /// Strict Ed25519 verification by `signer`, whose peer id must be the
    /// entry's signer.
    pub fn verify_signature(&self, signer: &PeerKeys) -> Result<(), EntryError> {
        if signer.peer_id() != self.entry.signer {
            return Err(EntryError::SignerMismatch);
        }
        let key = signer.verifying_key().map_err(|_| EntryError::WeakKey)?;
        key.verify(Namespace::CircleEntry, &[&self.bytes], &self.signature)
            .map_err(|_| EntryError::BadSignature)
    }
}
