//! The checks of a restore: is the backup a vault-server database this
//! binary can migrate, and what does the database it replaces know (the
//! epochs and sequences it handed out, which the backup may not know).

use super::{RestoreError, has_sqlite_header, sibling};
use crate::storage::sqlite::{APPLICATION_ID, BUSY_TIMEOUT, MIGRATIONS, schema_version};
use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;

/// What the database a restore replaced told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// There was none (or an empty file).
    Absent,
    /// It was read: the new epoch is past its epochs, and each zone's
    /// sequence goes on past its own.
    Read,
    /// It is an SQLite file that could not be read (SQLite's complaint):
    /// the new epoch rests on the backup and the clock alone.
    Unreadable(String),
}

/// A zone of the replaced database.
#[derive(Debug, Clone)]
pub(super) struct KnownZone {
    pub circle_id: Vec<u8>,
    pub name: String,
    pub seq: u64,
}

/// What the replaced database knows.
#[derive(Debug, Clone)]
pub(super) struct Current {
    pub replaced: Replaced,
    /// The highest epoch it names anywhere (0 if none).
    pub max_epoch: u32,
    pub zones: Vec<KnownZone>,
}

impl Current {
    fn empty(replaced: Replaced) -> Current {
        Current {
            replaced,
            max_epoch: 0,
            zones: Vec::new(),
        }
    }
}

fn flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// Checks what can be checked of the backup before copying it: an SQLite
/// file, with no write-ahead log beside it (a live database's WAL may hold
/// commits the file lacks).
pub(super) fn backup_file(backup: &Path) -> Result<(), RestoreError> {
    if !has_sqlite_header(backup)? {
        return Err(RestoreError::NotSqlite {
            path: backup.to_owned(),
        });
    }
    let wal = sibling(backup, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(RestoreError::LiveDatabase {
            path: backup.to_owned(),
            wal,
        });
    }
    Ok(())
}

/// Opens the copy `tmp` of `backup` and checks it: this server's
/// application id, a schema version this binary knows, a passing
/// `quick_check`. Switches it to a rollback journal (the copy must be one
/// self-contained file when it is renamed). Returns the schema version.
pub(super) fn open_backup(tmp: &Path, backup: &Path) -> Result<(Connection, u32), RestoreError> {
    let conn = Connection::open_with_flags(tmp, flags()).map_err(RestoreError::sqlite(tmp))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(RestoreError::sqlite(tmp))?;
    let damaged = |e: rusqlite::Error| RestoreError::Damaged {
        path: backup.to_owned(),
        detail: e.to_string(),
    };
    let id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(damaged)?;
    if id != APPLICATION_ID {
        return Err(RestoreError::NotServerBackup {
            path: backup.to_owned(),
            reason: "it is an SQLite database of another application",
        });
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(damaged)?;
    let known = schema_version();
    let found = match u32::try_from(version) {
        Ok(0) | Err(_) => {
            return Err(RestoreError::NotServerBackup {
                path: backup.to_owned(),
                reason: "it holds no vault-server schema",
            });
        }
        Ok(v) => v,
    };
    if found > known {
        return Err(RestoreError::NewerSchema {
            path: backup.to_owned(),
            found,
            known,
        });
    }
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(damaged)?;
    if verdict != "ok" {
        return Err(RestoreError::Damaged {
            path: backup.to_owned(),
            detail: verdict,
        });
    }
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .map_err(RestoreError::sqlite(tmp))?;
    Ok((conn, found))
}

/// Applies the pending migrations; returns the schema version reached.
pub(super) fn migrate(conn: &mut Connection, tmp: &Path) -> Result<u32, RestoreError> {
    MIGRATIONS.to_latest(conn).map_err(RestoreError::Migrate)?;
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(RestoreError::sqlite(tmp))
}

/// Reads the database a restore is about to replace. A missing or empty
/// file is [`Replaced::Absent`]; an SQLite file SQLite cannot read is
/// [`Replaced::Unreadable`] (a damaged database is what a restore is for);
/// anything else that is not a vault-server database is refused, so a
/// wrong `--db` never destroys another file. Opening it checkpoints its WAL.
pub(super) fn read_replaced(db: &Path) -> Result<Current, RestoreError> {
    let not_server = || RestoreError::TargetNotServer {
        path: db.to_owned(),
    };
    match std::fs::metadata(db) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Current::empty(Replaced::Absent));
        }
        Err(e) => return Err(RestoreError::io("read", db)(e)),
        Ok(m) if !m.is_file() => return Err(not_server()),
        Ok(m) if m.len() == 0 => return Ok(Current::empty(Replaced::Absent)),
        Ok(_) => {}
    }
    if !has_sqlite_header(db)? {
        return Err(not_server());
    }
    let unreadable = |e: rusqlite::Error| Current::empty(Replaced::Unreadable(e.to_string()));
    let conn = match Connection::open_with_flags(db, flags()) {
        Ok(c) => c,
        Err(e) => return Ok(unreadable(e)),
    };
    if let Err(e) = conn.busy_timeout(BUSY_TIMEOUT) {
        return Ok(unreadable(e));
    }
    match conn.pragma_query_value(None, "application_id", |r| r.get::<_, i32>(0)) {
        Ok(APPLICATION_ID) => {}
        Ok(_) => return Err(not_server()),
        Err(e) => return Ok(unreadable(e)),
    }
    let read = || -> rusqlite::Result<Current> {
        let mut zones = Vec::new();
        if table_exists(&conn, "zones")? {
            let mut stmt = conn.prepare("SELECT circle_id, name, seq FROM zones")?;
            let rows = stmt.query_map([], |r| {
                Ok(KnownZone {
                    circle_id: r.get(0)?,
                    name: r.get(1)?,
                    seq: r.get(2)?,
                })
            })?;
            for z in rows {
                zones.push(z?);
            }
        }
        Ok(Current {
            replaced: Replaced::Read,
            max_epoch: max_epoch(&conn)?,
            zones,
        })
    };
    Ok(read().unwrap_or_else(unreadable))
}

/// The highest epoch a database names: of its zones, of its restores, and
/// of the change tokens in the manifests devices signed. 0 if none.
pub(super) fn max_epoch(c: &Connection) -> rusqlite::Result<u32> {
    let mut max = 0;
    for table in ["zones", "restores", "zone_manifests"] {
        if table_exists(c, table)? {
            let sql = format!("SELECT coalesce(max(epoch), 0) FROM {table}");
            max = max.max(c.query_row(&sql, [], |r| r.get::<_, u32>(0))?);
        }
    }
    Ok(max)
}

fn table_exists(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}
