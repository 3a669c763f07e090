//! Restoring a backup: `vault-server restore --from FILE` installs a copy
//! of a backup in place of a stopped server's database and moves every
//! zone to a new epoch, so that devices which synced after the backup was
//! taken see a zone they must read again and heal (DESIGN.md §9).
//!
//! The steps, all under the database's lock (see [`super::lock`]): check
//! the backup (an SQLite file of this server's schema, not newer than this
//! binary, passing `quick_check`); copy it to `<db>.restore-tmp` and
//! migrate it; read what the database being replaced knows (its epochs and
//! sequences, when it is readable); move the copy's zones to the new epoch
//! ([`epochs`]); sync the copy, remove the old database's `-wal`, `-shm`
//! and `-journal` (SQLite would replay them into the new file), and rename
//! the copy over the database. A refusal or failure before the rename
//! leaves the database as it was.

mod check;
mod epochs;

use super::lock::{DbLock, LockError};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub use check::Replaced;

/// Why a restore changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A server (or another restore) holds the database.
    #[error(
        "a vault-server is running on {} (it holds {}): stop the server first, then restore",
        db.display(),
        lock.display()
    )]
    InUse {
        /// The database.
        db: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// The lock could not be taken.
    #[error(transparent)]
    Lock(LockError),
    /// The backup is not an SQLite database.
    #[error("{} is not a vault-server backup: it is not an SQLite database", path.display())]
    NotSqlite {
        /// The backup.
        path: PathBuf,
    },
    /// The backup is an SQLite database, but not one of this server.
    #[error("{} is not a vault-server backup: {reason}", path.display())]
    NotServerBackup {
        /// The backup.
        path: PathBuf,
        /// What it lacks.
        reason: &'static str,
    },
    /// The backup's schema is newer than this binary's.
    #[error(
        "{} has schema version {found}, newer than this vault-server knows ({known}): \
         restore it with the vault-server that made it, or a newer one",
        path.display()
    )]
    NewerSchema {
        /// The backup.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest this binary knows.
        known: u32,
    },
    /// The backup fails SQLite's consistency check.
    #[error("the backup {} is damaged: {detail}", path.display())]
    Damaged {
        /// The backup.
        path: PathBuf,
        /// SQLite's first complaint.
        detail: String,
    },
    /// The backup is a live database: a write-ahead log lies beside it.
    #[error(
        "{} has a write-ahead log beside it ({}): it is a live database, not a backup; \
         make one with `vault-server backup --output FILE`",
        path.display(),
        wal.display()
    )]
    LiveDatabase {
        /// The file given as the backup.
        path: PathBuf,
        /// Its WAL.
        wal: PathBuf,
    },
    /// The file to replace is not a vault-server database.
    #[error(
        "{} is not a vault-server database: it is left alone (move it away to restore there)",
        path.display()
    )]
    TargetNotServer {
        /// The file at the database's path.
        path: PathBuf,
    },
    /// Every epoch a zone could move to is taken.
    #[error("no zone epoch is left after {0}")]
    NoEpochLeft(u32),
    /// The database (PostgreSQL) failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// The backup's schema did not migrate.
    #[error("cannot migrate the backup to this vault-server's schema")]
    Migrate(#[source] rusqlite_migration::Error),
    /// A database call failed.
    #[error("SQLite failed on {}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// To which file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RestoreError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError {
        move |source| RestoreError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> RestoreError {
        move |source| RestoreError::Sqlite {
            path: path.to_owned(),
            source,
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The database now holding the backup.
    pub db: PathBuf,
    /// The backup's schema version.
    pub backup_schema: u32,
    /// The schema version after migrating.
    pub schema: u32,
    /// The epoch every zone moved to.
    pub epoch: u32,
    /// What the replaced database told.
    pub replaced: Replaced,
    /// Every zone, by circle and name.
    pub zones: Vec<RestoredZone>,
    /// Session tokens dropped: every device signs in again.
    pub tokens_dropped: u64,
    /// Pairing invites dropped (with their relay messages).
    pub invites_dropped: u64,
}

/// One zone after a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredZone {
    /// Its circle.
    pub circle_id: Uuid,
    /// Its name.
    pub zone: String,
    /// Its epoch in the backup; `None` for a zone only the replaced
    /// database had (its row is recreated, empty, at the new epoch).
    pub old_epoch: Option<u32>,
    /// Its sequence in the new epoch: the backup's, or the replaced
    /// database's if that was higher.
    pub seq: u64,
    /// The records it holds (tombstones included).
    pub records: u64,
}

/// Installs the backup at `backup` as the database at `db` (which must not
/// be in use), migrates it, and moves every zone to an epoch past every
/// epoch either file knows and at least `now` (Unix seconds). On any error
/// the database is left as it was.
pub fn restore_database(db: &Path, backup: &Path, now: u64) -> Result<RestoreReport, RestoreError> {
    let _lock = DbLock::acquire(db).map_err(|e| match e {
        LockError::InUse { db, lock } => RestoreError::InUse { db, lock },
        other => RestoreError::Lock(other),
    })?;
    let tmp = sibling(db, ".restore-tmp");
    // Left by a restore that crashed: nobody else can be using it.
    remove_db_files(&tmp)?;
    match prepare(db, backup, &tmp, now) {
        Ok(report) => {
            install(&tmp, db)?;
            Ok(report)
        }
        Err(e) => {
            let _ = remove_db_files(&tmp);
            Err(e)
        }
    }
}

/// Everything before the rename: the database is not touched.
fn prepare(db: &Path, backup: &Path, tmp: &Path, now: u64) -> Result<RestoreReport, RestoreError> {
    check::backup_file(backup)?;
    copy_synced(backup, tmp)?;
    let (mut conn, backup_schema) = check::open_backup(tmp, backup)?;
    let schema = check::migrate(&mut conn, tmp)?;
    let current = check::read_replaced(db)?;
    let mut report = epochs::move_zones(&mut conn, tmp, &current, now, backup_schema)?;
    conn.close()
        .map_err(|(_, e)| RestoreError::sqlite(tmp)(e))?;
    sync_file(tmp)?;
    report.db = db.to_owned();
    report.schema = schema;
    Ok(report)
}

/// Puts the prepared copy in place of the database.
fn install(tmp: &Path, db: &Path) -> Result<(), RestoreError> {
    // The old database's WAL, shared memory and hot journal must not meet
    // the new file: SQLite would replay them into it. (Reading the old
    // database checkpointed its WAL, when it could be read.)
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_exists(&sibling(db, suffix))?;
    }
    std::fs::rename(tmp, db).map_err(RestoreError::io("rename the restored copy to", db))?;
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RestoreError::io("sync the directory", dir))?;
    remove_db_files(tmp)
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_exists(path: &Path) -> Result<(), RestoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(RestoreError::io("remove", path)(e))
        }
        _ => Ok(()),
    }
}

/// Removes an SQLite file and its companions.
fn remove_db_files(path: &Path) -> Result<(), RestoreError> {
    remove_if_exists(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_exists(&sibling(path, suffix))?;
    }
    Ok(())
}

/// Copies `from` into a new file `to` (mode 0600) and syncs it.
fn copy_synced(from: &Path, to: &Path) -> Result<(), RestoreError> {
    let mut src = std::fs::File::open(from).map_err(RestoreError::io("read", from))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut dest = opts.open(to).map_err(RestoreError::io("create", to))?;
    std::io::copy(&mut src, &mut dest).map_err(RestoreError::io("copy the backup to", to))?;
    dest.sync_all().map_err(RestoreError::io("sync", to))
}

fn sync_file(path: &Path) -> Result<(), RestoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(RestoreError::io("sync", path))
}

/// The first 16 bytes of every SQLite 3 database.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether the file at `path` starts as an SQLite database does.
fn has_sqlite_header(path: &Path) -> Result<bool, RestoreError> {
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path).map_err(RestoreError::io("read", path))?;
    match f.read_exact(&mut head) {
        Ok(()) => Ok(&head == SQLITE_HEADER),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(RestoreError::io("read", path)(e)),
    }
}
