//! The SQLite backend: one file in WAL mode, one writer connection behind a
//! mutex and a few reader connections (WAL readers never block the writer).
//! Numbered migrations from `migrations/server/sqlite/` are embedded and
//! applied on open.
//!
//! Durability: the circle log, members, shares and invites commit with
//! `synchronous=FULL` (the WAL is synced before a commit returns). Only
//! session tokens and relay messages commit with `synchronous=NORMAL`: in
//! WAL mode that is still safe against a killed process (kill -9 loses
//! nothing committed), and what a power loss can cost is the last few of
//! those rows, which a device answers by asking again (a lost token gives a
//! 401 and a new login, a lost relay message a re-send), whereas syncing each
//! one would cap authentication at the disk's fsync rate. Challenges are not
//! written at all: see [`MemoryChallenges`].
//! (Over 500 lines until issue 16 splits the backend behind the shared
//! rules; each table group already has its own file.)

mod admin;
mod auth;
mod backup;
mod checkpoint;
mod circles;
mod lock;
mod manifests;
mod relay;
mod restore;
mod zones;

pub use admin::AdminDb;
pub use backup::backup_database;
pub use lock::{DbLock, LockError, lock_path};
pub use restore::{Replaced, RestoreError, RestoreReport, RestoredZone, restore_database};

use super::challenges::MemoryChallenges;
use super::rules;
use super::{
    AppendError, ChangesError, ChangesPage, Counts, Hash32, InviteError, InviteId, InviteRow,
    IssueError, LogPage, ManifestPutError, ManifestRow, ManifestStored, MemberChange, MemberKeys,
    MemberRow, NewEntry, NewManifest, PeerBytes, Purged, PushError, PushReply, Quotas,
    RegisterError, RelayMessage, ServerManifest, ShareError, ShareRow, Side, Storage, StorageError,
    TaggedRecord, TokenRow, ZoneSeq,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use rusqlite_migration::{M, Migrations};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use uuid::Uuid;
use vault_core::sync::Token;

/// `PRAGMA application_id` of a server database: "VLS1".
const APPLICATION_ID: i32 = 0x564C_5331;

const MIGRATION_FILES: &[&str] = &[
    include_str!("../../../../migrations/server/sqlite/0001_init.sql"),
    include_str!("../../../../migrations/server/sqlite/0002_zones.sql"),
    include_str!("../../../../migrations/server/sqlite/0003_restores.sql"),
    include_str!("../../../../migrations/server/sqlite/0004_removal_cuts.sql"),
    include_str!("../../../../migrations/server/sqlite/0005_registration.sql"),
    include_str!("../../../../migrations/server/sqlite/0006_circle_admin.sql"),
    include_str!("../../../../migrations/server/sqlite/0007_quotas.sql"),
];

static MIGRATIONS: LazyLock<Migrations<'static>> =
    LazyLock::new(|| Migrations::new(MIGRATION_FILES.iter().map(|sql| M::up(sql)).collect()));

/// The schema version (`user_version`) this binary migrates databases to.
pub fn schema_version() -> u32 {
    MIGRATION_FILES.len() as u32
}

/// The embedded server migrations (for validation in tests).
pub fn migrations() -> &'static Migrations<'static> {
    &MIGRATIONS
}

/// How long a connection waits for a lock before `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader connections kept open.
const READERS: usize = 4;

/// How a write transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `synchronous=FULL`: on disk before the commit returns.
    Full,
    /// `synchronous=NORMAL`: safe against a killed process, not a power loss.
    Relaxed,
}

struct Writer {
    conn: Connection,
    relaxed: bool,
}

/// The SQLite implementation of [`Storage`].
pub struct SqliteStorage {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    challenges: MemoryChallenges,
    _checkpointer: checkpoint::Checkpointer,
    /// Dropped last: no other process opens the file while this lives.
    _lock: DbLock,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub(super) fn db_err(e: rusqlite::Error) -> StorageError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StorageError::NotFound,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            StorageError::Busy
        }
        _ => StorageError::Backend(Box::new(e)),
    }
}

fn flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
}

fn configure(conn: &Connection) -> Result<(), StorageError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(db_err)?;
    // Checkpoints run on their own thread (see `checkpoint`).
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(db_err)?;
    conn.pragma_update(None, "mmap_size", 256i64 << 20)
        .map_err(db_err)?;
    // After a burst, a reset WAL is truncated back to this size.
    conn.pragma_update(None, "journal_size_limit", 64i64 << 20)
        .map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Refuses a file that is another application's database.
fn check_application_id(conn: &Connection) -> Result<(), StorageError> {
    let id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(db_err)?;
    if id != APPLICATION_ID && id != 0 {
        return Err(StorageError::Backend(
            "the file is not a vault-server database".into(),
        ));
    }
    Ok(())
}

/// Opens (creating if needed) the database at `path` in WAL mode and
/// migrates it to this binary's schema; the caller holds its lock.
fn open_migrated(path: &Path) -> Result<Connection, StorageError> {
    let mut conn = Connection::open_with_flags(path, flags() | OpenFlags::SQLITE_OPEN_CREATE)
        .map_err(db_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    check_application_id(&conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db_err)?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(db_err)?;
    MIGRATIONS
        .to_latest(&mut conn)
        .map_err(|e| StorageError::Backend(Box::new(e)))?;
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` and migrates it.
    /// Holds the database's lock (see [`DbLock`]) until dropped:
    /// [`StorageError::Lock`] if another process holds it.
    pub fn open(path: &Path) -> Result<SqliteStorage, StorageError> {
        let lock = DbLock::acquire(path)?;
        let conn = open_migrated(path)?;
        configure(&conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(path, flags()).map_err(db_err)?;
            configure(&r)?;
            r.pragma_update(None, "query_only", "ON").map_err(db_err)?;
            readers.push(Mutex::new(r));
        }
        Ok(SqliteStorage {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn,
                relaxed: false,
            }),
            readers,
            next_reader: AtomicUsize::new(0),
            challenges: MemoryChallenges::default(),
            _checkpointer: checkpoint::Checkpointer::start(path)?,
            _lock: lock,
        })
    }

    /// Runs `f` in one immediate write transaction; commits if it succeeds.
    fn write<T, E>(
        &self,
        durability: Durability,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let mut w = lock(&self.writer);
        let relaxed = durability == Durability::Relaxed;
        if w.relaxed != relaxed {
            let mode = if relaxed { "NORMAL" } else { "FULL" };
            w.conn
                .pragma_update(None, "synchronous", mode)
                .map_err(db_err)?;
            w.relaxed = relaxed;
        }
        let tx = w
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let out = f(&tx)?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    /// Runs `f` on one of the reader connections.
    fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let conn = lock(&self.readers[i]);
        f(&conn)
    }
}

/// A poisoned lock only means a panic elsewhere; a transaction left open by
/// it was rolled back when it dropped.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn blob32(v: Vec<u8>) -> Result<[u8; 32], StorageError> {
    v.try_into()
        .map_err(|_| StorageError::Backend("a stored id has the wrong length".into()))
}

fn uuid_of(v: Vec<u8>) -> Result<Uuid, StorageError> {
    Uuid::from_slice(&v).map_err(|e| StorageError::Backend(Box::new(e)))
}

fn seq_of(v: i64) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|e| StorageError::Backend(Box::new(e)))
}

fn seq_to_sql(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|e| StorageError::Backend(Box::new(e)))
}

impl Storage for SqliteStorage {
    fn ping(&self) -> Result<(), StorageError> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM circles", [], |r| r.get::<_, i64>(0))
                .map_err(db_err)
                .map(|_| ())
        })
    }

    fn counts(&self) -> Result<Counts, StorageError> {
        self.read(|c| {
            let (circles, devices, records, bytes): (i64, i64, i64, i64) = c
                .prepare_cached(
                    "SELECT (SELECT count(*) FROM circles),
                            (SELECT count(*) FROM members WHERE removed = 0),
                            (SELECT COALESCE(sum(live), 0) FROM zones),
                            (SELECT COALESCE(sum(bytes), 0) FROM zones)",
                )
                .and_then(|mut s| {
                    s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                })
                .map_err(db_err)?;
            Ok(Counts {
                circles: seq_of(circles)?,
                devices: seq_of(devices)?,
                records: seq_of(records)?,
                bytes: seq_of(bytes)?,
            })
        })
    }

    fn create_circle(
        &self,
        circle_id: Uuid,
        genesis: &NewEntry,
        founder: &PeerBytes,
        keys: &MemberKeys,
        now: i64,
    ) -> Result<(), StorageError> {
        self.write(Durability::Full, |tx| {
            circles::create(tx, circle_id, genesis, founder, keys, now)
        })
    }

    fn create_circle_registered(
        &self,
        token: &Hash32,
        circle_id: Uuid,
        genesis: &NewEntry,
        founder: &PeerBytes,
        keys: &MemberKeys,
        now: i64,
    ) -> Result<(), RegisterError> {
        self.write(Durability::Full, |tx| {
            admin::consume(tx, token, circle_id, now)??;
            circles::create(tx, circle_id, genesis, founder, keys, now).map_err(|e| match e {
                StorageError::Conflict => RegisterError::Exists,
                e => e.into(),
            })
        })
    }

    fn disabled_circles(&self) -> Result<Vec<Uuid>, StorageError> {
        self.read(auth::disabled_circles)
    }

    fn circle_usage(
        &self,
        circle_id: Uuid,
    ) -> Result<(super::quota::Usage, super::QuotaOverrides), StorageError> {
        self.read(|c| {
            Ok((
                circles::usage(c, circle_id)?,
                circles::quota_overrides(c, circle_id)?,
            ))
        })
    }

    fn circle_exists(&self, circle_id: Uuid) -> Result<bool, StorageError> {
        self.read(|c| circles::exists(c, circle_id))
    }

    fn member(&self, circle_id: Uuid, peer: &PeerBytes) -> Result<MemberRow, StorageError> {
        self.read(|c| circles::member(c, circle_id, peer))
    }

    fn append_entry(
        &self,
        circle_id: Uuid,
        signer: &PeerBytes,
        entry: &NewEntry,
        change: &MemberChange,
        quotas: &Quotas,
    ) -> Result<(), AppendError> {
        self.write(Durability::Full, |tx| {
            let mut backend = circles::SqliteAppend(tx);
            rules::append::append(&mut backend, circle_id, signer, entry, change, quotas)
        })
    }

    fn log(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
        limit: u32,
    ) -> Result<LogPage, StorageError> {
        self.read(|c| circles::log(c, circle_id, after, limit))
    }

    fn cut_list(&self, circle_id: Uuid, seq: u64, zone: &str) -> Result<Vec<u8>, StorageError> {
        self.read(|c| circles::cut_list(c, circle_id, seq, zone))
    }

    fn put_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        expires: i64,
    ) -> Result<(), StorageError> {
        self.challenges.put(circle_id, peer, challenge, expires);
        Ok(())
    }

    fn consume_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        now: i64,
    ) -> Result<(), StorageError> {
        if self.challenges.take(circle_id, peer, challenge, now) {
            Ok(())
        } else {
            Err(StorageError::NotFound)
        }
    }

    fn issue_token(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        token_hash: &Hash32,
        now: i64,
        expires: i64,
    ) -> Result<(), IssueError> {
        // Used up whatever happens next.
        if !self.challenges.take(circle_id, peer, challenge, now) {
            return Err(IssueError::Challenge);
        }
        self.write(Durability::Relaxed, |tx| {
            auth::issue_token(tx, circle_id, peer, token_hash, now, expires)
        })
    }

    fn token(&self, token_hash: &Hash32, now: i64) -> Result<TokenRow, StorageError> {
        self.read(|c| auth::token(c, token_hash, now))
    }

    fn put_shares(
        &self,
        circle_id: Uuid,
        sender: &PeerBytes,
        shares: &[(PeerBytes, Vec<u8>)],
        now: i64,
    ) -> Result<(), ShareError> {
        self.write(Durability::Full, |tx| {
            relay::put_shares(tx, circle_id, sender, shares, now)
        })
    }

    fn shares(
        &self,
        circle_id: Uuid,
        recipient: &PeerBytes,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ShareRow>, StorageError> {
        self.read(|c| relay::shares(c, circle_id, recipient, after, limit))
    }

    fn create_invite(
        &self,
        invite_id: &InviteId,
        circle_id: Uuid,
        inviter: &PeerBytes,
        expires: i64,
    ) -> Result<(), StorageError> {
        self.write(Durability::Full, |tx| {
            relay::create_invite(tx, invite_id, circle_id, inviter, expires)
        })
    }

    fn join_invite(
        &self,
        invite_id: &InviteId,
        relay_token_hash: &Hash32,
        message: &[u8],
        now: i64,
    ) -> Result<u64, InviteError> {
        self.write(Durability::Full, |tx| {
            relay::join(tx, invite_id, relay_token_hash, message, now)
        })
    }

    fn invite(&self, invite_id: &InviteId, now: i64) -> Result<InviteRow, InviteError> {
        self.read(|c| relay::invite(c, invite_id))
            .map_err(|e| match e {
                StorageError::NotFound => InviteError::NotFound,
                other => InviteError::Storage(other),
            })
            .and_then(|row| {
                if row.expires <= now {
                    Err(InviteError::Gone)
                } else {
                    Ok(row)
                }
            })
    }

    fn post_relay(
        &self,
        invite_id: &InviteId,
        side: Side,
        message: &[u8],
        now: i64,
        max_messages: u32,
    ) -> Result<u64, InviteError> {
        self.write(Durability::Relaxed, |tx| {
            relay::post(tx, invite_id, side, message, now, max_messages)
        })
    }

    fn relay_messages(
        &self,
        invite_id: &InviteId,
        from: Side,
        after: u64,
    ) -> Result<Vec<RelayMessage>, StorageError> {
        self.read(|c| relay::messages(c, invite_id, from, after))
    }

    fn purge_expired(&self, now: i64) -> Result<Purged, StorageError> {
        let challenges = self.challenges.purge(now);
        self.write(Durability::Relaxed, |tx| {
            let run = |sql: &str| tx.execute(sql, [now]).map_err(db_err);
            Ok(Purged {
                challenges,
                tokens: run("DELETE FROM tokens WHERE expires <= ?1")?,
                invites: run("DELETE FROM invites WHERE expires <= ?1")?,
                // Used and revoked ones stay: they say who registered what.
                registration_tokens: run("DELETE FROM registration_tokens
                     WHERE expires <= ?1 AND used IS NULL AND revoked IS NULL")?,
            })
        })
    }

    fn backup(&self, dest: &Path) -> Result<(), StorageError> {
        backup_database(&self.path, dest)
    }

    fn changes(
        &self,
        circle_id: Uuid,
        zone: &str,
        since: Option<Token>,
        after: Option<u64>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<ChangesPage, ChangesError> {
        self.read(|c| {
            // One read transaction: the zone's row and the page are one
            // snapshot.
            let tx = c.unchecked_transaction().map_err(db_err)?;
            rules::changes::page(
                &mut manifests::SqliteManifests(&tx),
                circle_id,
                zone,
                since,
                after,
                limit,
                max_bytes,
            )
        })
    }

    fn push_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        writer: &PeerBytes,
        records: &[TaggedRecord],
        quotas: &Quotas,
    ) -> Result<PushReply, PushError> {
        // Hashed before the writer lock is taken.
        let content: Vec<[u8; 32]> = records.iter().map(|r| r.record.content_hash()).collect();
        self.write(Durability::Full, |tx| {
            let mut backend = zones::SqlitePush(tx);
            rules::push::push(
                &mut backend,
                circle_id,
                zone,
                writer,
                records,
                &content,
                quotas,
            )
        })
    }

    fn zone_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: bool,
    ) -> Result<ServerManifest, StorageError> {
        let cached = self.read(|c| {
            // One read transaction: the row, the buckets and the peers'
            // manifests are one snapshot.
            let tx = c.unchecked_transaction().map_err(db_err)?;
            rules::manifest::cached(
                &mut manifests::SqliteManifests(&tx),
                circle_id,
                zone,
                buckets,
            )
        })?;
        if let Some(m) = cached {
            return Ok(m);
        }
        // Bucket hashes are derived data: a lost cache is recomputed.
        self.write(Durability::Relaxed, |tx| {
            rules::manifest::refresh(
                &mut manifests::SqliteManifests(tx),
                circle_id,
                zone,
                buckets,
            )
        })
    }

    fn bucket_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: &[u8],
    ) -> Result<Vec<TaggedRecord>, StorageError> {
        self.read(|c| zones::bucket_records(c, circle_id, zone, buckets))
    }

    fn put_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        manifest: &NewManifest,
    ) -> Result<ManifestStored, ManifestPutError> {
        self.write(Durability::Full, |tx| {
            rules::manifest::put(
                &mut manifests::SqliteManifests(tx),
                circle_id,
                zone,
                manifest,
            )
        })
    }

    fn manifests(&self, circle_id: Uuid, zone: &str) -> Result<Vec<ManifestRow>, StorageError> {
        self.read(|c| manifests::list(c, circle_id, zone))
    }

    fn zone_seqs(&self, circle_id: Uuid) -> Result<Vec<ZoneSeq>, StorageError> {
        self.read(|c| zones::zone_seqs(c, circle_id))
    }
}

#[cfg(test)]
mod tests;
