//! One process at a time on a database: an exclusive advisory lock
//! (`flock` on Unix, through `std::fs::File::try_lock`) on a lock file
//! beside it, `<db>.lock`. A serving [`super::SqliteStorage`] holds it for
//! its whole life, and `vault-server restore` holds it while it replaces
//! the file, so a restore never runs under a server and a server never
//! starts during a restore. The kernel drops the lock when its holder
//! exits, even by `kill -9`; the lock file itself stays (deleting it would
//! race with a process about to lock it).
//!
//! The lock lives in its own file rather than on the database: SQLite's
//! own locks are POSIX record locks on the database file, and on some
//! file systems (NFS) `flock` is emulated with the same record locks.

use std::ffi::OsString;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it: a server on this database, or a restore.
    #[error(
        "{} is in use: another process (a vault-server serving it, or a restore) holds {}",
        db.display(),
        lock.display()
    )]
    InUse {
        /// The database.
        db: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The lock file of the database at `db`: `<db>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = OsString::from(db.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive lock on a database; released on drop.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

impl DbLock {
    /// Takes the lock of the database at `db` without waiting, creating
    /// the lock file (mode 0600) if needed.
    pub fn acquire(db: &Path) -> Result<DbLock, LockError> {
        let path = lock_path(db);
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&path).map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => Ok(DbLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::InUse {
                db: db.to_owned(),
                lock: path,
            }),
            Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_free_again_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let held = DbLock::acquire(&db).unwrap();
        assert!(lock_path(&db).is_file());
        assert!(matches!(DbLock::acquire(&db), Err(LockError::InUse { .. })));
        drop(held);
        DbLock::acquire(&db).unwrap();
    }
}
