//! Circles, their logs and their members in SQLite, and the append rule's
//! primitives (the rule, [`crate::storage::rules::append`], runs inside the
//! caller's write transaction).

use super::{blob32, db_err, seq_of, seq_to_sql};
use crate::storage::quota::{QuotaOverrides, Usage};
use crate::storage::rules::append::{AppendTx, Head};
use crate::storage::{
    LogPage, MemberKeys, MemberRow, NewEntry, PeerBytes, StorageError, StoredEntry,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;
use vault_core::sync::Token;

pub(super) fn create(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    genesis: &NewEntry,
    founder: &PeerBytes,
    keys: &MemberKeys,
    now: i64,
) -> Result<(), StorageError> {
    if exists(tx, circle_id)? {
        return Err(StorageError::Conflict);
    }
    let id = circle_id.as_bytes();
    let seq = seq_to_sql(genesis.seq)?;
    tx.prepare_cached(
        "INSERT INTO circles (circle_id, genesis_hash, head_seq, head_hash, created)
         VALUES (?1, ?2, ?3, ?2, ?4)",
    )
    .and_then(|mut s| s.execute(params![id, genesis.hash, seq, now]))
    .map_err(db_err)?;
    insert_entry(tx, circle_id, genesis)?;
    insert_member(tx, circle_id, founder, keys, seq)?;
    Ok(())
}

pub(super) fn exists(c: &Connection, circle_id: Uuid) -> Result<bool, StorageError> {
    c.prepare_cached("SELECT 1 FROM circles WHERE circle_id = ?1")
        .and_then(|mut s| s.exists([circle_id.as_bytes()]))
        .map_err(db_err)
}

/// The circle's current members, live records and ciphertext bytes.
pub(super) fn usage(c: &Connection, circle_id: Uuid) -> Result<Usage, StorageError> {
    let id = circle_id.as_bytes();
    let devices: u64 = c
        .prepare_cached("SELECT count(*) FROM members WHERE circle_id = ?1 AND removed = 0")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)))
        .map_err(db_err)?;
    let (records, bytes): (u64, u64) = c
        .prepare_cached(
            "SELECT COALESCE(sum(live), 0), COALESCE(sum(bytes), 0) FROM zones
             WHERE circle_id = ?1",
        )
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(db_err)?;
    Ok(Usage {
        devices,
        records,
        bytes,
    })
}

/// The circle's own limits (none set for an unknown circle).
pub(super) fn quota_overrides(
    c: &Connection,
    circle_id: Uuid,
) -> Result<QuotaOverrides, StorageError> {
    c.prepare_cached("SELECT max_devices, max_records, max_bytes FROM circles WHERE circle_id = ?1")
        .and_then(|mut s| {
            s.query_row([circle_id.as_bytes()], |r| {
                Ok(QuotaOverrides {
                    max_devices: r.get(0)?,
                    max_records: r.get(1)?,
                    max_bytes: r.get(2)?,
                })
            })
            .optional()
        })
        .map(Option::unwrap_or_default)
        .map_err(db_err)
}

pub(super) fn member(
    c: &Connection,
    circle_id: Uuid,
    peer: &PeerBytes,
) -> Result<MemberRow, StorageError> {
    let (signing, agreement, removed): (Vec<u8>, Vec<u8>, bool) = c
        .prepare_cached(
            "SELECT signing_key, agreement_key, removed FROM members
             WHERE circle_id = ?1 AND peer_id = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![circle_id.as_bytes(), peer], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
        .map_err(db_err)?;
    Ok(MemberRow {
        keys: MemberKeys {
            signing: blob32(signing)?,
            agreement: blob32(agreement)?,
        },
        removed,
    })
}

fn insert_entry(tx: &Transaction<'_>, circle_id: Uuid, e: &NewEntry) -> Result<(), StorageError> {
    let seq = seq_to_sql(e.seq)?;
    tx.prepare_cached(
        "INSERT INTO circle_entries (circle_id, seq, hash, entry, signature)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            circle_id.as_bytes(),
            seq,
            e.hash,
            e.entry,
            e.signature
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

fn insert_member(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    peer: &PeerBytes,
    keys: &MemberKeys,
    added_seq: i64,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO members (circle_id, peer_id, signing_key, agreement_key, added_seq)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            circle_id.as_bytes(),
            peer,
            keys.signing,
            keys.agreement,
            added_seq
        ])
    })
    .map_err(db_err)?;
    Ok(())
}

/// The append rule's primitives ([`rules::append`]) on a SQLite write
/// transaction (SQLite's writer lock serializes appends and pushes: the
/// head and zone rows need no lock of their own).
pub(super) struct SqliteAppend<'t, 'c>(pub &'t Transaction<'c>);

impl AppendTx for SqliteAppend<'_, '_> {
    fn lock_head(&mut self, circle_id: Uuid) -> Result<Option<Head>, StorageError> {
        let head: Option<(i64, Vec<u8>)> = self
            .0
            .prepare_cached("SELECT head_seq, head_hash FROM circles WHERE circle_id = ?1")
            .and_then(|mut s| {
                s.query_row([circle_id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(db_err)?;
        head.map(|(seq, hash)| {
            Ok(Head {
                seq: seq_of(seq)?,
                hash: blob32(hash)?,
            })
        })
        .transpose()
    }

    fn member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
    ) -> Result<Option<MemberRow>, StorageError> {
        match member(self.0, circle_id, peer) {
            Ok(m) => Ok(Some(m)),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn usage(&mut self, circle_id: Uuid) -> Result<Usage, StorageError> {
        usage(self.0, circle_id)
    }

    fn quota_overrides(&mut self, circle_id: Uuid) -> Result<QuotaOverrides, StorageError> {
        quota_overrides(self.0, circle_id)
    }

    fn add_member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
        keys: &MemberKeys,
        seq: u64,
    ) -> Result<(), StorageError> {
        insert_member(self.0, circle_id, peer, keys, seq_to_sql(seq)?)
    }

    fn zone_position(
        &mut self,
        circle_id: Uuid,
        zone: &str,
    ) -> Result<Option<Token>, StorageError> {
        self.0
            .prepare_cached("SELECT epoch, seq FROM zones WHERE circle_id = ?1 AND name = ?2")
            .and_then(|mut s| {
                s.query_row(params![circle_id.as_bytes(), zone], |r| {
                    Ok(Token {
                        epoch: r.get(0)?,
                        seq: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(db_err)
    }

    fn save_cut(
        &mut self,
        circle_id: Uuid,
        removal_seq: u64,
        zone: &str,
        list: &[u8],
    ) -> Result<(), StorageError> {
        let seq = seq_to_sql(removal_seq)?;
        self.0
            .prepare_cached(
                "INSERT INTO circle_cuts (circle_id, removal_seq, zone, list)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![circle_id.as_bytes(), seq, zone, list]))
            .map_err(db_err)?;
        Ok(())
    }

    fn mark_removed(&mut self, circle_id: Uuid, peer: &PeerBytes) -> Result<bool, StorageError> {
        let n = self
            .0
            .prepare_cached(
                "UPDATE members SET removed = 1
                 WHERE circle_id = ?1 AND peer_id = ?2 AND removed = 0",
            )
            .and_then(|mut s| s.execute(params![circle_id.as_bytes(), peer]))
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn drop_tokens(&mut self, circle_id: Uuid, peer: &PeerBytes) -> Result<(), StorageError> {
        self.0
            .prepare_cached("DELETE FROM tokens WHERE circle_id = ?1 AND peer_id = ?2")
            .and_then(|mut s| s.execute(params![circle_id.as_bytes(), peer]))
            .map_err(db_err)?;
        Ok(())
    }

    fn save_entry(&mut self, circle_id: Uuid, entry: &NewEntry) -> Result<(), StorageError> {
        insert_entry(self.0, circle_id, entry)?;
        let seq = seq_to_sql(entry.seq)?;
        self.0
            .prepare_cached("UPDATE circles SET head_seq = ?2, head_hash = ?3 WHERE circle_id = ?1")
            .and_then(|mut s| s.execute(params![circle_id.as_bytes(), seq, entry.hash]))
            .map_err(db_err)?;
        Ok(())
    }
}

pub(super) fn cut_list(
    c: &Connection,
    circle_id: Uuid,
    seq: u64,
    zone: &str,
) -> Result<Vec<u8>, StorageError> {
    let seq = i64::try_from(seq).map_err(|_| StorageError::NotFound)?;
    c.prepare_cached(
        "SELECT list FROM circle_cuts WHERE circle_id = ?1 AND removal_seq = ?2 AND zone = ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![circle_id.as_bytes(), seq, zone], |r| r.get(0))
            .optional()
    })
    .map_err(db_err)?
    .ok_or(StorageError::NotFound)
}

pub(super) fn log(
    c: &Connection,
    circle_id: Uuid,
    after: Option<u64>,
    limit: u32,
) -> Result<LogPage, StorageError> {
    // One read transaction: the head and the page come from one snapshot.
    let tx = c.unchecked_transaction().map_err(db_err)?;
    let page = log_in_snapshot(&tx, circle_id, after, limit)?;
    tx.commit().map_err(db_err)?;
    Ok(page)
}

fn log_in_snapshot(
    c: &Connection,
    circle_id: Uuid,
    after: Option<u64>,
    limit: u32,
) -> Result<LogPage, StorageError> {
    let id = circle_id.as_bytes();
    let (head_seq, head_hash): (i64, Vec<u8>) = c
        .prepare_cached("SELECT head_seq, head_hash FROM circles WHERE circle_id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(db_err)?;
    // `after` absent: from the genesis (seq 0) on.
    let from = match after {
        None => 0,
        Some(a) => seq_to_sql(a.min(i64::MAX as u64 - 1))? + 1,
    };
    let mut stmt = c
        .prepare_cached(
            "SELECT seq, entry, signature FROM circle_entries
             WHERE circle_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![id, from, i64::from(limit) + 1], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(db_err)?;
    let mut entries = Vec::new();
    for row in rows {
        let (seq, entry, signature) = row.map_err(db_err)?;
        entries.push(StoredEntry {
            seq: seq_of(seq)?,
            entry,
            signature,
        });
    }
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    Ok(LogPage {
        entries,
        head_seq: seq_of(head_seq)?,
        head_hash: blob32(head_hash)?,
        more,
    })
}
