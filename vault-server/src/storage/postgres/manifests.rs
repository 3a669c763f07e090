//! The manifest rules' primitives
//! ([`rules::manifest`](crate::storage::rules::manifest)) on PostgreSQL: a
//! manifest put locks the zone's row `FOR UPDATE` (so it never interleaves
//! with a push's or another put's collection of the same zone), and a
//! bucket's leaves are read with one range scan.

use super::tx::{PgTx, bytes32, range_err, signed, unsigned};
use crate::storage::rules::manifest::{ManifestRead, ManifestWrite, ZoneState};
use crate::storage::zone::FIRST_EPOCH;
use crate::storage::{NewManifest, PeerBytes, StorageError};
use uuid::Uuid;
use vault_core::sync::{Leaf, Manifest, SignedManifest};

/// A zone row read as the rules' state.
fn state(r: &tokio_postgres::Row) -> Result<ZoneState, StorageError> {
    Ok(ZoneState {
        id: Some(r.get(0)),
        epoch: u32::try_from(r.get::<_, i64>(1)).map_err(|_| range_err("epoch"))?,
        seq: unsigned(r.get(2), "seq")?,
        gc_seq: unsigned(r.get(3), "gc seq")?,
        live: unsigned(r.get(4), "live count")?,
        root: r
            .get::<_, Option<&[u8]>>(5)
            .map(|b| bytes32(b, "root"))
            .transpose()?,
    })
}

const ZONE_COLUMNS: &str = "zone_id, epoch, seq, gc_seq, live, root";

impl ManifestRead for PgTx<'_, '_> {
    fn zone(&mut self, circle_id: Uuid, zone: &str) -> Result<ZoneState, StorageError> {
        let rows = self.query(
            &format!("SELECT {ZONE_COLUMNS} FROM zones WHERE circle_id = $1 AND name = $2"),
            &[&&circle_id.as_bytes()[..], &zone],
        )?;
        match rows.first() {
            Some(r) => state(r),
            None => {
                let epoch = self.query("SELECT COALESCE(max(epoch), 1) FROM restores", &[])?;
                let epoch = epoch.first().map_or(i64::from(FIRST_EPOCH), |r| r.get(0));
                Ok(ZoneState {
                    epoch: u32::try_from(epoch).map_err(|_| range_err("epoch"))?,
                    ..ZoneState::EMPTY
                })
            }
        }
    }

    fn buckets(&mut self, zone_id: i64) -> Result<Option<Manifest>, StorageError> {
        let rows = self.query(
            "SELECT bucket, hash FROM zone_buckets WHERE zone_id = $1",
            &[&zone_id],
        )?;
        let mut m = Manifest::default();
        for r in &rows {
            let bucket = usize::try_from(r.get::<_, i16>(0)).map_err(|_| range_err("bucket"))?;
            match r.get::<_, Option<&[u8]>>(1) {
                Some(hash) => {
                    *m.buckets
                        .get_mut(bucket)
                        .ok_or_else(|| range_err("bucket"))? = bytes32(hash, "bucket hash")?
                }
                None => return Ok(None),
            }
        }
        Ok(Some(m))
    }

    fn signed_manifests(&mut self, zone_id: i64) -> Result<Vec<SignedManifest>, StorageError> {
        let rows = self.query(
            "SELECT body, signature FROM zone_manifests WHERE zone_id = $1 ORDER BY peer_id",
            &[&zone_id],
        )?;
        rows.iter()
            .map(|r| {
                SignedManifest::decode(r.get(0), r.get(1))
                    .map_err(|e| StorageError::Backend(Box::new(e)))
            })
            .collect()
    }
}

impl ManifestWrite for PgTx<'_, '_> {
    fn lock_zone(&mut self, circle_id: Uuid, zone: &str) -> Result<ZoneState, StorageError> {
        self.locked_zone(circle_id, zone)
    }

    fn dirty_buckets(&mut self, zone_id: i64) -> Result<Vec<u8>, StorageError> {
        let rows = self.query(
            "SELECT bucket FROM zone_buckets WHERE zone_id = $1 AND hash IS NULL",
            &[&zone_id],
        )?;
        rows.iter()
            .map(|r| u8::try_from(r.get::<_, i16>(0)).map_err(|_| range_err("bucket")))
            .collect()
    }

    fn bucket_leaves(&mut self, zone_id: i64, bucket: u8) -> Result<Vec<Leaf>, StorageError> {
        let (mut lo, mut hi) = ([0u8; 16], [0xffu8; 16]);
        lo[0] = bucket;
        hi[0] = bucket;
        let rows = self.query(
            "SELECT uuid, gencount, content FROM records
             WHERE zone_id = $1 AND uuid BETWEEN $2 AND $3 AND NOT tomb ORDER BY uuid",
            &[&zone_id, &&lo[..], &&hi[..]],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Leaf {
                    uuid: Uuid::from_slice(r.get(0)).map_err(|_| range_err("uuid"))?,
                    gencount: unsigned(r.get(1), "gencount")?,
                    content: bytes32(r.get(2), "content hash")?,
                })
            })
            .collect()
    }

    fn store_bucket(
        &mut self,
        zone_id: i64,
        bucket: u8,
        hash: [u8; 32],
    ) -> Result<(), StorageError> {
        self.execute(
            "UPDATE zone_buckets SET hash = $3 WHERE zone_id = $1 AND bucket = $2",
            &[&zone_id, &i16::from(bucket), &&hash[..]],
        )?;
        Ok(())
    }

    fn set_root(&mut self, zone_id: i64, root: [u8; 32]) -> Result<(), StorageError> {
        self.execute(
            "UPDATE zones SET root = $2 WHERE zone_id = $1",
            &[&zone_id, &&root[..]],
        )?;
        Ok(())
    }

    fn manifest_counter(
        &mut self,
        zone_id: i64,
        peer: &PeerBytes,
    ) -> Result<Option<u64>, StorageError> {
        let rows = self.query(
            "SELECT counter FROM zone_manifests WHERE zone_id = $1 AND peer_id = $2",
            &[&zone_id, &&peer[..]],
        )?;
        rows.first()
            .map(|r| unsigned(r.get(0), "counter"))
            .transpose()
    }

    fn store_manifest(&mut self, zone_id: i64, m: &NewManifest) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO zone_manifests
                (zone_id, peer_id, counter, epoch, token_seq, body, signature)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (zone_id, peer_id) DO UPDATE SET
                counter = excluded.counter, epoch = excluded.epoch,
                token_seq = excluded.token_seq, body = excluded.body,
                signature = excluded.signature",
            &[
                &zone_id,
                &&m.peer[..],
                &signed(m.counter, "a counter")?,
                &i64::from(m.token.epoch),
                &signed(m.token.seq, "a token seq")?,
                &m.body,
                &&m.signature[..],
            ],
        )?;
        Ok(())
    }

    fn signed_positions(
        &mut self,
        circle_id: Uuid,
        zone_id: i64,
        epoch: u32,
    ) -> Result<(u64, u64, Option<u64>), StorageError> {
        let rows = self.query(
            "SELECT (SELECT count(*) FROM members WHERE circle_id = $1 AND NOT removed),
                    count(*), min(zm.token_seq)
             FROM zone_manifests zm
             JOIN members m ON m.circle_id = $1 AND m.peer_id = zm.peer_id AND NOT m.removed
             WHERE zm.zone_id = $2 AND zm.epoch = $3",
            &[&&circle_id.as_bytes()[..], &zone_id, &i64::from(epoch)],
        )?;
        let r = rows.first().ok_or(StorageError::NotFound)?;
        Ok((
            unsigned(r.get(0), "member count")?,
            unsigned(r.get(1), "manifest count")?,
            r.get::<_, Option<i64>>(2)
                .map(|v| unsigned(v, "token seq"))
                .transpose()?,
        ))
    }

    fn delete_tombstones(
        &mut self,
        zone_id: i64,
        after: u64,
        upto: u64,
    ) -> Result<(usize, u64), StorageError> {
        let rows = self.query(
            "WITH gone AS (
                 DELETE FROM records
                 WHERE zone_id = $1 AND tomb AND seq > $2 AND seq <= $3
                 RETURNING octet_length(wrappedkey) + octet_length(encitem) AS size
             )
             SELECT count(*), COALESCE(sum(size), 0)::bigint FROM gone",
            &[&zone_id, &signed(after, "a seq")?, &signed(upto, "a seq")?],
        )?;
        let r = rows.first().ok_or(StorageError::NotFound)?;
        Ok((
            usize::try_from(r.get::<_, i64>(0)).map_err(|_| range_err("count"))?,
            unsigned(r.get(1), "size")?,
        ))
    }

    fn set_gc(&mut self, zone_id: i64, gc_seq: u64, freed: u64) -> Result<(), StorageError> {
        self.execute(
            "UPDATE zones SET gc_seq = $2, bytes = greatest(bytes - $3, 0) WHERE zone_id = $1",
            &[
                &zone_id,
                &signed(gc_seq, "a seq")?,
                &signed(freed, "a size")?,
            ],
        )?;
        Ok(())
    }
}

impl PgTx<'_, '_> {
    /// The zone's row, created if needed, locked `FOR UPDATE` until the
    /// transaction ends (what pushes and manifest puts to a zone take in
    /// turn).
    pub(super) fn locked_zone(
        &self,
        circle_id: Uuid,
        zone: &str,
    ) -> Result<ZoneState, StorageError> {
        let id = &circle_id.as_bytes()[..];
        self.execute(
            "INSERT INTO zones (circle_id, name, epoch)
             SELECT $1, $2, COALESCE(max(epoch), 1) FROM restores
             ON CONFLICT (circle_id, name) DO NOTHING",
            &[&id, &zone],
        )?;
        let rows = self.query(
            &format!(
                "SELECT {ZONE_COLUMNS} FROM zones WHERE circle_id = $1 AND name = $2 FOR UPDATE"
            ),
            &[&id, &zone],
        )?;
        state(rows.first().ok_or(StorageError::NotFound)?)
    }
}
