//! The manifest rules. A zone's manifest is the Merkle root over its live
//! records: bucket hashes cached per bucket, the root cached in the zone
//! row. A push marks the buckets it touched dirty and clears the root in
//! its own transaction, so a cached root is always its snapshot's: the
//! no-change check reads one row ([`cached`]); a read that finds none
//! recomputes the dirty buckets only ([`refresh`]). A peer's signed
//! manifest is stored only if its counter grows, and then tombstones are
//! collected ([`put`]): once every current member has a manifest of the
//! zone's epoch, those with `seq <=` the smallest of their token seqs
//! (capped at the zone's seq) are deleted and `gc_seq` rises to it.

use crate::storage::zone::FIRST_EPOCH;
use crate::storage::{
    ManifestPutError, ManifestStored, NewManifest, PeerBytes, ServerManifest, StorageError,
};
use uuid::Uuid;
use vault_core::sync::{Leaf, Manifest, SignedManifest, Token, bucket_hash};

/// A zone's counter row as the rules read it; `id` is `None` for a zone
/// never written (which reads as empty, at the epoch it would be created
/// at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneState {
    /// The backend's id of the zone, if it has a row.
    pub id: Option<i64>,
    /// Its epoch.
    pub epoch: u32,
    /// Its seq.
    pub seq: u64,
    /// Tombstones with `seq <=` this may have been collected.
    pub gc_seq: u64,
    /// Its live records.
    pub live: u64,
    /// The cached manifest root, `None` while a bucket is dirty.
    pub root: Option<[u8; 32]>,
}

impl ZoneState {
    /// How a zone never written reads, before any restore.
    pub const EMPTY: ZoneState = ZoneState {
        id: None,
        epoch: FIRST_EPOCH,
        seq: 0,
        gc_seq: 0,
        live: 0,
        root: None,
    };

    /// The change token the zone is at.
    pub fn token(&self) -> Token {
        Token {
            epoch: self.epoch,
            seq: self.seq,
        }
    }
}

/// What reading a manifest needs of a backend, in one snapshot.
pub trait ManifestRead {
    /// The zone's row, or an empty state for a zone never written.
    fn zone(&mut self, circle_id: Uuid, zone: &str) -> Result<ZoneState, StorageError>;
    /// Every bucket hash (a bucket without a row is empty); `None` if one
    /// is dirty.
    fn buckets(&mut self, zone_id: i64) -> Result<Option<Manifest>, StorageError>;
    /// The zone's stored signed manifests, by peer id, decoded.
    fn signed_manifests(&mut self, zone_id: i64) -> Result<Vec<SignedManifest>, StorageError>;
}

/// What recomputing a manifest and storing a peer's need, in one write
/// transaction.
pub trait ManifestWrite: ManifestRead {
    /// The zone's row, created if needed, locked until the transaction
    /// ends (its `id` is set).
    fn lock_zone(&mut self, circle_id: Uuid, zone: &str) -> Result<ZoneState, StorageError>;
    /// The dirty buckets.
    fn dirty_buckets(&mut self, zone_id: i64) -> Result<Vec<u8>, StorageError>;
    /// The live records of a bucket as leaves, in uuid order.
    fn bucket_leaves(&mut self, zone_id: i64, bucket: u8) -> Result<Vec<Leaf>, StorageError>;
    /// Caches a bucket's hash.
    fn store_bucket(
        &mut self,
        zone_id: i64,
        bucket: u8,
        hash: [u8; 32],
    ) -> Result<(), StorageError>;
    /// Caches the root.
    fn set_root(&mut self, zone_id: i64, root: [u8; 32]) -> Result<(), StorageError>;
    /// The counter of the peer's stored manifest of the zone.
    fn manifest_counter(
        &mut self,
        zone_id: i64,
        peer: &PeerBytes,
    ) -> Result<Option<u64>, StorageError>;
    /// Stores (or replaces) the peer's manifest.
    fn store_manifest(&mut self, zone_id: i64, m: &NewManifest) -> Result<(), StorageError>;
    /// The circle's current members, how many of them have a manifest of
    /// this zone at `epoch`, and the smallest token seq among those.
    fn signed_positions(
        &mut self,
        circle_id: Uuid,
        zone_id: i64,
        epoch: u32,
    ) -> Result<(u64, u64, Option<u64>), StorageError>;
    /// Deletes the tombstones with `after < seq <= upto`: how many, and the
    /// ciphertext bytes they held.
    fn delete_tombstones(
        &mut self,
        zone_id: i64,
        after: u64,
        upto: u64,
    ) -> Result<(usize, u64), StorageError>;
    /// Sets `gc_seq` and takes the freed bytes off the zone's count.
    fn set_gc(&mut self, zone_id: i64, gc_seq: u64, freed: u64) -> Result<(), StorageError>;
}

fn answer(
    row: &ZoneState,
    root: [u8; 32],
    buckets: Option<Manifest>,
    manifests: Vec<SignedManifest>,
) -> ServerManifest {
    ServerManifest {
        token: row.token(),
        root,
        count: row.live,
        buckets,
        manifests,
    }
}

/// The manifest of a zone never written.
fn empty(row: &ZoneState, with_buckets: bool) -> ServerManifest {
    let manifest = Manifest::default();
    let root = manifest.root();
    answer(row, root, with_buckets.then_some(manifest), Vec::new())
}

/// The manifest from the caches, or `None` if a bucket is dirty.
pub fn cached<T: ManifestRead + ?Sized>(
    tx: &mut T,
    circle_id: Uuid,
    zone: &str,
    with_buckets: bool,
) -> Result<Option<ServerManifest>, StorageError> {
    let row = tx.zone(circle_id, zone)?;
    let Some(zone_id) = row.id else {
        return Ok(Some(empty(&row, with_buckets)));
    };
    let Some(root) = row.root else {
        return Ok(None);
    };
    let buckets = match with_buckets {
        true => match tx.buckets(zone_id)? {
            Some(m) => Some(m),
            None => return Ok(None),
        },
        false => None,
    };
    Ok(Some(answer(
        &row,
        root,
        buckets,
        tx.signed_manifests(zone_id)?,
    )))
}

/// Recomputes the dirty buckets and the root, caches them, and answers.
pub fn refresh<T: ManifestWrite + ?Sized>(
    tx: &mut T,
    circle_id: Uuid,
    zone: &str,
    with_buckets: bool,
) -> Result<ServerManifest, StorageError> {
    let row = tx.zone(circle_id, zone)?;
    let Some(zone_id) = row.id else {
        return Ok(empty(&row, with_buckets));
    };
    for bucket in tx.dirty_buckets(zone_id)? {
        let leaves = tx.bucket_leaves(zone_id, bucket)?;
        tx.store_bucket(zone_id, bucket, bucket_hash(&leaves))?;
    }
    let manifest = tx
        .buckets(zone_id)?
        .ok_or_else(|| StorageError::Backend("a bucket is still dirty".into()))?;
    let root = manifest.root();
    tx.set_root(zone_id, root)?;
    let peers = tx.signed_manifests(zone_id)?;
    Ok(answer(&row, root, with_buckets.then_some(manifest), peers))
}

/// Stores a peer's manifest if its counter grows, then collects the
/// tombstones every current member's manifest passed.
pub fn put<T: ManifestWrite + ?Sized>(
    tx: &mut T,
    circle_id: Uuid,
    zone: &str,
    m: &NewManifest,
) -> Result<ManifestStored, ManifestPutError> {
    let row = tx.lock_zone(circle_id, zone)?;
    let zone_id = row
        .id
        .ok_or_else(|| StorageError::Backend("the zone row just made is missing".into()))?;
    if tx
        .manifest_counter(zone_id, &m.peer)?
        .is_some_and(|c| m.counter <= c)
    {
        return Err(ManifestPutError::StaleCounter);
    }
    tx.store_manifest(zone_id, m)?;
    let (gc_seq, collected) = collect(tx, circle_id, zone_id, &row)?;
    Ok(ManifestStored {
        counter: m.counter,
        gc_seq,
        collected,
    })
}

/// Tombstone collection: the zone's `gc_seq` afterwards and the tombstones
/// deleted.
fn collect<T: ManifestWrite + ?Sized>(
    tx: &mut T,
    circle_id: Uuid,
    zone_id: i64,
    row: &ZoneState,
) -> Result<(u64, usize), StorageError> {
    let (members, signed, min_seq) = tx.signed_positions(circle_id, zone_id, row.epoch)?;
    let Some(min_seq) = min_seq.filter(|_| members > 0 && signed == members) else {
        return Ok((row.gc_seq, 0));
    };
    let upto = min_seq.min(row.seq);
    if upto <= row.gc_seq {
        return Ok((row.gc_seq, 0));
    }
    // Tombstones at or below the old gc_seq are gone already.
    let (collected, freed) = tx.delete_tombstones(zone_id, row.gc_seq, upto)?;
    tx.set_gc(zone_id, upto, freed)?;
    Ok((upto, collected))
}
