//! The push rule: a batch written by one current member is saved record by
//! record in one write transaction. A record is saved, at the zone's seq +
//! 1, if its `tag` is the stored record's seq (or 0 and there is none) and
//! its gencount is greater than the stored one's; otherwise it is a
//! conflict, answered with the stored record. Nothing is saved if a
//! record's circle position is past the log's head, or if the saved
//! records would take the circle past its live-record or byte quota.

use crate::storage::quota::{self, QuotaOverrides, Quotas, Usage};
use crate::storage::{PeerBytes, PushError, PushReply, PushResult, StorageError, TaggedRecord};
use std::collections::HashMap;
use uuid::Uuid;
use vault_core::sync::{BUCKETS, SealedRecord, Token};

/// A stored record, as the rule judges a record pushed over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Its seq (the tag a device must name to replace it).
    pub seq: u64,
    /// Its gencount.
    pub gencount: u64,
    /// Whether it is a tombstone.
    pub tomb: bool,
    /// The ciphertext bytes it holds (what `max_bytes` counts).
    pub bytes: u64,
}

/// A zone's counter row, locked by the transaction until it ends (a row is
/// created for a zone never written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedZone {
    /// The backend's id of the zone.
    pub id: i64,
    /// Its epoch.
    pub epoch: u32,
    /// Its seq: the last one taken.
    pub seq: u64,
    /// Its live (not tombstone) records.
    pub live: u64,
}

/// A record to save at its seq, with its content hash.
#[derive(Debug, Clone, Copy)]
pub struct Save<'a> {
    /// The seq it takes.
    pub seq: u64,
    /// The record.
    pub record: &'a SealedRecord,
    /// Its content hash (the manifest's leaf).
    pub content: &'a [u8; 32],
    /// Whether it replaces a stored record of its uuid (else it is new
    /// to the zone).
    pub replaces: bool,
}

/// What the push rule needs of a backend, inside one write transaction.
pub trait PushTx {
    /// Whether `peer` is a current (not removed) member of the circle.
    fn is_current_member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
    ) -> Result<bool, StorageError>;
    /// The seq of the circle log's head.
    fn circle_head(&mut self, circle_id: Uuid) -> Result<u64, StorageError>;
    /// The zone's counter row, created if needed, locked until the end of
    /// the transaction: pushes to one zone take their seqs in commit order.
    fn lock_zone(&mut self, circle_id: Uuid, zone: &str) -> Result<LockedZone, StorageError>;
    /// The stored records among `uuids`.
    fn held(&mut self, zone_id: i64, uuids: &[Uuid]) -> Result<HashMap<Uuid, Held>, StorageError>;
    /// The stored records among `uuids`, whole, each tagged with its seq.
    fn current(
        &mut self,
        zone_id: i64,
        uuids: &[Uuid],
    ) -> Result<HashMap<Uuid, TaggedRecord>, StorageError>;
    /// Saves the records (each replacing the stored one of its uuid).
    fn save(&mut self, zone_id: i64, rows: &[Save<'_>]) -> Result<(), StorageError>;
    /// Marks the manifest buckets dirty and drops the cached root.
    fn mark_dirty(&mut self, zone_id: i64, buckets: &[u8]) -> Result<(), StorageError>;
    /// Sets the zone's seq and live count and adds to its bytes.
    fn set_counters(
        &mut self,
        zone_id: i64,
        seq: u64,
        live: u64,
        bytes_delta: i64,
    ) -> Result<(), StorageError>;
    /// The circle's current members, live records and bytes.
    fn usage(&mut self, circle_id: Uuid) -> Result<Usage, StorageError>;
    /// The circle's own quota limits.
    fn quota_overrides(&mut self, circle_id: Uuid) -> Result<QuotaOverrides, StorageError>;
}

/// The ciphertext bytes a record stores.
pub fn record_bytes(record: &SealedRecord) -> u64 {
    (record.wrappedkey().len() + record.encitem().len()) as u64
}

/// One batch by `writer` (every record's writer, distinct uuids, checked
/// by the caller); `content[i]` is `records[i]`'s content hash. Run inside
/// the backend's write transaction: an error leaves nothing saved.
pub fn push<T: PushTx + ?Sized>(
    tx: &mut T,
    circle_id: Uuid,
    zone: &str,
    writer: &PeerBytes,
    records: &[TaggedRecord],
    content: &[[u8; 32]],
    quotas: &Quotas,
) -> Result<PushReply, PushError> {
    if !tx.is_current_member(circle_id, writer)? {
        return Err(PushError::NotMember);
    }
    let head = tx.circle_head(circle_id)?;
    if records.iter().any(|r| r.record.circle_pos() > head) {
        return Err(PushError::CirclePos);
    }
    let zone_row = tx.lock_zone(circle_id, zone)?;
    let uuids: Vec<Uuid> = records.iter().map(|r| r.record.uuid()).collect();
    let held = tx.held(zone_row.id, &uuids)?;
    let (mut seq, mut live) = (zone_row.seq, zone_row.live);
    let mut bytes_delta: i64 = 0;
    let mut dirty = [false; BUCKETS];
    let mut saves = Vec::new();
    let mut results = Vec::with_capacity(records.len());
    let mut answer_with_current = Vec::new();
    for ((r, uuid), content) in records.iter().zip(&uuids).zip(content) {
        let rec = &r.record;
        let stored = held.get(uuid);
        let saves_it = match stored {
            None => r.tag == 0,
            Some(h) => r.tag == h.seq && rec.gencount() > h.gencount,
        };
        if !saves_it {
            if stored.is_some() {
                answer_with_current.push((results.len(), *uuid));
            }
            results.push(PushResult::Conflict {
                uuid: *uuid,
                current: None,
            });
            continue;
        }
        seq += 1;
        saves.push(Save {
            seq,
            record: rec,
            content,
            replaces: stored.is_some(),
        });
        let replaced = stored.map_or(0, |h| h.bytes);
        bytes_delta += i64::try_from(record_bytes(rec)).unwrap_or(i64::MAX)
            - i64::try_from(replaced).unwrap_or(i64::MAX);
        match (stored.is_some_and(|h| !h.tomb), rec.tomb()) {
            (false, false) => live += 1,
            (true, true) => live = live.saturating_sub(1),
            _ => {}
        }
        dirty[usize::from(rec.bucket())] = true;
        results.push(PushResult::Saved { uuid: *uuid, seq });
    }
    if !answer_with_current.is_empty() {
        let wanted: Vec<Uuid> = answer_with_current.iter().map(|(_, u)| *u).collect();
        let mut current = tx.current(zone_row.id, &wanted)?;
        for (i, uuid) in answer_with_current {
            if let PushResult::Conflict { current: slot, .. } = &mut results[i] {
                *slot = current.remove(&uuid).map(Box::new);
            }
        }
    }
    if seq != zone_row.seq {
        tx.save(zone_row.id, &saves)?;
        let buckets: Vec<u8> = (0..=u8::MAX).filter(|b| dirty[usize::from(*b)]).collect();
        tx.mark_dirty(zone_row.id, &buckets)?;
        tx.set_counters(zone_row.id, seq, live, bytes_delta)?;
        // Past a quota the error ends the transaction: nothing is saved.
        let after = tx.usage(circle_id)?;
        let before = Usage {
            records: (i128::from(after.records) - i128::from(live) + i128::from(zone_row.live))
                .try_into()
                .unwrap_or(0),
            bytes: (i128::from(after.bytes) - i128::from(bytes_delta))
                .try_into()
                .unwrap_or(0),
            ..after
        };
        let limits = tx.quota_overrides(circle_id)?.over(quotas);
        quota::check(&limits, &before, &after)?;
    }
    Ok(PushReply {
        token: Token {
            epoch: zone_row.epoch,
            seq,
        },
        results,
    })
}
