//! The admin commands on PostgreSQL ([`AdminStore`]): each change and its
//! admin-log line in one transaction, the check of every circle's log by
//! the shared [`verify_log`]. PostgreSQL checks its own pages (data
//! checksums, where the cluster has them; `pg_amcheck` goes deeper), so
//! the check's integrity list holds what this schema promises instead:
//! each zone's counters (live records, bytes, seq) agree with its
//! records.

use super::PgStorage;
use super::tx::{PgTx, uuid_of};
use crate::storage::admin::{
    AdminError, AdminStore, CheckReport, LogRow, QuotaChange, check_detail, verify_log,
};
use crate::storage::registration::{AdminLogRow, CircleInfo, TokenInfo, token_id};
use crate::storage::{Hash32, QuotaOverrides, StorageError};
use uuid::Uuid;

fn limit(v: Option<i64>) -> Result<Option<u64>, StorageError> {
    v.map(|v| u64::try_from(v).map_err(|_| super::tx::range_err("quota")))
        .transpose()
}

fn count(v: i64) -> Result<u64, StorageError> {
    super::tx::unsigned(v, "count")
}

impl PgStorage {
    /// Runs `f` in one write transaction that also logs `action`.
    fn act<T>(
        &self,
        now: i64,
        action: &str,
        f: impl FnOnce(&PgTx<'_, '_>) -> Result<(T, String), AdminError>,
    ) -> Result<T, AdminError> {
        self.write(|tx| {
            let (out, detail) = f(tx)?;
            tx.execute(
                "INSERT INTO admin_log (at, action, detail) VALUES ($1, $2, $3)",
                &[&now, &action, &detail],
            )?;
            Ok(out)
        })
    }

    fn circle_rows(&self, only: Option<Uuid>) -> Result<Vec<CircleInfo>, StorageError> {
        let only = only.map(|u| u.as_bytes().to_vec());
        self.single(|tx| {
            tx.query(
                "SELECT c.circle_id, c.created, c.last_active, c.disabled,
                     (SELECT count(*) FROM members m
                      WHERE m.circle_id = c.circle_id AND NOT m.removed),
                     (SELECT COALESCE(sum(z.live), 0)::bigint FROM zones z
                      WHERE z.circle_id = c.circle_id),
                     (SELECT COALESCE(sum(z.bytes), 0)::bigint FROM zones z
                      WHERE z.circle_id = c.circle_id),
                     c.max_devices, c.max_records, c.max_bytes
                 FROM circles c
                 WHERE $1::bytea IS NULL OR c.circle_id = $1
                 ORDER BY c.created, c.circle_id",
                &[&only],
            )?
            .iter()
            .map(|r| {
                Ok(CircleInfo {
                    circle_id: uuid_of(r.get(0))?,
                    created: r.get(1),
                    last_active: r.get(2),
                    disabled: r.get(3),
                    members: count(r.get(4))?,
                    records: count(r.get(5))?,
                    bytes: count(r.get(6))?,
                    quotas: QuotaOverrides {
                        max_devices: limit(r.get(7))?,
                        max_records: limit(r.get(8))?,
                        max_bytes: limit(r.get(9))?,
                    },
                })
            })
            .collect()
        })
    }

    fn check_log(&self, circle_id: Uuid) -> Result<Result<u64, String>, StorageError> {
        self.read(|tx| {
            let id = &circle_id.as_bytes()[..];
            let rows: Vec<LogRow> = tx
                .query(
                    "SELECT seq, hash, entry, signature FROM circle_entries
                     WHERE circle_id = $1 ORDER BY seq",
                    &[&id],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect();
            let head = tx.query(
                "SELECT head_seq, head_hash FROM circles WHERE circle_id = $1",
                &[&id],
            )?;
            let head = head.first().ok_or(StorageError::NotFound)?;
            Ok(verify_log(rows, (head.get(0), head.get(1))))
        })
    }
}

impl AdminStore for PgStorage {
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
                 VALUES ($1, $2, $3, $4, $5)",
                &[&&hash[..], &id, &note, &now, &expires],
            )?;
            let until = expires.map_or("never".to_owned(), |e| e.to_string());
            Ok((id.clone(), format!("id={id} expires={until}")))
        })
    }

    fn tokens(&self) -> Result<Vec<TokenInfo>, StorageError> {
        self.single(|tx| {
            tx.query(
                "SELECT id, note, created, expires, used, used_by, revoked
                 FROM registration_tokens ORDER BY created, id",
                &[],
            )?
            .iter()
            .map(|r| {
                let used: Option<i64> = r.get(4);
                let by = r
                    .get::<_, Option<&[u8]>>(5)
                    .and_then(|b| Uuid::from_slice(b).ok());
                Ok(TokenInfo {
                    id: r.get(0),
                    note: r.get(1),
                    created: r.get(2),
                    expires: r.get(3),
                    used: used.zip(by),
                    revoked: r.get(6),
                })
            })
            .collect()
        })
    }

    fn revoke_token(&mut self, id: &str, now: i64) -> Result<(), AdminError> {
        self.act(now, "token revoke", |tx| {
            let rows = tx.query(
                "SELECT used, revoked FROM registration_tokens WHERE id = $1 FOR UPDATE",
                &[&id],
            )?;
            let Some(r) = rows.first() else {
                return Err(AdminError::NoSuchToken(id.to_owned()));
            };
            match (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1)) {
                (None, None) => {
                    tx.execute(
                        "UPDATE registration_tokens SET revoked = $2 WHERE id = $1",
                        &[&id, &now],
                    )?;
                    Ok(((), format!("id={id}")))
                }
                _ => Err(AdminError::TokenSpent(id.to_owned())),
            }
        })
    }

    fn circles(&self) -> Result<Vec<CircleInfo>, StorageError> {
        self.circle_rows(None)
    }

    fn circle(&self, circle_id: Uuid) -> Result<CircleInfo, AdminError> {
        self.circle_rows(Some(circle_id))?
            .pop()
            .ok_or(AdminError::NoSuchCircle(circle_id))
    }

    fn set_quotas(
        &mut self,
        circle_id: Uuid,
        change: &QuotaChange,
        now: i64,
    ) -> Result<(), AdminError> {
        self.act(now, "circle quota", |tx| {
            let id = &circle_id.as_bytes()[..];
            let exists = tx.query(
                "SELECT 1 FROM circles WHERE circle_id = $1 FOR UPDATE",
                &[&id],
            )?;
            if exists.is_empty() {
                return Err(AdminError::NoSuchCircle(circle_id));
            }
            let mut detail = format!("circle={circle_id}");
            for (column, value) in [
                ("max_devices", change.max_devices),
                ("max_records", change.max_records),
                ("max_bytes", change.max_bytes),
            ] {
                let Some(value) = value else { continue };
                let stored = value.map(|v| super::tx::signed(v, "a quota")).transpose()?;
                tx.execute(
                    &format!("UPDATE circles SET {column} = $2 WHERE circle_id = $1"),
                    &[&id, &stored],
                )?;
                let shown = value.map_or("default".to_owned(), |v| v.to_string());
                detail.push_str(&format!(" {column}={shown}"));
            }
            Ok(((), detail))
        })
    }

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
            let changed = tx.execute(
                "UPDATE circles SET disabled = $2 WHERE circle_id = $1",
                &[&&circle_id.as_bytes()[..], &disabled.then_some(now)],
            )?;
            if changed == 0 {
                return Err(AdminError::NoSuchCircle(circle_id));
            }
            Ok(((), format!("circle={circle_id}")))
        })
    }

    fn delete_circle(&mut self, circle_id: Uuid, now: i64) -> Result<usize, AdminError> {
        self.act(now, "circle delete", |tx| {
            let id = &circle_id.as_bytes()[..];
            let rows = tx.query(
                "SELECT disabled FROM circles WHERE circle_id = $1 FOR UPDATE",
                &[&id],
            )?;
            match rows.first().map(|r| r.get::<_, Option<i64>>(0)) {
                None => return Err(AdminError::NoSuchCircle(circle_id)),
                Some(None) => return Err(AdminError::NotDisabled(circle_id)),
                Some(Some(_)) => {}
            }
            let zones = "(SELECT zone_id FROM zones WHERE circle_id = $1)";
            let mut deleted = 0u64;
            for sql in [
                format!("DELETE FROM records WHERE zone_id IN {zones}"),
                format!("DELETE FROM zone_buckets WHERE zone_id IN {zones}"),
                format!("DELETE FROM zone_manifests WHERE zone_id IN {zones}"),
                "DELETE FROM zones WHERE circle_id = $1".into(),
                "DELETE FROM circle_cuts WHERE circle_id = $1".into(),
                // Relay messages go with their invites (ON DELETE CASCADE).
                "DELETE FROM invites WHERE circle_id = $1".into(),
                "DELETE FROM shares WHERE circle_id = $1".into(),
                "DELETE FROM tokens WHERE circle_id = $1".into(),
                "DELETE FROM challenges WHERE circle_id = $1".into(),
                "DELETE FROM members WHERE circle_id = $1".into(),
                "DELETE FROM circle_entries WHERE circle_id = $1".into(),
                "DELETE FROM circles WHERE circle_id = $1".into(),
            ] {
                deleted += tx.execute(&sql, &[&id])?;
            }
            let deleted = usize::try_from(deleted).unwrap_or(usize::MAX);
            Ok((deleted, format!("circle={circle_id} rows={deleted}")))
        })
    }

    fn check(&mut self, now: i64) -> Result<CheckReport, AdminError> {
        let integrity = self.read(|tx| {
            Ok::<_, StorageError>(
                tx.query(
                    "SELECT z.circle_id, z.name, z.live, z.bytes, z.seq,
                            count(r.uuid) FILTER (WHERE NOT r.tomb),
                            COALESCE(sum(octet_length(r.wrappedkey)
                                         + octet_length(r.encitem)), 0)::bigint,
                            COALESCE(max(r.seq), 0)
                     FROM zones z LEFT JOIN records r ON r.zone_id = z.zone_id
                     GROUP BY z.zone_id ORDER BY z.circle_id, z.name",
                    &[],
                )?
                .iter()
                .filter_map(|r| {
                    let (live, bytes, seq): (i64, i64, i64) = (r.get(2), r.get(3), r.get(4));
                    let (counted, summed, top): (i64, i64, i64) = (r.get(5), r.get(6), r.get(7));
                    let zone = format!(
                        "zone {}/{}",
                        Uuid::from_slice(r.get(0)).unwrap_or_default(),
                        r.get::<_, String>(1)
                    );
                    if live != counted {
                        Some(format!(
                            "{zone}: live is {live}, its live records {counted}"
                        ))
                    } else if bytes != summed {
                        Some(format!(
                            "{zone}: bytes is {bytes}, its records hold {summed}"
                        ))
                    } else if top > seq {
                        Some(format!("{zone}: seq is {seq}, a record has {top}"))
                    } else {
                        None
                    }
                })
                .collect::<Vec<String>>(),
            )
        })?;
        let mut circles = Vec::new();
        for info in self.circles()? {
            circles.push((info.circle_id, self.check_log(info.circle_id)?));
        }
        let report = CheckReport { integrity, circles };
        let detail = check_detail(&report);
        self.act(now, "check", |_| Ok(((), detail)))?;
        Ok(report)
    }

    fn log(&self) -> Result<Vec<AdminLogRow>, StorageError> {
        self.single(|tx| {
            Ok(tx
                .query(
                    "SELECT id, at, action, detail FROM admin_log ORDER BY id",
                    &[],
                )?
                .iter()
                .map(|r| AdminLogRow {
                    id: r.get(0),
                    at: r.get(1),
                    action: r.get(2),
                    detail: r.get(3),
                })
                .collect())
        })
    }
}
