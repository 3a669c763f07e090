//! Zone manifests in SQLite: the manifest rules' primitives
//! ([`crate::storage::rules::manifest`]: bucket hashes cached in
//! `zone_buckets`, the root in the zone row, the peers' signed manifests,
//! tombstone collection), and the list of stored manifests. A read runs in
//! one read transaction, so a manifest answers with every peer's signed
//! manifest from the same snapshot.

use super::db_err;
use super::zones::{ensure_zone, zone_row};
use crate::storage::rules::manifest::{ManifestRead, ManifestWrite, ZoneState};
use crate::storage::zone::bucket_range;
use crate::storage::{ManifestRow, NewManifest, PeerBytes, StorageError};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;
use vault_core::sync::{Leaf, Manifest, SignedManifest};

/// The manifest rules' primitives on a SQLite connection: a read
/// transaction for [`ManifestRead`], the write transaction for
/// [`ManifestWrite`] (whose writer lock serializes it with pushes).
pub(super) struct SqliteManifests<'c>(pub &'c Connection);

impl ManifestRead for SqliteManifests<'_> {
    fn zone(&mut self, circle_id: Uuid, zone: &str) -> Result<ZoneState, StorageError> {
        zone_row(self.0, circle_id, zone)
    }

    fn buckets(&mut self, zone_id: i64) -> Result<Option<Manifest>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT bucket, hash FROM zone_buckets WHERE zone_id = ?1")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([zone_id], |r| {
                Ok((r.get::<_, u8>(0)?, r.get::<_, Option<[u8; 32]>>(1)?))
            })
            .map_err(db_err)?;
        let mut m = Manifest::default();
        for row in rows {
            match row.map_err(db_err)? {
                (bucket, Some(hash)) => m.buckets[usize::from(bucket)] = hash,
                (_, None) => return Ok(None),
            }
        }
        Ok(Some(m))
    }

    /// They decoded and verified when stored; one that no longer decodes
    /// is a corrupt database.
    fn signed_manifests(&mut self, zone_id: i64) -> Result<Vec<SignedManifest>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT body, signature FROM zone_manifests WHERE zone_id = ?1 ORDER BY peer_id",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([zone_id], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (body, signature) = row.map_err(db_err)?;
            out.push(
                SignedManifest::decode(&body, &signature)
                    .map_err(|e| StorageError::Backend(Box::new(e)))?,
            );
        }
        Ok(out)
    }
}

impl ManifestWrite for SqliteManifests<'_> {
    fn lock_zone(&mut self, circle_id: Uuid, zone: &str) -> Result<ZoneState, StorageError> {
        Ok(ensure_zone(self.0, circle_id, zone)?.1)
    }

    fn dirty_buckets(&mut self, zone_id: i64) -> Result<Vec<u8>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT bucket FROM zone_buckets WHERE zone_id = ?1 AND hash IS NULL")
            .map_err(db_err)?;
        let rows = stmt.query_map([zone_id], |r| r.get(0)).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    fn bucket_leaves(&mut self, zone_id: i64, bucket: u8) -> Result<Vec<Leaf>, StorageError> {
        let (lo, hi) = bucket_range(bucket);
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT uuid, gencount, content FROM records
                 WHERE zone_id = ?1 AND uuid BETWEEN ?2 AND ?3 AND tomb = 0 ORDER BY uuid",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![zone_id, lo, hi], |r| {
                Ok(Leaf {
                    uuid: Uuid::from_bytes(r.get(0)?),
                    gencount: r.get(1)?,
                    content: r.get(2)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    fn store_bucket(
        &mut self,
        zone_id: i64,
        bucket: u8,
        hash: [u8; 32],
    ) -> Result<(), StorageError> {
        self.0
            .prepare_cached("UPDATE zone_buckets SET hash = ?3 WHERE zone_id = ?1 AND bucket = ?2")
            .and_then(|mut s| s.execute(params![zone_id, bucket, hash]))
            .map_err(db_err)?;
        Ok(())
    }

    fn set_root(&mut self, zone_id: i64, root: [u8; 32]) -> Result<(), StorageError> {
        self.0
            .prepare_cached("UPDATE zones SET root = ?2 WHERE zone_id = ?1")
            .and_then(|mut s| s.execute(params![zone_id, root]))
            .map_err(db_err)?;
        Ok(())
    }

    fn manifest_counter(
        &mut self,
        zone_id: i64,
        peer: &PeerBytes,
    ) -> Result<Option<u64>, StorageError> {
        self.0
            .prepare_cached(
                "SELECT counter FROM zone_manifests WHERE zone_id = ?1 AND peer_id = ?2",
            )
            .and_then(|mut s| s.query_row(params![zone_id, peer], |r| r.get(0)).optional())
            .map_err(db_err)
    }

    fn store_manifest(&mut self, zone_id: i64, m: &NewManifest) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO zone_manifests
                    (zone_id, peer_id, counter, epoch, token_seq, body, signature)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (zone_id, peer_id) DO UPDATE SET
                    counter = excluded.counter, epoch = excluded.epoch,
                    token_seq = excluded.token_seq, body = excluded.body,
                    signature = excluded.signature",
            )
            .and_then(|mut s| {
                s.execute(params![
                    zone_id,
                    m.peer,
                    m.counter,
                    m.token.epoch,
                    m.token.seq,
                    m.body,
                    m.signature
                ])
            })
            .map_err(db_err)?;
        Ok(())
    }

    fn signed_positions(
        &mut self,
        circle_id: Uuid,
        zone_id: i64,
        epoch: u32,
    ) -> Result<(u64, u64, Option<u64>), StorageError> {
        self.0
            .prepare_cached(
                "SELECT (SELECT count(*) FROM members WHERE circle_id = ?1 AND removed = 0),
                        count(*), min(zm.token_seq)
                 FROM zone_manifests zm
                 JOIN members m ON m.circle_id = ?1 AND m.peer_id = zm.peer_id AND m.removed = 0
                 WHERE zm.zone_id = ?2 AND zm.epoch = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![circle_id.as_bytes(), zone_id, epoch], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
            })
            .map_err(db_err)
    }

    fn delete_tombstones(
        &mut self,
        zone_id: i64,
        after: u64,
        upto: u64,
    ) -> Result<(usize, u64), StorageError> {
        self.0
            .prepare_cached(
                "DELETE FROM records
                 WHERE zone_id = ?1 AND tomb = 1 AND seq > ?2 AND seq <= ?3
                 RETURNING length(wrappedkey) + length(encitem)",
            )
            .and_then(|mut s| {
                s.query_map(params![zone_id, after, upto], |r| r.get::<_, u64>(0))?
                    .try_fold((0, 0), |(n, b), len| Ok((n + 1, b + len?)))
            })
            .map_err(db_err)
    }

    fn set_gc(&mut self, zone_id: i64, gc_seq: u64, freed: u64) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "UPDATE zones SET gc_seq = ?2, bytes = max(bytes - ?3, 0) WHERE zone_id = ?1",
            )
            .and_then(|mut s| s.execute(params![zone_id, gc_seq, freed]))
            .map_err(db_err)?;
        Ok(())
    }
}

/// Every stored manifest of the zone, by peer id.
pub(super) fn list(
    c: &Connection,
    circle_id: Uuid,
    zone: &str,
) -> Result<Vec<ManifestRow>, StorageError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT zm.peer_id, zm.body, zm.signature FROM zone_manifests zm
             JOIN zones z ON z.zone_id = zm.zone_id
             WHERE z.circle_id = ?1 AND z.name = ?2 ORDER BY zm.peer_id",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![circle_id.as_bytes(), zone], |r| {
            Ok(ManifestRow {
                peer: r.get(0)?,
                body: r.get(1)?,
                signature: r.get(2)?,
            })
        })
        .map_err(db_err)?;
    rows.map(|r| r.map_err(db_err)).collect()
}
