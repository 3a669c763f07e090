//! The new epoch of a restored database, and the rewrite that moves every
//! zone to it (in one transaction on the copy, before it is installed).
//!
//! **The rule.** Every zone moves to one epoch
//! `E = max(now, K + 1)`, where `now` is the current Unix time in seconds
//! and `K` the highest epoch the backup or the replaced database names
//! (zones, past restores, and the tokens in devices' signed manifests).
//!
//! **Why it is safe.** A device that synced after the backup was taken
//! holds a token whose epoch the backup may not know. It must see a
//! different epoch, or it would take the restored zone for the one it
//! knew and read on from its own sequence, skipping records. Epochs are
//! only ever 1 ([`crate::storage::zone::FIRST_EPOCH`]) or set by a restore.
//! If the replaced database can be read, `K` covers every epoch it handed
//! out, so `E > K` is new. If it is lost, an epoch handed out after the
//! backup came from an earlier restore, whose own `E` was at most its
//! `now`, or its `K + 1` -- so `E` passes it as long as the clock was
//! not set back and restores are more than a second apart. The Unix-time
//! term is what carries that case: it is far above 1, and grows.
//!
//! **Sequences.** Records keep their seqs, so `changes` from seq 0 in the
//! new epoch returns every record of the backup, and a device's change tag
//! for a record that did not change since the backup still names it (its
//! push saves without a conflict round). Each zone's counter goes on from
//! the higher of the backup's and the replaced database's, so a seq the
//! lost timeline handed out (and a device may hold as a tag) is not handed
//! out again for another version. `gc_seq` is kept: no device holds a
//! token of the new epoch yet.

use super::check::Current;
use super::{RestoreError, RestoreReport, RestoredZone};
use crate::storage::zone::restored_epoch;
use rusqlite::{Connection, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::Path;
use uuid::Uuid;

/// The epoch past `known` and at least `now` ([`restored_epoch`]).
pub(super) fn next_epoch(now: u64, known: u32) -> Result<u32, RestoreError> {
    restored_epoch(now, known).ok_or(RestoreError::NoEpochLeft(known))
}

/// Moves every zone of the (migrated) copy to the new epoch, recreates
/// the zones only `current` knows (of circles the backup has), records
/// the restore, and drops session tokens and pairing invites. `db`,
/// `schema` and `replaced` of the report are left for the caller.
pub(super) fn move_zones(
    conn: &mut Connection,
    tmp: &Path,
    current: &Current,
    now: u64,
    backup_schema: u32,
) -> Result<RestoreReport, RestoreError> {
    let sql = RestoreError::sqlite(tmp);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&sql)?;
    let known = super::check::max_epoch(&tx)
        .map_err(&sql)?
        .max(current.max_epoch);
    let epoch = next_epoch(now, known)?;
    let old: HashMap<(Vec<u8>, String), u32> = {
        let mut stmt = tx
            .prepare("SELECT circle_id, name, epoch FROM zones")
            .map_err(&sql)?;
        let rows = stmt
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(&sql)?
    };
    tx.execute("UPDATE zones SET epoch = ?1", [epoch])
        .map_err(&sql)?;
    {
        let mut carry = tx
            .prepare(
                "INSERT INTO zones (circle_id, name, epoch, seq)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM circles WHERE circle_id = ?1)
                 ON CONFLICT (circle_id, name) DO UPDATE SET seq = max(seq, excluded.seq)",
            )
            .map_err(&sql)?;
        for z in &current.zones {
            carry
                .execute(params![z.circle_id, z.name, epoch, z.seq])
                .map_err(&sql)?;
        }
    }
    let restored = i64::try_from(now).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO restores (epoch, restored, backup_schema) VALUES (?1, ?2, ?3)",
        params![epoch, restored, backup_schema],
    )
    .map_err(&sql)?;
    let tokens_dropped = tx.execute("DELETE FROM tokens", []).map_err(&sql)? as u64;
    tx.execute("DELETE FROM relay_messages", []).map_err(&sql)?;
    let invites_dropped = tx.execute("DELETE FROM invites", []).map_err(&sql)? as u64;
    let zones = {
        let mut stmt = tx
            .prepare(
                "SELECT circle_id, name, seq,
                        (SELECT count(*) FROM records r WHERE r.zone_id = z.zone_id)
                 FROM zones z ORDER BY circle_id, name",
            )
            .map_err(&sql)?;
        let rows = stmt
            .query_map([], |r| {
                let circle: Vec<u8> = r.get(0)?;
                let name: String = r.get(1)?;
                let old_epoch = old.get(&(circle.clone(), name.clone())).copied();
                Ok(RestoredZone {
                    circle_id: Uuid::from_slice(&circle).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            0,
                            rusqlite::types::Type::Blob,
                            Box::new(e),
                        )
                    })?,
                    zone: name,
                    old_epoch,
                    seq: r.get(2)?,
                    records: r.get(3)?,
                })
            })
            .map_err(&sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&sql)?
    };
    tx.commit().map_err(&sql)?;
    Ok(RestoreReport {
        db: tmp.to_owned(),
        backup_schema,
        schema: backup_schema,
        epoch,
        replaced: current.replaced.clone(),
        zones,
        tokens_dropped,
        invites_dropped,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_new_epoch_passes_every_known_one_and_the_clock() {
        assert_eq!(next_epoch(1_700_000_000, 1).unwrap(), 1_700_000_000);
        assert_eq!(
            next_epoch(1_700_000_000, 1_700_000_000).unwrap(),
            1_700_000_001
        );
        assert_eq!(next_epoch(5, 9).unwrap(), 10);
        assert_eq!(next_epoch(u64::MAX, 1).unwrap(), u32::MAX);
        assert!(matches!(
            next_epoch(0, u32::MAX),
            Err(RestoreError::NoEpochLeft(u32::MAX))
        ));
    }
}
