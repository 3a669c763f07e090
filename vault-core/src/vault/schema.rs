//! The client schema: embedded numbered migrations, connection settings,
//! and the checks a file passes before the library writes to it.

use crate::error::{CreateError, OpenError, StorageError};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use rusqlite_migration::{M, Migrations};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

/// `PRAGMA application_id` of a vault file: "VLT1".
pub(crate) const APPLICATION_ID: i32 = 0x564C_5431;

const MIGRATION_FILES: &[&str] = &[
    include_str!("../../../migrations/vault/0001_init.sql"),
    include_str!("../../../migrations/vault/0002_circle.sql"),
    include_str!("../../../migrations/vault/0003_sync.sql"),
    include_str!("../../../migrations/vault/0004_stage.sql"),
    include_str!("../../../migrations/vault/0005_server_trust.sql"),
    include_str!("../../../migrations/vault/0006_removal_cut.sql"),
    include_str!("../../../migrations/vault/0007_pending_adds.sql"),
    include_str!("../../../migrations/vault/0008_divergence.sql"),
    include_str!("../../../migrations/vault/0009_circle_servers.sql"),
];

/// The newest schema version this library knows (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATION_FILES.len() as i64;

static MIGRATIONS: LazyLock<Migrations<'static>> =
    LazyLock::new(|| Migrations::new(MIGRATION_FILES.iter().map(|sql| M::up(sql)).collect()));

/// How long a writer waits for another handle's lock before `Busy`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
}

fn configure(conn: &Connection, busy: Duration) -> Result<(), StorageError> {
    conn.busy_timeout(busy)?;
    // FULL: a commit is on disk before it returns (the WAL is synced).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Memory-mapped reads: a full scan (the first search after unlock) skips
    // a read syscall and a copy per page.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    Ok(())
}

fn classify(e: rusqlite::Error) -> OpenError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => OpenError::NotAVault,
        Some(ErrorCode::DatabaseCorrupt) => OpenError::Corrupt,
        _ => OpenError::Storage(e.into()),
    }
}

/// Opens an existing vault file. A file that is not a vault, is truncated,
/// or has a newer schema is refused before anything is written to it.
pub(crate) fn open_existing(path: &Path, busy: Duration) -> Result<Connection, OpenError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => OpenError::NotFound,
        _ => OpenError::Io(e),
    })?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(OpenError::NotAVault);
    }
    let mut conn = Connection::open_with_flags(path, flags()).map_err(classify)?;
    conn.busy_timeout(busy).map_err(classify)?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(classify)?;
    if app_id != APPLICATION_ID {
        return Err(OpenError::NotAVault);
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(classify)?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    check_not_truncated(path, &conn, meta.len())?;
    if version < SCHEMA_VERSION {
        MIGRATIONS
            .to_latest(&mut conn)
            .map_err(OpenError::Migration)?;
    }
    configure(&conn, busy)?;
    Ok(conn)
}

/// SQLite reads a truncated file until it meets a missing page; refuse it
/// at open instead, while no write-ahead log holds pages past the end.
fn check_not_truncated(path: &Path, conn: &Connection, file_len: u64) -> Result<(), OpenError> {
    let page_size: u64 = conn
        .pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0))
        .map_err(classify)?
        .try_into()
        .map_err(|_| OpenError::Corrupt)?;
    let page_count: u64 = conn
        .pragma_query_value(None, "page_count", |r| r.get::<_, i64>(0))
        .map_err(classify)?
        .try_into()
        .map_err(|_| OpenError::Corrupt)?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if page_size == 0 || !file_len.is_multiple_of(page_size) {
        return Err(OpenError::Corrupt);
    }
    if wal_len == 0 && file_len < page_size * page_count {
        return Err(OpenError::Corrupt);
    }
    Ok(())
}

/// Creates a new vault file (mode 0600) and applies the schema. Refuses
/// to touch an existing file.
pub(crate) fn create_new(path: &Path, busy: Duration) -> Result<Connection, CreateError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => CreateError::AlreadyExists,
        _ => CreateError::Io(e),
    })?;
    let mut conn = Connection::open_with_flags(path, flags()).map_err(StorageError::from)?;
    conn.pragma_update(None, "page_size", 4096)
        .map_err(StorageError::from)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(StorageError::from)?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(StorageError::from)?;
    MIGRATIONS
        .to_latest(&mut conn)
        .map_err(CreateError::Migration)?;
    configure(&conn, busy)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn schema_has_the_design_tables() {
        let dir = tempfile::tempdir().unwrap();
        let conn = create_new(&dir.path().join("v.db"), DEFAULT_BUSY_TIMEOUT).unwrap();
        for t in [
            "vault_meta",
            "key_epochs",
            "inet",
            "genp",
            "keys",
            "item_history",
            "ckmirror",
            "ckmanifest",
            "trusted_peers",
            "circle_log",
            "device_identity",
            "circle",
            "pending_epochs",
            "pending_adds",
        ] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
                    [t],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "table {t}");
        }
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn lookups_use_the_partial_indices() {
        let dir = tempfile::tempdir().unwrap();
        let conn = create_new(&dir.path().join("v.db"), DEFAULT_BUSY_TIMEOUT).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT uuid FROM inet WHERE bi_name = 1 AND tomb = 0",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("inet_live_name_account"), "{plan}");
    }
}
