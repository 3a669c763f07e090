//! Restoring a PostgreSQL database: the dump is loaded with PostgreSQL's
//! own tools (`pg_restore`), then [`PgStorage::restart_epochs`] does what
//! `vault-server restore` does to a SQLite copy: moves every zone to a new
//! epoch by the same rule ([`restored_epoch`]: past
//! every epoch the database names, and at least the Unix time), records
//! the restore, and drops session tokens and pairing invites, in one
//! transaction. The replaced database is gone by then (the dump replaced
//! it), so the rule rests on the dump and the clock.

use super::PgStorage;
use super::tx::{range_err, unsigned, uuid_of};
use crate::storage::zone::restored_epoch;
use crate::storage::{Replaced, RestoreError, RestoreReport, RestoredZone, StorageError};
use std::collections::HashMap;

impl PgStorage {
    /// Moves every zone to a new epoch after a dump was loaded into this
    /// database (run with every instance stopped), records the restore,
    /// and drops session tokens and pairing invites. `db` names the
    /// database in the report (a URL with its password masked).
    pub fn restart_epochs(&self, now: u64, db: &str) -> Result<RestoreReport, RestoreError> {
        let version = self.database_version()?;
        self.write(|tx| {
            let known = tx.query(
                "SELECT GREATEST(
                    (SELECT COALESCE(max(epoch), 0) FROM zones),
                    (SELECT COALESCE(max(epoch), 0) FROM restores),
                    (SELECT COALESCE(max(epoch), 0) FROM zone_manifests))",
                &[],
            )?;
            let known = known.first().map_or(0, |r| r.get::<_, i64>(0));
            let known = u32::try_from(known).map_err(|_| range_err("epoch"))?;
            let epoch = restored_epoch(now, known).ok_or(RestoreError::NoEpochLeft(known))?;
            let old: HashMap<(Vec<u8>, String), i64> = tx
                .query("SELECT circle_id, name, epoch FROM zones FOR UPDATE", &[])?
                .iter()
                .map(|r| ((r.get(0), r.get(1)), r.get(2)))
                .collect();
            tx.execute("UPDATE zones SET epoch = $1", &[&i64::from(epoch)])?;
            let restored = i64::try_from(now).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO restores (epoch, restored, backup_schema) VALUES ($1, $2, $3)",
                &[&i64::from(epoch), &restored, &i64::from(version)],
            )?;
            let tokens_dropped = tx.execute("DELETE FROM tokens", &[])?;
            tx.execute("DELETE FROM challenges", &[])?;
            let invites_dropped = tx.execute("DELETE FROM invites", &[])?;
            let zones = tx
                .query(
                    "SELECT z.circle_id, z.name, z.seq,
                            (SELECT count(*) FROM records r WHERE r.zone_id = z.zone_id)
                     FROM zones z ORDER BY z.circle_id, z.name",
                    &[],
                )?
                .iter()
                .map(|r| {
                    let key: (Vec<u8>, String) = (r.get(0), r.get(1));
                    Ok(RestoredZone {
                        circle_id: uuid_of(&key.0)?,
                        old_epoch: old
                            .get(&key)
                            .map(|e| u32::try_from(*e).map_err(|_| range_err("epoch")))
                            .transpose()?,
                        zone: key.1,
                        seq: unsigned(r.get(2), "seq")?,
                        records: unsigned(r.get(3), "count")?,
                    })
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            Ok(RestoreReport {
                db: db.into(),
                backup_schema: version,
                schema: version,
                epoch,
                replaced: Replaced::Absent,
                zones,
                tokens_dropped,
                invites_dropped,
            })
        })
    }
}
