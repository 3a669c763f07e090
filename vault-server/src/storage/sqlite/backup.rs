//! Online backups: a consistent copy of the live database, taken while
//! writers go on.

use super::{BUSY_TIMEOUT, check_application_id, db_err, flags};
use crate::storage::StorageError;
use rusqlite::Connection;
use std::path::Path;

/// Copies the live database at `src` into `dest` (which must not exist),
/// consistently, with `VACUUM INTO`: it reads one snapshot while writers go
/// on. The copy is created mode 0600 and synced.
pub fn backup_database(src: &Path, dest: &Path) -> Result<(), StorageError> {
    if !src.is_file() {
        return Err(StorageError::NotFound);
    }
    let conn = Connection::open_with_flags(src, flags()).map_err(db_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    check_application_id(&conn)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(dest).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => StorageError::Conflict,
        _ => StorageError::Backend(Box::new(e)),
    })?;
    let dest_text = dest
        .to_str()
        .ok_or_else(|| StorageError::Backend("the backup path is not UTF-8".into()))?;
    let done = conn.execute("VACUUM INTO ?1", [dest_text]).map_err(db_err);
    if let Err(e) = done {
        let _ = std::fs::remove_file(dest);
        return Err(e);
    }
    std::fs::File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(|e| StorageError::Backend(Box::new(e)))?;
    Ok(())
}
