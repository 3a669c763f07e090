//! Sync zones in SQLite: the counter row, the push rule's primitives (the
//! rule, [`crate::storage::rules::push`], runs in one write transaction per
//! batch), the changes rule's fetch, and bucket reads. Statements are prepared once
//! per connection (`prepare_cached`).

use super::manifests::SqliteManifests;
use super::{circles, db_err};
use crate::storage::quota::{QuotaOverrides, Usage};
use crate::storage::rules::changes::ChangesRead;
use crate::storage::rules::manifest::ZoneState;
use crate::storage::rules::push::{Held, LockedZone, PushTx, Save};
use crate::storage::zone::{FIRST_EPOCH, bucket_range};
use crate::storage::{PeerBytes, StorageError, TaggedRecord, ZoneSeq};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use std::collections::HashMap;
use uuid::Uuid;
use vault_core::circle::PeerId;
use vault_core::sync::{RecordParts, SealedRecord};

/// A zone's counter row (the rules' [`ZoneState`]).
pub(super) type ZoneRow = ZoneState;

/// The zone's row, or [`ZoneRow::EMPTY`].
pub(super) fn zone_row(
    c: &Connection,
    circle_id: Uuid,
    zone: &str,
) -> Result<ZoneRow, StorageError> {
    let row = c
        .prepare_cached(
            "SELECT zone_id, epoch, seq, gc_seq, live, root FROM zones
             WHERE circle_id = ?1 AND name = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![circle_id.as_bytes(), zone], |r| {
                Ok(ZoneRow {
                    id: Some(r.get(0)?),
                    epoch: r.get(1)?,
                    seq: r.get(2)?,
                    gc_seq: r.get(3)?,
                    live: r.get(4)?,
                    root: r.get(5)?,
                })
            })
            .optional()
        })
        .map_err(db_err)?;
    match row {
        Some(row) => Ok(row),
        None => Ok(ZoneRow {
            epoch: new_zone_epoch(c)?,
            ..ZoneRow::EMPTY
        }),
    }
}

/// The epoch a zone without a row reads as and is created at:
/// [`FIRST_EPOCH`], or after a restore the restore's epoch (a zone the
/// backup did not know may have had epochs since, which devices still hold).
pub(super) fn new_zone_epoch(c: &Connection) -> Result<u32, StorageError> {
    c.prepare_cached("SELECT coalesce(max(epoch), ?1) FROM restores")
        .and_then(|mut s| s.query_row([FIRST_EPOCH], |r| r.get(0)))
        .map_err(db_err)
}

/// The zone's row, created if needed; returns it with its id.
pub(super) fn ensure_zone(
    tx: &Connection,
    circle_id: Uuid,
    zone: &str,
) -> Result<(i64, ZoneRow), StorageError> {
    tx.prepare_cached(
        "INSERT INTO zones (circle_id, name, epoch)
         SELECT ?1, ?2, coalesce(max(epoch), ?3) FROM restores WHERE true
         ON CONFLICT (circle_id, name) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![circle_id.as_bytes(), zone, FIRST_EPOCH]))
    .map_err(db_err)?;
    let row = zone_row(tx, circle_id, zone)?;
    let id = row
        .id
        .ok_or_else(|| StorageError::Backend("the zone row just inserted is missing".into()))?;
    Ok((id, row))
}

/// The columns [`tagged_of`] reads, in its order.
pub(super) const RECORD_COLUMNS: &str =
    "seq, uuid, gencount, epoch, tomb, circle_pos, writer, wrappedkey, encitem, signature";

/// A stored record, `tag` being its seq. The schema's CHECKs fix the
/// lengths of the fixed-size columns; a mismatch is a conversion error.
pub(super) fn tagged_of(r: &Row<'_>) -> rusqlite::Result<TaggedRecord> {
    Ok(TaggedRecord {
        tag: r.get(0)?,
        record: SealedRecord::from_parts(RecordParts {
            uuid: Uuid::from_bytes(r.get::<_, [u8; 16]>(1)?),
            gencount: r.get(2)?,
            epoch: r.get(3)?,
            tomb: r.get(4)?,
            circle_pos: r.get(5)?,
            writer: PeerId::from_bytes(r.get::<_, [u8; 32]>(6)?),
            wrappedkey: r.get(7)?,
            encitem: r.get(8)?,
            signature: r.get::<_, [u8; 64]>(9)?,
        })
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Blob, Box::new(e))
        })?,
    })
}

/// The push rule's primitives ([`rules::push`]) on a SQLite write
/// transaction (SQLite's writer lock serializes pushes: the zone row needs
/// no lock of its own). Statements are prepared once per connection.
pub(super) struct SqlitePush<'t, 'c>(pub &'t Transaction<'c>);

impl PushTx for SqlitePush<'_, '_> {
    fn is_current_member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
    ) -> Result<bool, StorageError> {
        match circles::member(self.0, circle_id, peer) {
            Ok(m) => Ok(!m.removed),
            Err(StorageError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn circle_head(&mut self, circle_id: Uuid) -> Result<u64, StorageError> {
        self.0
            .prepare_cached("SELECT head_seq FROM circles WHERE circle_id = ?1")
            .and_then(|mut s| s.query_row([circle_id.as_bytes()], |r| r.get(0)))
            .map_err(db_err)
    }

    fn lock_zone(&mut self, circle_id: Uuid, zone: &str) -> Result<LockedZone, StorageError> {
        let (id, row) = ensure_zone(self.0, circle_id, zone)?;
        Ok(LockedZone {
            id,
            epoch: row.epoch,
            seq: row.seq,
            live: row.live,
        })
    }

    fn held(&mut self, zone_id: i64, uuids: &[Uuid]) -> Result<HashMap<Uuid, Held>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT seq, gencount, tomb, length(wrappedkey) + length(encitem) FROM records
                 WHERE zone_id = ?1 AND uuid = ?2",
            )
            .map_err(db_err)?;
        let mut held = HashMap::new();
        for uuid in uuids {
            let row = stmt
                .query_row(params![zone_id, uuid.as_bytes()], |r| {
                    Ok(Held {
                        seq: r.get(0)?,
                        gencount: r.get(1)?,
                        tomb: r.get(2)?,
                        bytes: r.get(3)?,
                    })
                })
                .optional()
                .map_err(db_err)?;
            if let Some(h) = row {
                held.insert(*uuid, h);
            }
        }
        Ok(held)
    }

    fn current(
        &mut self,
        zone_id: i64,
        uuids: &[Uuid],
    ) -> Result<HashMap<Uuid, TaggedRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE zone_id = ?1 AND uuid = ?2");
        let mut stmt = self.0.prepare_cached(&sql).map_err(db_err)?;
        let mut current = HashMap::new();
        for uuid in uuids {
            let record = stmt
                .query_row(params![zone_id, uuid.as_bytes()], tagged_of)
                .optional()
                .map_err(db_err)?;
            if let Some(r) = record {
                current.insert(*uuid, r);
            }
        }
        Ok(current)
    }

    fn save(&mut self, zone_id: i64, rows: &[Save<'_>]) -> Result<(), StorageError> {
        let mut save = self
            .0
            .prepare_cached(
                "INSERT INTO records (zone_id, uuid, seq, gencount, epoch, tomb, circle_pos, writer,
                                      wrappedkey, encitem, signature, content)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (zone_id, uuid) DO UPDATE SET
                    seq = excluded.seq, gencount = excluded.gencount, epoch = excluded.epoch,
                    tomb = excluded.tomb, circle_pos = excluded.circle_pos,
                    writer = excluded.writer, wrappedkey = excluded.wrappedkey,
                    encitem = excluded.encitem, signature = excluded.signature,
                    content = excluded.content",
            )
            .map_err(db_err)?;
        for row in rows {
            let rec = row.record;
            save.execute(params![
                zone_id,
                rec.uuid().as_bytes(),
                row.seq,
                rec.gencount(),
                rec.epoch(),
                rec.tomb(),
                rec.circle_pos(),
                rec.writer().as_bytes(),
                rec.wrappedkey(),
                rec.encitem(),
                rec.signature(),
                row.content,
            ])
            .map_err(db_err)?;
        }
        Ok(())
    }

    fn mark_dirty(&mut self, zone_id: i64, buckets: &[u8]) -> Result<(), StorageError> {
        let mut mark = self
            .0
            .prepare_cached(
                "INSERT INTO zone_buckets (zone_id, bucket, hash) VALUES (?1, ?2, NULL)
                 ON CONFLICT (zone_id, bucket) DO UPDATE SET hash = NULL",
            )
            .map_err(db_err)?;
        for bucket in buckets {
            mark.execute(params![zone_id, bucket]).map_err(db_err)?;
        }
        Ok(())
    }

    fn set_counters(
        &mut self,
        zone_id: i64,
        seq: u64,
        live: u64,
        bytes_delta: i64,
    ) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "UPDATE zones SET seq = ?2, live = ?3, bytes = bytes + ?4, root = NULL
                 WHERE zone_id = ?1",
            )
            .and_then(|mut s| s.execute(params![zone_id, seq, live, bytes_delta]))
            .map_err(db_err)?;
        Ok(())
    }

    fn usage(&mut self, circle_id: Uuid) -> Result<Usage, StorageError> {
        circles::usage(self.0, circle_id)
    }

    fn quota_overrides(&mut self, circle_id: Uuid) -> Result<QuotaOverrides, StorageError> {
        circles::quota_overrides(self.0, circle_id)
    }
}

/// The changes rule's fetch ([`rules::changes`](crate::storage::rules::changes)),
/// streamed: it stops at the first record past `max_bytes` (and the
/// second record).
impl ChangesRead for SqliteManifests<'_> {
    fn records_after(
        &mut self,
        zone_id: i64,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<TaggedRecord>, StorageError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE zone_id = ?1 AND seq > ?2
             ORDER BY seq LIMIT ?3"
        );
        let mut stmt = self.0.prepare_cached(&sql).map_err(db_err)?;
        let mut rows = stmt
            .query(params![zone_id, after, i64::from(limit) + 1])
            .map_err(db_err)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(r) = rows.next().map_err(db_err)? {
            let rec = tagged_of(r).map_err(db_err)?;
            bytes =
                bytes.saturating_add(rec.record.wrappedkey().len() + rec.record.encitem().len());
            out.push(rec);
            if bytes > max_bytes && out.len() >= 2 {
                break;
            }
        }
        Ok(out)
    }
}

/// The live records of `buckets`, in uuid order.
pub(super) fn bucket_records(
    c: &Connection,
    circle_id: Uuid,
    zone: &str,
    buckets: &[u8],
) -> Result<Vec<TaggedRecord>, StorageError> {
    let tx = c.unchecked_transaction().map_err(db_err)?;
    let Some(zone_id) = zone_row(&tx, circle_id, zone)?.id else {
        return Ok(Vec::new());
    };
    let mut ids = buckets.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM records
         WHERE zone_id = ?1 AND uuid BETWEEN ?2 AND ?3 AND tomb = 0 ORDER BY uuid"
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(db_err)?;
    let mut out = Vec::new();
    for bucket in ids {
        let (lo, hi) = bucket_range(bucket);
        let rows = stmt
            .query_map(params![zone_id, lo, hi], tagged_of)
            .map_err(db_err)?;
        for r in rows {
            out.push(r.map_err(db_err)?);
        }
    }
    Ok(out)
}

/// Every zone of a circle with its seq.
pub(super) fn zone_seqs(c: &Connection, circle_id: Uuid) -> Result<Vec<ZoneSeq>, StorageError> {
    let mut stmt = c
        .prepare_cached("SELECT name, seq FROM zones WHERE circle_id = ?1 ORDER BY name")
        .map_err(db_err)?;
    let rows = stmt
        .query_map([circle_id.as_bytes()], |r| {
            Ok(ZoneSeq {
                zone: r.get(0)?,
                seq: r.get(1)?,
            })
        })
        .map_err(db_err)?;
    rows.map(|r| r.map_err(db_err)).collect()
}
