//! What the storage keeps for sync zones, and how its zone operations
//! fail. Records, pages, push replies and manifests are `vault_core::sync`'s
//! own types: the server stores and serves exactly what devices encode.
//!
//! A zone is created by its first write; one never written reads as empty
//! (seq 0, epoch 1, or the last restore's epoch). Each zone has a counter
//! row: `seq` grows by one per saved record inside the push's write
//! transaction (so sequence order is commit order), `epoch` starts at 1 and
//! changes only when `vault-server restore` moves every zone to a new one,
//! and tombstones with `seq <= gc_seq` may have been collected.

use super::quota::QuotaExceeded;
use super::{PeerBytes, StorageError};
use vault_core::sync::Token;

pub use vault_core::sync::{ChangesPage, PushReply, PushResult, ServerManifest, TaggedRecord};

/// A zone's epoch when it is created in a database never restored.
pub const FIRST_EPOCH: u32 = 1;

/// A signed manifest to store: decoded and verified by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManifest {
    /// The signer (the caller).
    pub peer: PeerBytes,
    /// The signer's counter (must grow).
    pub counter: u64,
    /// The change token the signer reached.
    pub token: Token,
    /// The manifest's body, as signed.
    pub body: Vec<u8>,
    /// The signature over it.
    pub signature: [u8; 64],
}

/// One stored signed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// The signer.
    pub peer: PeerBytes,
    /// The body, as signed.
    pub body: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// What storing a manifest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestStored {
    /// The counter stored.
    pub counter: u64,
    /// The zone's `gc_seq` afterwards.
    pub gc_seq: u64,
    /// Tombstones collected by this call.
    pub collected: usize,
}

/// A zone of a circle and its sequence (what a lagging socket is told).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSeq {
    /// The zone's name.
    pub zone: String,
    /// Its sequence.
    pub seq: u64,
}

/// Why a changes page was not read.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// The token is of another epoch, behind collected tombstones, or
    /// ahead of the zone: the device must resync from the start.
    #[error("the change token expired")]
    TokenExpired,
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a push saved nothing.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The writer is not a current member.
    #[error("the writer is not a current member")]
    NotMember,
    /// A record's circle position is past the circle log's head.
    #[error("a record's circle position is past the log's head")]
    CirclePos,
    /// The batch would take the circle past a quota.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a manifest was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ManifestPutError {
    /// The counter is not greater than the one stored for the signer.
    #[error("the manifest's counter does not grow")]
    StaleCounter,
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The first and last possible uuid of a bucket (a bucket is a uuid's
/// first byte).
pub fn bucket_range(bucket: u8) -> ([u8; 16], [u8; 16]) {
    let mut lo = [0u8; 16];
    let mut hi = [0xffu8; 16];
    lo[0] = bucket;
    hi[0] = bucket;
    (lo, hi)
}

/// The epoch every zone moves to when a backup is restored: past `known`
/// (the highest epoch the database names) and at least `now` (Unix
/// seconds); `None` when no epoch is left. Why this is safe is told in
/// `sqlite::restore::epochs`; both backends' restores use it.
pub fn restored_epoch(now: u64, known: u32) -> Option<u32> {
    let past = known.checked_add(1)?;
    Some(past.max(u32::try_from(now).unwrap_or(u32::MAX)))
}
