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
//! [`Storage`] is implemented in `storage`, each table group in a file
//! of its own.

mod admin;
mod auth;
mod backup;
mod checkpoint;
mod circles;
mod lock;
mod manifests;
mod relay;
mod restore;
mod storage;
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

#[cfg(test)]
mod tests;
