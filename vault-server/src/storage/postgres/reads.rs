//! What the PostgreSQL backend reads outside the rules' transactions: the
//! circle log, cut lists, the changes rule's fetch, bucket records, zone
//! seqs and stored manifests. Each runs in one `REPEATABLE READ` snapshot
//! (see [`PgStorage::read`](super::PgStorage)).

use super::tx::{PgTx, RECORD_COLUMNS, bytes32, signed, tagged_of, unsigned};
use crate::storage::rules::changes::ChangesRead;
use crate::storage::rules::manifest::ManifestRead;
use crate::storage::zone::bucket_range;
use crate::storage::{LogPage, ManifestRow, StorageError, StoredEntry, TaggedRecord, ZoneSeq};
use uuid::Uuid;

impl ChangesRead for PgTx<'_, '_> {
    fn records_after(
        &mut self,
        zone_id: i64,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<TaggedRecord>, StorageError> {
        // The running total drops what lies past the first record past
        // `max_bytes` (the first two always stay).
        let rows = self.query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM (
                    SELECT {RECORD_COLUMNS},
                           sum(octet_length(wrappedkey) + octet_length(encitem))
                               OVER (ORDER BY seq) AS total,
                           octet_length(wrappedkey) + octet_length(encitem) AS size,
                           row_number() OVER (ORDER BY seq) AS n
                    FROM records WHERE zone_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
                 ) page WHERE total - size <= $4 OR n <= 2 ORDER BY seq"
            ),
            &[
                &zone_id,
                &signed(after, "a seq")?,
                &(i64::from(limit) + 1),
                &i64::try_from(max_bytes).unwrap_or(i64::MAX),
            ],
        )?;
        rows.iter().map(tagged_of).collect()
    }
}

impl PgTx<'_, '_> {
    /// A page of the circle's log with its head, `NotFound` for an unknown
    /// circle.
    pub(super) fn log_page(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
        limit: u32,
    ) -> Result<LogPage, StorageError> {
        let id = &circle_id.as_bytes()[..];
        let head = self.query(
            "SELECT head_seq, head_hash FROM circles WHERE circle_id = $1",
            &[&id],
        )?;
        let head = head.first().ok_or(StorageError::NotFound)?;
        // `after` absent: from the genesis (seq 0) on.
        let from = match after {
            None => 0,
            Some(a) => signed(a.min(i64::MAX as u64 - 1), "a seq")? + 1,
        };
        let rows = self.query(
            "SELECT seq, entry, signature FROM circle_entries
             WHERE circle_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
            &[&id, &from, &(i64::from(limit) + 1)],
        )?;
        let mut entries = rows
            .iter()
            .map(|r| {
                Ok(StoredEntry {
                    seq: unsigned(r.get(0), "seq")?,
                    entry: r.get(1),
                    signature: r.get(2),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        Ok(LogPage {
            entries,
            head_seq: unsigned(head.get(0), "head seq")?,
            head_hash: bytes32(head.get(1), "head hash")?,
            more,
        })
    }

    /// The cut list a removal stored for a zone.
    pub(super) fn cut_list(
        &self,
        circle_id: Uuid,
        seq: u64,
        zone: &str,
    ) -> Result<Vec<u8>, StorageError> {
        let seq = i64::try_from(seq).map_err(|_| StorageError::NotFound)?;
        let rows = self.query(
            "SELECT list FROM circle_cuts WHERE circle_id = $1 AND removal_seq = $2 AND zone = $3",
            &[&&circle_id.as_bytes()[..], &seq, &zone],
        )?;
        rows.first().map(|r| r.get(0)).ok_or(StorageError::NotFound)
    }

    /// The live records of `buckets`, in uuid order.
    pub(super) fn bucket_records(
        &mut self,
        circle_id: Uuid,
        zone: &str,
        buckets: &[u8],
    ) -> Result<Vec<TaggedRecord>, StorageError> {
        let Some(zone_id) = ManifestRead::zone(self, circle_id, zone)?.id else {
            return Ok(Vec::new());
        };
        let mut buckets = buckets.to_vec();
        buckets.sort_unstable();
        buckets.dedup();
        let (lo, hi): (Vec<[u8; 16]>, Vec<[u8; 16]>) =
            buckets.iter().map(|b| bucket_range(*b)).unzip();
        let lo: Vec<&[u8]> = lo.iter().map(|b| &b[..]).collect();
        let hi: Vec<&[u8]> = hi.iter().map(|b| &b[..]).collect();
        // One index range scan per bucket.
        let rows = self.query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM UNNEST($2::bytea[], $3::bytea[]) AS b (lo, hi)
                 JOIN records ON zone_id = $1 AND uuid BETWEEN b.lo AND b.hi
                 WHERE NOT tomb ORDER BY uuid"
            ),
            &[&zone_id, &lo, &hi],
        )?;
        rows.iter().map(tagged_of).collect()
    }

    /// Every zone of a circle with its seq, by name.
    pub(super) fn zone_seqs(&self, circle_id: Uuid) -> Result<Vec<ZoneSeq>, StorageError> {
        let rows = self.query(
            "SELECT name, seq FROM zones WHERE circle_id = $1 ORDER BY name",
            &[&&circle_id.as_bytes()[..]],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ZoneSeq {
                    zone: r.get(0),
                    seq: unsigned(r.get(1), "seq")?,
                })
            })
            .collect()
    }

    /// Every stored manifest of a zone, by peer id.
    pub(super) fn manifest_rows(
        &self,
        circle_id: Uuid,
        zone: &str,
    ) -> Result<Vec<ManifestRow>, StorageError> {
        let rows = self.query(
            "SELECT zm.peer_id, zm.body, zm.signature FROM zone_manifests zm
             JOIN zones z ON z.zone_id = zm.zone_id
             WHERE z.circle_id = $1 AND z.name = $2 ORDER BY zm.peer_id",
            &[&&circle_id.as_bytes()[..], &zone],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ManifestRow {
                    peer: bytes32(r.get(0), "peer id")?,
                    body: r.get(1),
                    signature: r.get(2),
                })
            })
            .collect()
    }
}
