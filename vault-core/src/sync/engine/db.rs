//! The sync tables: `sync_state` (token, manifest counter, dirty buckets),
//! the stage (pulled pages waiting for the round's checks), `ckmanifest`
//! (this device's buckets and root, peers' signed manifests), the
//! quarantine and the possible duplicates. `ckmirror` is the vault's
//! (`vault/outbox.rs`).
//! (Just over 500 lines: every query on the sync tables in one place, so
//! no engine file writes SQL of its own.)

use crate::circle::PeerId;
use crate::sync::{
    BUCKETS, Digest, Leaf, Manifest, SignedManifest, TaggedRecord, Token, bucket_hash,
    decode_records, encode_records,
};
use crate::vault::outbox::Base;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// Stores the server's version of an item; `pending` and `base` describe
/// the local edit still waiting (none: the local row is the server's).
pub(crate) fn set_server(
    conn: &Connection,
    uuid: Uuid,
    server: &ServerVersion,
    pending: bool,
    base: Option<&Base>,
) -> rusqlite::Result<()> {
    let ServerVersion {
        gencount,
        seq,
        writer,
        leaf,
    } = *server;
    conn.prepare_cached(
        "INSERT INTO ckmirror (uuid, server_gencount, change_tag, server_leaf, server_tomb,
             upload_pending, base_parent_key_uuid, base_wrappedkey, base_encitem, server_writer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (uuid) DO UPDATE SET server_gencount = ?2, change_tag = ?3,
             server_leaf = ?4, server_tomb = ?5, upload_pending = ?6,
             base_parent_key_uuid = ?7, base_wrappedkey = ?8, base_encitem = ?9,
             server_writer = ?10",
    )?
    .execute(params![
        uuid.as_bytes(),
        gencount,
        seq,
        leaf.as_ref().map(|l| &l[..]),
        leaf.is_none(),
        pending,
        base.map(|b| b.parent_key_uuid.as_bytes().to_vec()),
        base.map(|b| &b.wrappedkey),
        base.map(|b| &b.encitem),
        writer.map(|w| w.as_bytes().to_vec()),
    ])?;
    Ok(())
}

/// The server's version of an item, as the mirror keeps it.
#[derive(Clone, Copy)]
pub(crate) struct ServerVersion {
    /// Its gencount.
    pub gencount: u64,
    /// Its change tag (the server sequence that saved it).
    pub seq: u64,
    /// Who signed it, where known.
    pub writer: Option<PeerId>,
    /// Its content hash; `None` for a tombstone.
    pub leaf: Option<Digest>,
}

impl ServerVersion {
    /// The server holds no version of the item.
    pub const NONE: ServerVersion = ServerVersion {
        gencount: 0,
        seq: 0,
        writer: None,
        leaf: None,
    };
}

/// The items whose server version (as last seen) is live.
pub(crate) fn live_server_versions(conn: &Connection) -> rusqlite::Result<Vec<Uuid>> {
    conn.prepare_cached(
        "SELECT uuid FROM ckmirror
         WHERE change_tag > 0 AND server_gencount > 0 AND server_tomb = 0",
    )?
    .query_map([], |r| Ok(Uuid::from_bytes(r.get(0)?)))?
    .collect()
}

/// Forgets the server version's change tag (the server holds no record
/// for the item any more): the next push sends it as new.
pub(crate) fn clear_change_tag(conn: &Connection, uuid: Uuid) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE ckmirror SET change_tag = NULL WHERE uuid = ?1")?
        .execute([uuid.as_bytes()])?;
    Ok(())
}

/// A zone's sync progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncState {
    pub token: Token,
    pub counter: u64,
    pub dirty: [u8; 32],
    pub last_sync_ms: Option<i64>,
    /// When the server last flagged this device's manifest as divergent.
    pub divergence_ms: Option<i64>,
}

impl SyncState {
    pub fn mark(&mut self, bucket: u8) {
        self.dirty[usize::from(bucket / 8)] |= 1 << (bucket % 8);
    }

    fn dirty_buckets(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|b| self.dirty[usize::from(b / 8)] & (1 << (b % 8)) != 0)
    }
}

pub(crate) fn state(conn: &Connection, zone: &str) -> rusqlite::Result<SyncState> {
    Ok(conn
        .prepare_cached(
            "SELECT token_epoch, token_seq, counter, dirty, last_sync_ms, divergence_ms
             FROM sync_state WHERE zone = ?1",
        )?
        .query_row([zone], |r| {
            Ok(SyncState {
                token: Token {
                    epoch: r.get(0)?,
                    seq: r.get(1)?,
                },
                counter: r.get(2)?,
                dirty: r
                    .get::<_, Option<Vec<u8>>>(3)?
                    .and_then(|d| d.try_into().ok())
                    .unwrap_or_default(),
                last_sync_ms: r.get(4)?,
                divergence_ms: r.get(5)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

pub(crate) fn put_state(conn: &Connection, zone: &str, s: &SyncState) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (zone, token_epoch, token_seq, counter, dirty, last_sync_ms,
                                 divergence_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (zone) DO UPDATE SET token_epoch = ?2, token_seq = ?3, counter = ?4,
             dirty = ?5, last_sync_ms = ?6, divergence_ms = ?7",
    )?
    .execute(params![
        zone,
        s.token.epoch,
        s.token.seq,
        s.counter,
        &s.dirty[..],
        s.last_sync_ms,
        s.divergence_ms
    ])?;
    Ok(())
}

/// The bucket of a uuid's first byte, as a uuid range.
fn bucket_range(bucket: u8) -> ([u8; 16], [u8; 16]) {
    let (mut lo, mut hi) = ([0u8; 16], [0xffu8; 16]);
    lo[0] = bucket;
    hi[0] = bucket;
    (lo, hi)
}

/// The server versions' leaves in one bucket, in uuid order.
pub(crate) fn bucket_leaves(conn: &Connection, bucket: u8) -> rusqlite::Result<Vec<Leaf>> {
    let (lo, hi) = bucket_range(bucket);
    leaves_between(conn, &lo, &hi)
}

/// The server versions' leaves with uuids in `lo..=hi`, in uuid order.
fn leaves_between(conn: &Connection, lo: &[u8; 16], hi: &[u8; 16]) -> rusqlite::Result<Vec<Leaf>> {
    conn.prepare_cached(
        "SELECT uuid, server_gencount, server_leaf FROM ckmirror
         WHERE uuid BETWEEN ?1 AND ?2 AND server_leaf IS NOT NULL ORDER BY uuid",
    )?
    .query_map(params![&lo[..], &hi[..]], |r| {
        Ok(Leaf {
            uuid: Uuid::from_bytes(r.get(0)?),
            gencount: r.get(1)?,
            content: r.get(2)?,
        })
    })?
    .collect()
}

/// This device's manifest of the server versions, recomputing the dirty
/// buckets (and storing the result, clearing the marks).
pub(crate) fn own_manifest(
    conn: &Connection,
    zone: &str,
    state: &mut SyncState,
) -> rusqlite::Result<Manifest> {
    let stored: Option<Vec<u8>> = conn
        .prepare_cached("SELECT buckets FROM ckmanifest WHERE zone = ?1 AND peer_id = x''")?
        .query_row([zone], |r| r.get(0))
        .optional()?
        .flatten();
    let mut m = stored
        .as_deref()
        .and_then(Manifest::from_blob)
        .unwrap_or_default();
    let dirty: Vec<u8> = if stored.is_some() {
        state.dirty_buckets().collect()
    } else {
        (0..=255u8).collect()
    };
    if dirty.is_empty() {
        return Ok(m);
    }
    for b in dirty {
        m.buckets[usize::from(b)] = bucket_hash(&bucket_leaves(conn, b)?);
    }
    conn.prepare_cached(
        "INSERT INTO ckmanifest (zone, peer_id, root, buckets, server_seq, zone_epoch)
         VALUES (?1, x'', ?2, ?3, ?4, ?5)
         ON CONFLICT (zone, peer_id) DO UPDATE SET root = ?2, buckets = ?3,
             server_seq = ?4, zone_epoch = ?5",
    )?
    .execute(params![
        zone,
        &m.root()[..],
        m.to_blob(),
        state.token.seq,
        state.token.epoch
    ])?;
    state.dirty = [0; 32];
    put_state(conn, zone, state)?;
    Ok(m)
}

/// The number of live server versions held.
pub(crate) fn leaf_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM ckmirror WHERE server_leaf IS NOT NULL")?
        .query_row([], |r| r.get(0))
}

/// Every server version's leaf, in uuid order (for a manifest with
/// changes applied on top).
pub(crate) fn all_leaves(conn: &Connection) -> rusqlite::Result<Vec<Leaf>> {
    leaves_between(conn, &[0; 16], &[0xff; 16])
}

/// The highest counter of `peer`'s manifests this device accepted.
pub(crate) fn seen_counter(
    conn: &Connection,
    zone: &str,
    peer: &[u8; 32],
) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT counter FROM ckmanifest WHERE zone = ?1 AND peer_id = ?2")?
        .query_row(params![zone, &peer[..]], |r| r.get(0))
        .optional()
}

/// The newest manifest stored for `peer` (this device's own included).
pub(crate) fn stored_manifest(
    conn: &Connection,
    zone: &str,
    peer: &[u8; 32],
) -> rusqlite::Result<Option<SignedManifest>> {
    type Blobs = (Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Option<Blobs> = conn
        .prepare_cached("SELECT body, signature FROM ckmanifest WHERE zone = ?1 AND peer_id = ?2")?
        .query_row(params![zone, &peer[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((Some(body), Some(sig))) => SignedManifest::decode(&body, &sig).ok(),
        _ => None,
    })
}

/// Stores a peer's (or, under an empty id, this device's own) newest
/// verified manifest.
pub(crate) fn put_peer_manifest(
    conn: &Connection,
    own: bool,
    m: &SignedManifest,
) -> rusqlite::Result<()> {
    let peer: &[u8] = if own { &[] } else { m.signer.as_bytes() };
    conn.prepare_cached(
        "INSERT INTO ckmanifest (zone, peer_id, root, server_seq, zone_epoch, signature, counter, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (zone, peer_id) DO UPDATE SET root = ?3, server_seq = ?4, zone_epoch = ?5,
             signature = ?6, counter = ?7, body = ?8",
    )?
    .execute(params![
        m.zone,
        peer,
        &m.root[..],
        m.token.seq,
        m.token.epoch,
        &m.signature[..],
        m.counter,
        m.body()
    ])?;
    Ok(())
}

/// A quarantined record as stored.
pub(crate) struct QuarantineRow {
    pub record: Vec<u8>,
}

/// Keeps a refused record (`record`: its one-record list) with the reason,
/// undecided or with its `decision` already made. Returns whether the row
/// is new: the very record decided on before, served again, is not news
/// (only where the server now serves it is noted, for the zone checks);
/// another record of that version is.
pub(crate) fn quarantine(
    conn: &Connection,
    zone: &str,
    tagged: &crate::sync::TaggedRecord,
    record: &[u8],
    reason: &str,
    decision: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let (uuid, gencount, seq) = (tagged.record.uuid(), tagged.record.gencount(), tagged.tag);
    let held: Option<(Option<String>, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT decision, record FROM sync_quarantine
             WHERE zone = ?1 AND uuid = ?2 AND gencount = ?3",
        )?
        .query_row(params![zone, uuid.as_bytes(), gencount], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((Some(_), stored)) = held
        && decode_records(&stored)
            .is_ok_and(|l| l.first().is_some_and(|t| t.record == tagged.record))
    {
        conn.prepare_cached(
            "UPDATE sync_quarantine SET seq = ?4, record = ?5
             WHERE zone = ?1 AND uuid = ?2 AND gencount = ?3",
        )?
        .execute(params![zone, uuid.as_bytes(), gencount, seq, record])?;
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT OR REPLACE INTO sync_quarantine
             (zone, uuid, gencount, seq, record, reason, at_ms, decision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        zone,
        uuid.as_bytes(),
        gencount,
        seq,
        record,
        reason,
        now_ms,
        decision
    ])?;
    Ok(true)
}

/// Every quarantined record of `zone`, decided or not, in seq order: what
/// the zone checks account for.
pub(crate) fn quarantined(conn: &Connection, zone: &str) -> rusqlite::Result<Vec<QuarantineRow>> {
    conn.prepare_cached("SELECT seq, record FROM sync_quarantine WHERE zone = ?1 ORDER BY seq")?
        .query_map([zone], |r| Ok(QuarantineRow { record: r.get(1)? }))?
        .collect()
}

/// The records of `zone` still waiting for a decision, in seq order: what
/// each sync re-checks.
pub(crate) fn undecided(conn: &Connection, zone: &str) -> rusqlite::Result<Vec<QuarantineRow>> {
    conn.prepare_cached(
        "SELECT seq, record FROM sync_quarantine WHERE zone = ?1 AND decision IS NULL ORDER BY seq",
    )?
    .query_map([zone], |r| Ok(QuarantineRow { record: r.get(1)? }))?
    .collect()
}

/// Drops the quarantined versions of `uuid` up to `gencount`: the item
/// now holds that version, which supersedes them.
pub(crate) fn unquarantine(
    conn: &Connection,
    zone: &str,
    uuid: Uuid,
    gencount: u64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM sync_quarantine WHERE zone = ?1 AND uuid = ?2 AND gencount <= ?3",
    )?
    .execute(params![zone, uuid.as_bytes(), gencount])?;
    Ok(())
}

/// Quarantined records waiting for a decision.
pub(crate) fn quarantine_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM sync_quarantine WHERE decision IS NULL")?
        .query_row([], |r| r.get(0))
}

pub(crate) fn add_duplicate(conn: &Connection, a: Uuid, b: Uuid) -> rusqlite::Result<bool> {
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    Ok(conn
        .prepare_cached("INSERT OR IGNORE INTO possible_duplicates (uuid, other) VALUES (?1, ?2)")?
        .execute(params![a.as_bytes(), b.as_bytes()])?
        > 0)
}

pub(crate) fn duplicates(conn: &Connection) -> rusqlite::Result<Vec<(Uuid, Uuid)>> {
    conn.prepare_cached("SELECT uuid, other FROM possible_duplicates ORDER BY uuid, other")?
        .query_map([], |r| {
            Ok((Uuid::from_bytes(r.get(0)?), Uuid::from_bytes(r.get(1)?)))
        })?
        .collect()
}

/// Whether the bucket count matches the bitmap (a compile-time check).
const _: () = assert!(BUCKETS == 256);

/// A zone's stage: pulled pages not yet applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stage {
    /// The committed token the staged pages build on.
    pub base: Token,
    /// Where the read began (`since` of every page request).
    pub since: Token,
    /// The last staged page's token.
    pub token: Token,
}

pub(crate) fn stage(conn: &Connection, zone: &str) -> rusqlite::Result<Option<Stage>> {
    conn.prepare_cached(
        "SELECT base_epoch, base_seq, since_epoch, since_seq, token_epoch, token_seq
         FROM sync_stage WHERE zone = ?1",
    )?
    .query_row([zone], |r| {
        let token = |e: usize| -> rusqlite::Result<Token> {
            Ok(Token {
                epoch: r.get(e)?,
                seq: r.get(e + 1)?,
            })
        };
        Ok(Stage {
            base: token(0)?,
            since: token(2)?,
            token: token(4)?,
        })
    })
    .optional()
}

/// Stages one page and moves the stage's token to the page's.
pub(crate) fn stage_page(
    conn: &Connection,
    zone: &str,
    stage: &Stage,
    records: &[TaggedRecord],
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_stage (zone, base_epoch, base_seq, since_epoch, since_seq,
             token_epoch, token_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (zone) DO UPDATE SET base_epoch = ?2, base_seq = ?3,
             since_epoch = ?4, since_seq = ?5, token_epoch = ?6, token_seq = ?7",
    )?
    .execute(params![
        zone,
        stage.base.epoch,
        stage.base.seq,
        stage.since.epoch,
        stage.since.seq,
        stage.token.epoch,
        stage.token.seq
    ])?;
    if !records.is_empty() {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO sync_staged_pages (zone, seq, records, list)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            zone,
            stage.token.seq,
            records.len(),
            encode_records(records)
        ])?;
    }
    Ok(())
}

/// How many records are staged.
pub(crate) fn staged_count(conn: &Connection, zone: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COALESCE(SUM(records), 0) FROM sync_staged_pages WHERE zone = ?1")?
        .query_row([zone], |r| r.get(0))
}

/// Every staged record, in sequence order. A page that no longer decodes
/// (a damaged file) is a conversion error.
pub(crate) fn staged_records(conn: &Connection, zone: &str) -> rusqlite::Result<Vec<TaggedRecord>> {
    let mut out = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT list FROM sync_staged_pages WHERE zone = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([zone])?;
    while let Some(row) = rows.next()? {
        let list: Vec<u8> = row.get(0)?;
        let mut records = decode_records(&list).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
        })?;
        out.append(&mut records);
    }
    Ok(out)
}

/// Drops the zone's stage.
pub(crate) fn clear_stage(conn: &Connection, zone: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM sync_staged_pages WHERE zone = ?1")?
        .execute([zone])?;
    conn.prepare_cached("DELETE FROM sync_stage WHERE zone = ?1")?
        .execute([zone])?;
    Ok(())
}
