//! The push rule's primitives ([`rules::push`](crate::storage::rules::push))
//! on a PostgreSQL transaction: the zone's counter row is locked with
//! `SELECT ... FOR UPDATE`, so concurrent pushes to one zone, from any
//! instance, take their seqs in commit order; stored records are fetched
//! and saved a batch per statement (`= ANY` and `UNNEST` over arrays).

use super::tx::{PgTx, RECORD_COLUMNS, signed, tagged_of, unsigned, uuid_of, uuid_params};
use crate::storage::quota::{QuotaOverrides, Usage};
use crate::storage::rules::push::{Held, LockedZone, PushTx, Save};
use crate::storage::{PeerBytes, StorageError, TaggedRecord};
use std::collections::HashMap;
use uuid::Uuid;

impl PgTx<'_, '_> {
    /// Runs `sql` with the zone id and the rows' columns as arrays ($2 to
    /// $12, in the order of the records table).
    fn save_columns(
        &self,
        zone_id: i64,
        rows: &[&Save<'_>],
        sql: &str,
    ) -> Result<(), StorageError> {
        let n = rows.len();
        let mut uuid = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        let mut gencount = Vec::with_capacity(n);
        let mut epoch = Vec::with_capacity(n);
        let mut tomb = Vec::with_capacity(n);
        let mut circle_pos = Vec::with_capacity(n);
        let mut writer = Vec::with_capacity(n);
        let mut wrappedkey = Vec::with_capacity(n);
        let mut encitem = Vec::with_capacity(n);
        let mut signature = Vec::with_capacity(n);
        let mut content = Vec::with_capacity(n);
        for row in rows {
            let r = row.record;
            uuid.push(r.uuid().as_bytes().to_vec());
            seq.push(signed(row.seq, "a seq")?);
            gencount.push(signed(r.gencount(), "a gencount")?);
            epoch.push(i64::from(r.epoch()));
            tomb.push(r.tomb());
            circle_pos.push(signed(r.circle_pos(), "a circle position")?);
            writer.push(r.writer().as_bytes().to_vec());
            wrappedkey.push(r.wrappedkey());
            encitem.push(r.encitem());
            signature.push(&r.signature()[..]);
            content.push(&row.content[..]);
        }
        self.execute(
            sql,
            &[
                &zone_id,
                &uuid,
                &seq,
                &gencount,
                &epoch,
                &tomb,
                &circle_pos,
                &writer,
                &wrappedkey,
                &encitem,
                &signature,
                &content,
            ],
        )?;
        Ok(())
    }
}

impl PushTx for PgTx<'_, '_> {
    fn is_current_member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
    ) -> Result<bool, StorageError> {
        let rows = self.query(
            "SELECT removed FROM members WHERE circle_id = $1 AND peer_id = $2",
            &[&&circle_id.as_bytes()[..], &&peer[..]],
        )?;
        Ok(rows.first().is_some_and(|r| !r.get::<_, bool>(0)))
    }

    fn circle_head(&mut self, circle_id: Uuid) -> Result<u64, StorageError> {
        let rows = self.query(
            "SELECT head_seq FROM circles WHERE circle_id = $1",
            &[&&circle_id.as_bytes()[..]],
        )?;
        let head = rows.first().ok_or(StorageError::NotFound)?.get::<_, i64>(0);
        unsigned(head, "head seq")
    }

    fn lock_zone(&mut self, circle_id: Uuid, zone: &str) -> Result<LockedZone, StorageError> {
        let row = self.locked_zone(circle_id, zone)?;
        Ok(LockedZone {
            id: row.id.ok_or(StorageError::NotFound)?,
            epoch: row.epoch,
            seq: row.seq,
            live: row.live,
        })
    }

    fn held(&mut self, zone_id: i64, uuids: &[Uuid]) -> Result<HashMap<Uuid, Held>, StorageError> {
        let rows = self.query(
            "SELECT uuid, seq, gencount, tomb, octet_length(wrappedkey) + octet_length(encitem)
             FROM records WHERE zone_id = $1 AND uuid = ANY($2)",
            &[&zone_id, &uuid_params(uuids)],
        )?;
        rows.iter()
            .map(|r| {
                Ok((
                    uuid_of(r.get(0))?,
                    Held {
                        seq: unsigned(r.get(1), "seq")?,
                        gencount: unsigned(r.get(2), "gencount")?,
                        tomb: r.get(3),
                        bytes: unsigned(i64::from(r.get::<_, i32>(4)), "size")?,
                    },
                ))
            })
            .collect()
    }

    fn current(
        &mut self,
        zone_id: i64,
        uuids: &[Uuid],
    ) -> Result<HashMap<Uuid, TaggedRecord>, StorageError> {
        let rows = self.query(
            &format!("SELECT {RECORD_COLUMNS} FROM records WHERE zone_id = $1 AND uuid = ANY($2)"),
            &[&zone_id, &uuid_params(uuids)],
        )?;
        rows.iter()
            .map(|r| {
                let tagged = tagged_of(r)?;
                Ok((tagged.record.uuid(), tagged))
            })
            .collect()
    }

    fn save(&mut self, zone_id: i64, rows: &[Save<'_>]) -> Result<(), StorageError> {
        // New records are inserted, replacing ones updated in place: a
        // plain insert skips the conflict check's speculative insertion.
        let (replacing, new): (Vec<&Save<'_>>, Vec<&Save<'_>>) =
            rows.iter().partition(|row| row.replaces);
        if !new.is_empty() {
            self.save_columns(
                zone_id,
                &new,
                "INSERT INTO records (zone_id, uuid, seq, gencount, epoch, tomb, circle_pos,
                                      writer, wrappedkey, encitem, signature, content)
                 SELECT $1, * FROM UNNEST($2::bytea[], $3::int8[], $4::int8[], $5::int8[],
                                          $6::bool[], $7::int8[], $8::bytea[], $9::bytea[],
                                          $10::bytea[], $11::bytea[], $12::bytea[])",
            )?;
        }
        if !replacing.is_empty() {
            self.save_columns(
                zone_id,
                &replacing,
                "UPDATE records SET
                    seq = u.seq, gencount = u.gencount, epoch = u.epoch, tomb = u.tomb,
                    circle_pos = u.circle_pos, writer = u.writer, wrappedkey = u.wrappedkey,
                    encitem = u.encitem, signature = u.signature, content = u.content
                 FROM UNNEST($2::bytea[], $3::int8[], $4::int8[], $5::int8[], $6::bool[],
                             $7::int8[], $8::bytea[], $9::bytea[], $10::bytea[], $11::bytea[],
                             $12::bytea[])
                      AS u (uuid, seq, gencount, epoch, tomb, circle_pos, writer, wrappedkey,
                            encitem, signature, content)
                 WHERE records.zone_id = $1 AND records.uuid = u.uuid",
            )?;
        }
        Ok(())
    }

    fn mark_dirty(&mut self, zone_id: i64, buckets: &[u8]) -> Result<(), StorageError> {
        let buckets: Vec<i16> = buckets.iter().map(|b| i16::from(*b)).collect();
        self.execute(
            "INSERT INTO zone_buckets (zone_id, bucket, hash)
             SELECT $1, b, NULL FROM UNNEST($2::int2[]) AS b
             ON CONFLICT (zone_id, bucket) DO UPDATE SET hash = NULL",
            &[&zone_id, &buckets],
        )?;
        Ok(())
    }

    fn set_counters(
        &mut self,
        zone_id: i64,
        seq: u64,
        live: u64,
        bytes_delta: i64,
    ) -> Result<(), StorageError> {
        self.execute(
            "UPDATE zones SET seq = $2, live = $3, bytes = bytes + $4, root = NULL
             WHERE zone_id = $1",
            &[
                &zone_id,
                &signed(seq, "a seq")?,
                &signed(live, "a live count")?,
                &bytes_delta,
            ],
        )?;
        Ok(())
    }

    fn usage(&mut self, circle_id: Uuid) -> Result<Usage, StorageError> {
        self.circle_usage(circle_id)
    }

    fn quota_overrides(&mut self, circle_id: Uuid) -> Result<QuotaOverrides, StorageError> {
        self.circle_quotas(circle_id)
    }
}
