//! Zone manifests in SQLite: the Merkle root over the live records (bucket
//! hashes cached in `zone_buckets`, the root in the zone row), the peers'
//! signed manifests, and tombstone collection once every current member's
//! manifest passed a tombstone.
//!
//! A manifest read answers with every peer's signed manifest from the same
//! snapshot, so one round trip both finds nothing new and lets a device
//! check the server against its peers.
//!
//! A push marks the buckets it touched dirty and clears the cached root in
//! its own transaction, so a cached root is always the root of its
//! snapshot: the no-change check reads one row. A read that finds no root
//! recomputes only the dirty buckets, in a write transaction (the cache is
//! derived data, committed with relaxed durability).

use super::db_err;
use super::zones::{ZoneRow, bucket_range, ensure_zone, zone_row};
use crate::storage::{
    ManifestPutError, ManifestRow, ManifestStored, NewManifest, ServerManifest, StorageError,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;
use vault_core::sync::{Leaf, Manifest, SignedManifest, bucket_hash};

/// The manifest of a zone whose root is cached (or that has no row);
/// `None` if a bucket is dirty.
pub(super) fn cached(
    c: &Connection,
    circle_id: Uuid,
    zone: &str,
    with_buckets: bool,
) -> Result<Option<ServerManifest>, StorageError> {
    let tx = c.unchecked_transaction().map_err(db_err)?;
    let row = zone_row(&tx, circle_id, zone)?;
    let Some(zone_id) = row.id else {
        let empty = Manifest::default();
        let root = empty.root();
        return Ok(Some(answer(
            &row,
            root,
            with_buckets.then_some(empty),
            Vec::new(),
        )));
    };
    let Some(root) = row.root else {
        return Ok(None);
    };
    let buckets = match with_buckets {
        true => match buckets(&tx, zone_id)? {
            Some(m) => Some(m),
            None => return Ok(None),
        },
        false => None,
    };
    Ok(Some(answer(&row, root, buckets, signed(&tx, zone_id)?)))
}

/// Recomputes the dirty buckets and the root, caches them, and answers.
pub(super) fn refresh(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    zone: &str,
    with_buckets: bool,
) -> Result<ServerManifest, StorageError> {
    let row = zone_row(tx, circle_id, zone)?;
    let Some(zone_id) = row.id else {
        let empty = Manifest::default();
        let root = empty.root();
        return Ok(answer(
            &row,
            root,
            with_buckets.then_some(empty),
            Vec::new(),
        ));
    };
    let dirty: Vec<u8> = {
        let mut stmt = tx
            .prepare_cached("SELECT bucket FROM zone_buckets WHERE zone_id = ?1 AND hash IS NULL")
            .map_err(db_err)?;
        let rows = stmt.query_map([zone_id], |r| r.get(0)).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)?
    };
    if !dirty.is_empty() {
        let mut leaves = tx
            .prepare_cached(
                "SELECT uuid, gencount, content FROM records
                 WHERE zone_id = ?1 AND uuid BETWEEN ?2 AND ?3 AND tomb = 0 ORDER BY uuid",
            )
            .map_err(db_err)?;
        let mut store = tx
            .prepare_cached("UPDATE zone_buckets SET hash = ?3 WHERE zone_id = ?1 AND bucket = ?2")
            .map_err(db_err)?;
        for bucket in dirty {
            let (lo, hi) = bucket_range(bucket);
            let rows = leaves
                .query_map(params![zone_id, lo, hi], |r| {
                    Ok(Leaf {
                        uuid: Uuid::from_bytes(r.get(0)?),
                        gencount: r.get(1)?,
                        content: r.get(2)?,
                    })
                })
                .map_err(db_err)?;
            let list: Vec<Leaf> = rows.collect::<Result<_, _>>().map_err(db_err)?;
            store
                .execute(params![zone_id, bucket, bucket_hash(&list)])
                .map_err(db_err)?;
        }
    }
    let manifest = buckets(tx, zone_id)?
        .ok_or_else(|| StorageError::Backend("a bucket is still dirty".into()))?;
    let root = manifest.root();
    tx.prepare_cached("UPDATE zones SET root = ?2 WHERE zone_id = ?1")
        .and_then(|mut s| s.execute(params![zone_id, root]))
        .map_err(db_err)?;
    let peers = signed(tx, zone_id)?;
    Ok(answer(&row, root, with_buckets.then_some(manifest), peers))
}

fn answer(
    row: &ZoneRow,
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

/// The zone's stored signed manifests, decoded (they decoded and verified
/// when stored; one that no longer decodes is a corrupt database).
fn signed(c: &Connection, zone_id: i64) -> Result<Vec<SignedManifest>, StorageError> {
    let mut stmt = c
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

/// Every bucket hash (a bucket without a row is empty); `None` if one is
/// dirty.
fn buckets(c: &Connection, zone_id: i64) -> Result<Option<Manifest>, StorageError> {
    let mut stmt = c
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

/// Stores a peer's manifest if its counter grows, then collects the
/// tombstones every current member's manifest passed.
pub(super) fn put(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    zone: &str,
    m: &NewManifest,
) -> Result<ManifestStored, ManifestPutError> {
    let (zone_id, row) = ensure_zone(tx, circle_id, zone)?;
    let stored: Option<u64> = tx
        .prepare_cached("SELECT counter FROM zone_manifests WHERE zone_id = ?1 AND peer_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![zone_id, m.peer], |r| r.get(0))
                .optional()
        })
        .map_err(db_err)?;
    if stored.is_some_and(|c| m.counter <= c) {
        return Err(ManifestPutError::StaleCounter);
    }
    tx.prepare_cached(
        "INSERT INTO zone_manifests (zone_id, peer_id, counter, epoch, token_seq, body, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (zone_id, peer_id) DO UPDATE SET
            counter = excluded.counter, epoch = excluded.epoch, token_seq = excluded.token_seq,
            body = excluded.body, signature = excluded.signature",
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
    let (gc_seq, collected) = collect(tx, circle_id, zone_id, &row)?;
    Ok(ManifestStored {
        counter: m.counter,
        gc_seq,
        collected,
    })
}

/// Tombstone collection: if every current member has a manifest of this
/// zone's epoch, deletes the tombstones with `seq <= m` (the smallest of
/// their token seqs, capped at the zone's seq) and raises `gc_seq` to `m`.
/// Returns the zone's `gc_seq` and the tombstones deleted.
fn collect(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    zone_id: i64,
    row: &ZoneRow,
) -> Result<(u64, usize), StorageError> {
    let (members, signed, min_seq): (u64, u64, Option<u64>) = tx
        .prepare_cached(
            "SELECT (SELECT count(*) FROM members WHERE circle_id = ?1 AND removed = 0),
                    count(*), min(zm.token_seq)
             FROM zone_manifests zm
             JOIN members m ON m.circle_id = ?1 AND m.peer_id = zm.peer_id AND m.removed = 0
             WHERE zm.zone_id = ?2 AND zm.epoch = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![circle_id.as_bytes(), zone_id, row.epoch], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
        .map_err(db_err)?;
    let Some(min_seq) = min_seq.filter(|_| members > 0 && signed == members) else {
        return Ok((row.gc_seq, 0));
    };
    let upto = min_seq.min(row.seq);
    if upto <= row.gc_seq {
        return Ok((row.gc_seq, 0));
    }
    // Tombstones at or below the old gc_seq are gone already; the bytes
    // they held leave the zone's count.
    let (collected, freed): (usize, i64) = tx
        .prepare_cached(
            "DELETE FROM records
             WHERE zone_id = ?1 AND tomb = 1 AND seq > ?2 AND seq <= ?3
             RETURNING length(wrappedkey) + length(encitem)",
        )
        .and_then(|mut s| {
            s.query_map(params![zone_id, row.gc_seq, upto], |r| r.get::<_, i64>(0))?
                .try_fold((0, 0), |(n, b), len| Ok((n + 1, b + len?)))
        })
        .map_err(db_err)?;
    tx.prepare_cached(
        "UPDATE zones SET gc_seq = ?2, bytes = max(bytes - ?3, 0) WHERE zone_id = ?1",
    )
    .and_then(|mut s| s.execute(params![zone_id, upto, freed]))
    .map_err(db_err)?;
    Ok((upto, collected))
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
