//! What `vault-server admin` reads and writes, beside a running server:
//! registration tokens and the append-only admin log. [`AdminDb`] opens
//! the database without the server's lock when a server holds it (SQLite
//! in WAL mode lets both write), and with the lock, creating and migrating
//! the file, when none does (an admin may issue the first token before the
//! first start). The server consumes tokens through [`consume`], inside
//! the transaction that creates the circle. Also circles (list, disable,
//! delete, quotas) and `admin check`.
//! What the commands decide beside the SQL (errors, the log's check, the
//! report) is [`crate::storage::admin`]'s, shared with PostgreSQL.

use super::{
    BUSY_TIMEOUT, DbLock, LockError, check_application_id, db_err, flags, open_migrated,
    schema_version,
};
use crate::storage::admin::{
    AdminError, AdminStore, CheckReport, LogRow, QuotaChange, check_detail, verify_log,
};
use crate::storage::registration::{AdminLogRow, CircleInfo, TokenInfo, TokenRefusal, token_id};
use crate::storage::{Hash32, QuotaOverrides, StorageError};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::Path;
use uuid::Uuid;

/// The database, opened for the admin command.
pub struct AdminDb {
    conn: Connection,
    /// Held when no server was running: nothing starts on the file meanwhile.
    _lock: Option<DbLock>,
}

impl AdminDb {
    /// Opens the database at `path`: beside the server that holds it, or
    /// (no server running) created and migrated if needed, under its lock.
    pub fn open(path: &Path) -> Result<AdminDb, StorageError> {
        let lock = match DbLock::acquire(path) {
            Ok(lock) => Some(lock),
            Err(LockError::InUse { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let conn = if lock.is_some() {
            open_migrated(path)?
        } else {
            let conn = Connection::open_with_flags(path, flags()).map_err(db_err)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
            check_application_id(&conn)?;
            let version: u32 = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(db_err)?;
            if version != schema_version() {
                return Err(StorageError::Backend(
                    format!(
                        "the running server's database has schema {version} and this \
                         vault-server expects {}: run the admin command of the same version",
                        schema_version()
                    )
                    .into(),
                ));
            }
            conn
        };
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        Ok(AdminDb { conn, _lock: lock })
    }

    /// Runs `f` in one write transaction that also logs `action` on
    /// `detail`.
    fn act<T>(
        &mut self,
        now: i64,
        action: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, String), AdminError>,
    ) -> Result<T, AdminError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let (out, detail) = f(&tx)?;
        tx.execute(
            "INSERT INTO admin_log (at, action, detail) VALUES (?1, ?2, ?3)",
            params![now, action, detail],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    fn circle_rows(&self, only: Option<Uuid>) -> Result<Vec<CircleInfo>, StorageError> {
        // Records and bytes are the counter columns the quota check reads.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.circle_id, c.created, c.last_active, c.disabled,
                     (SELECT count(*) FROM members m
                      WHERE m.circle_id = c.circle_id AND m.removed = 0),
                     (SELECT COALESCE(sum(z.live), 0) FROM zones z
                      WHERE z.circle_id = c.circle_id),
                     (SELECT COALESCE(sum(z.bytes), 0) FROM zones z
                      WHERE z.circle_id = c.circle_id),
                     c.max_devices, c.max_records, c.max_bytes
                 FROM circles c
                 WHERE ?1 IS NULL OR c.circle_id = ?1
                 ORDER BY c.created, c.circle_id",
            )
            .map_err(db_err)?;
        let only = only.map(|u| u.as_bytes().to_vec());
        let rows = stmt
            .query_map([only], |r| {
                let id: Vec<u8> = r.get(0)?;
                let info = CircleInfo {
                    circle_id: Uuid::nil(),
                    created: r.get(1)?,
                    last_active: r.get(2)?,
                    disabled: r.get(3)?,
                    members: r.get(4)?,
                    records: r.get(5)?,
                    bytes: r.get(6)?,
                    quotas: QuotaOverrides {
                        max_devices: r.get(7)?,
                        max_records: r.get(8)?,
                        max_bytes: r.get(9)?,
                    },
                };
                Ok((id, info))
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, info)| {
                Ok(CircleInfo {
                    circle_id: Uuid::from_slice(&id)
                        .map_err(|e| StorageError::Backend(Box::new(e)))?,
                    ..info
                })
            })
            .collect()
    }

    /// One circle's log: `Ok(entries)` or what is wrong with it.
    fn check_log(&self, circle_id: Uuid) -> Result<Result<u64, String>, StorageError> {
        let rows: Vec<LogRow> = self
            .conn
            .prepare(
                "SELECT seq, hash, entry, signature FROM circle_entries
                 WHERE circle_id = ?1 ORDER BY seq",
            )
            .and_then(|mut s| {
                s.query_map([circle_id.as_bytes()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect()
            })
            .map_err(db_err)?;
        let head: (i64, Vec<u8>) = self
            .conn
            .query_row(
                "SELECT head_seq, head_hash FROM circles WHERE circle_id = ?1",
                [circle_id.as_bytes()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db_err)?;
        Ok(verify_log(rows, head))
    }
}

impl AdminStore for AdminDb {
    /// Stores a new token by its hash; returns its id.
    fn create_token(
        &mut self,
        hash: &Hash32,
        note: Option<&str>,
        now: i64,
        expires: Option<i64>,
    ) -> Result<String, AdminError> {
        let id = token_id(hash);
        self.act(now, "token create", |tx| {
            tx.execute(
                "INSERT INTO registration_tokens (token_hash, id, note, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&hash[..], id, note, now, expires],
            )
            .map_err(db_err)?;
            let until = expires.map_or("never".to_owned(), |e| e.to_string());
            Ok((id.clone(), format!("id={id} expires={until}")))
        })
    }

    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenInfo>, StorageError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, note, created, expires, used, used_by, revoked
                 FROM registration_tokens ORDER BY created, id",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                let used: Option<i64> = r.get(4)?;
                let used_by: Option<Vec<u8>> = r.get(5)?;
                let by = used_by.and_then(|b| Uuid::from_slice(&b).ok());
                Ok(TokenInfo {
                    id: r.get(0)?,
                    note: r.get(1)?,
                    created: r.get(2)?,
                    expires: r.get(3)?,
                    used: used.zip(by),
                    revoked: r.get(6)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    /// Revokes an unused token.
    fn revoke_token(&mut self, id: &str, now: i64) -> Result<(), AdminError> {
        self.act(now, "token revoke", |tx| {
            let state: Option<(Option<i64>, Option<i64>)> = tx
                .query_row(
                    "SELECT used, revoked FROM registration_tokens WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            match state {
                None => Err(AdminError::NoSuchToken(id.to_owned())),
                Some((None, None)) => {
                    tx.execute(
                        "UPDATE registration_tokens SET revoked = ?2 WHERE id = ?1",
                        params![id, now],
                    )
                    .map_err(db_err)?;
                    Ok(((), format!("id={id}")))
                }
                Some(_) => Err(AdminError::TokenSpent(id.to_owned())),
            }
        })
    }

    /// Every circle, oldest first, with its counts.
    fn circles(&self) -> Result<Vec<CircleInfo>, StorageError> {
        self.circle_rows(None)
    }

    /// One circle with its counts.
    fn circle(&self, circle_id: Uuid) -> Result<CircleInfo, AdminError> {
        self.circle_rows(Some(circle_id))?
            .pop()
            .ok_or(AdminError::NoSuchCircle(circle_id))
    }

    /// Sets a circle's own limits: each `Some` replaces that limit (`Some(None)`
    /// returns it to the server's `[quotas]`), each `None` leaves it. A
    /// running server applies them from its next push or append.
    fn set_quotas(
        &mut self,
        circle_id: Uuid,
        change: &QuotaChange,
        now: i64,
    ) -> Result<(), AdminError> {
        self.act(now, "circle quota", |tx| {
            if !super::circles::exists(tx, circle_id)? {
                return Err(AdminError::NoSuchCircle(circle_id));
            }
            let mut detail = format!("circle={circle_id}");
            for (column, value) in [
                ("max_devices", change.max_devices),
                ("max_records", change.max_records),
                ("max_bytes", change.max_bytes),
            ] {
                let Some(value) = value else { continue };
                let sql = format!("UPDATE circles SET {column} = ?2 WHERE circle_id = ?1");
                tx.execute(&sql, params![circle_id.as_bytes(), value])
                    .map_err(db_err)?;
                let shown = value.map_or("default".to_owned(), |v| v.to_string());
                detail.push_str(&format!(" {column}={shown}"));
            }
            Ok(((), detail))
        })
    }

    /// Disables (its devices get 403 `circle_disabled`, a running server
    /// closes their sockets within a second) or enables a circle.
    fn set_disabled(
        &mut self,
        circle_id: Uuid,
        disabled: bool,
        now: i64,
    ) -> Result<(), AdminError> {
        let action = if disabled {
            "circle disable"
        } else {
            "circle enable"
        };
        self.act(now, action, |tx| {
            let changed = tx
                .execute(
                    "UPDATE circles SET disabled = ?2 WHERE circle_id = ?1",
                    params![circle_id.as_bytes(), disabled.then_some(now)],
                )
                .map_err(db_err)?;
            if changed == 0 {
                return Err(AdminError::NoSuchCircle(circle_id));
            }
            Ok(((), format!("circle={circle_id}")))
        })
    }

    /// Deletes a disabled circle and every row of it: log, members,
    /// tokens, shares, invites and their relay messages, zones with their
    /// records, buckets and manifests, and cut lists. Registration tokens
    /// keep the id they registered (the record of who registered what).
    /// Returns the rows deleted.
    fn delete_circle(&mut self, circle_id: Uuid, now: i64) -> Result<usize, AdminError> {
        self.act(now, "circle delete", |tx| {
            let disabled: Option<Option<i64>> = tx
                .query_row(
                    "SELECT disabled FROM circles WHERE circle_id = ?1",
                    [circle_id.as_bytes()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            match disabled {
                None => return Err(AdminError::NoSuchCircle(circle_id)),
                Some(None) => return Err(AdminError::NotDisabled(circle_id)),
                Some(Some(_)) => {}
            }
            let zones = "(SELECT zone_id FROM zones WHERE circle_id = ?1)";
            let mut deleted = 0;
            for sql in [
                format!("DELETE FROM records WHERE zone_id IN {zones}"),
                format!("DELETE FROM zone_buckets WHERE zone_id IN {zones}"),
                format!("DELETE FROM zone_manifests WHERE zone_id IN {zones}"),
                "DELETE FROM zones WHERE circle_id = ?1".into(),
                "DELETE FROM circle_cuts WHERE circle_id = ?1".into(),
                // Relay messages go with their invites (ON DELETE CASCADE).
                "DELETE FROM invites WHERE circle_id = ?1".into(),
                "DELETE FROM shares WHERE circle_id = ?1".into(),
                "DELETE FROM tokens WHERE circle_id = ?1".into(),
                "DELETE FROM members WHERE circle_id = ?1".into(),
                "DELETE FROM circle_entries WHERE circle_id = ?1".into(),
                "DELETE FROM circles WHERE circle_id = ?1".into(),
            ] {
                deleted += tx.execute(&sql, [circle_id.as_bytes()]).map_err(db_err)?;
            }
            Ok((deleted, format!("circle={circle_id} rows={deleted}")))
        })
    }

    /// Checks the database file (`PRAGMA integrity_check`) and every
    /// circle's log, without keys: each entry decodes, its stored hash is
    /// its own, the chain verifies from its genesis (signatures, links,
    /// membership) and the circle's head is its last entry. Logged.
    fn check(&mut self, now: i64) -> Result<CheckReport, AdminError> {
        let integrity: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("PRAGMA integrity_check")
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            rows.into_iter().filter(|r| r != "ok").collect()
        };
        let mut circles = Vec::new();
        for info in self.circles()? {
            circles.push((info.circle_id, self.check_log(info.circle_id)?));
        }
        let report = CheckReport { integrity, circles };
        let detail = check_detail(&report);
        self.act(now, "check", |_| Ok(((), detail)))?;
        Ok(report)
    }

    /// The admin log, oldest first.
    fn log(&self) -> Result<Vec<AdminLogRow>, StorageError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, at, action, detail FROM admin_log ORDER BY id")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(AdminLogRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    action: r.get(2)?,
                    detail: r.get(3)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }
}

/// Consumes the token with hash `hash` for `circle_id`, in the caller's
/// transaction (the one that creates the circle).
pub(super) fn consume(
    tx: &Transaction<'_>,
    hash: &Hash32,
    circle_id: Uuid,
    now: i64,
) -> Result<Result<(), TokenRefusal>, StorageError> {
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = tx
        .prepare_cached(
            "SELECT expires, used, revoked FROM registration_tokens WHERE token_hash = ?1",
        )
        .and_then(|mut s| {
            s.query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(db_err)?;
    let refusal = match row {
        None => Some(TokenRefusal::Unknown),
        Some((expires, used, revoked)) => TokenRefusal::of(expires, used, revoked, now),
    };
    if let Some(r) = refusal {
        return Ok(Err(r));
    }
    tx.prepare_cached(
        "UPDATE registration_tokens SET used = ?2, used_by = ?3 WHERE token_hash = ?1",
    )
    .and_then(|mut s| s.execute(params![&hash[..], now, circle_id.as_bytes()]))
    .map_err(db_err)?;
    Ok(Ok(()))
}
