//! Removal cut lists beside the stored log: which lists this device still
//! needs, storing one after checking it against its removal entry, the
//! row lookup the sync engine judges a removed peer's records by, and the
//! removal entry itself (remove and new epoch in one).

use super::PendingEpoch;
use crate::circle::cut::{CutList, CutRow, ZoneCut};
use crate::circle::{EntryBody, EpochCommit, PeerId, SignedEntry};
use crate::crypto::EpochKey;
use crate::error::CircleError;
use crate::vault::UnlockedVault;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

/// The cut row of `uuid` in the list of removal `seq` and `zone`.
pub(crate) fn cut_row(
    conn: &Connection,
    seq: u64,
    zone: &str,
    uuid: Uuid,
) -> rusqlite::Result<Option<CutRow>> {
    conn.prepare_cached(
        "SELECT gencount, content FROM circle_cut_rows
         WHERE removal_seq = ?1 AND zone = ?2 AND uuid = ?3",
    )?
    .query_row(params![seq, zone, uuid.as_bytes()], |r| {
        Ok(CutRow {
            uuid,
            gencount: r.get(0)?,
            content: r.get(1)?,
        })
    })
    .optional()
}

/// Every row of the stored list of removal `seq` and `zone`.
pub(crate) fn cut_rows(conn: &Connection, seq: u64, zone: &str) -> rusqlite::Result<Vec<CutRow>> {
    conn.prepare_cached(
        "SELECT uuid, gencount, content FROM circle_cut_rows
         WHERE removal_seq = ?1 AND zone = ?2 ORDER BY uuid",
    )?
    .query_map(params![seq, zone], |r| {
        Ok(CutRow {
            uuid: Uuid::from_bytes(r.get(0)?),
            gencount: r.get(1)?,
            content: r.get(2)?,
        })
    })?
    .collect()
}

/// Whether the list of removal `seq` and `zone` is stored.
pub(crate) fn has_cut_list(conn: &Connection, seq: u64, zone: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM circle_cuts WHERE removal_seq = ?1 AND zone = ?2")?
        .query_row(params![seq, zone], |_| Ok(()))
        .optional()?
        .is_some())
}

fn insert_list(conn: &Connection, seq: u64, cut: &ZoneCut, list: &CutList) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO circle_cuts (removal_seq, zone, list_hash) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![seq, cut.zone, cut.list_hash])?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO circle_cut_rows (removal_seq, zone, uuid, gencount, content)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for row in &list.rows {
        stmt.execute(params![
            seq,
            cut.zone,
            row.uuid.as_bytes(),
            row.gencount,
            row.content
        ])?;
    }
    Ok(())
}

/// The removal entries of the stored log with their cuts.
fn removals(conn: &Connection) -> Result<Vec<(u64, Vec<ZoneCut>)>, CircleError> {
    let mut out = Vec::new();
    for (entry, signature) in super::db::read_log(conn)? {
        let e = SignedEntry::decode(&entry, &signature)
            .map_err(|_| CircleError::Corrupt("a stored log entry does not decode"))?;
        if let EntryBody::Removal { cuts, .. } = &e.entry().body {
            out.push((e.entry().seq, cuts.clone()));
        }
    }
    Ok(out)
}

impl UnlockedVault {
    /// The (removal seq, zone) cut lists the stored log names and this
    /// vault does not hold yet: fetch each from the server and give it to
    /// [`UnlockedVault::store_cut_list`]. Until then the removed peer's
    /// records wait in quarantine.
    pub fn missing_cut_lists(&self) -> Result<Vec<(u64, String)>, CircleError> {
        let mut missing = Vec::new();
        for (seq, cuts) in removals(&self.conn)? {
            for cut in cuts {
                if !has_cut_list(&self.conn, seq, &cut.zone)? {
                    missing.push((seq, cut.zone));
                }
            }
        }
        Ok(missing)
    }

    /// Stores the cut list of the removal at `seq` after checking it is the
    /// one the (verified, stored) entry names: its zone, row count and hash.
    pub fn store_cut_list(&mut self, seq: u64, bytes: &[u8]) -> Result<(), CircleError> {
        let list = CutList::decode(bytes)?;
        let cut = removals(&self.conn)?
            .into_iter()
            .find(|(s, _)| *s == seq)
            .ok_or(CircleError::NotARemoval(seq))?
            .1
            .into_iter()
            .find(|c| c.zone == list.zone)
            .ok_or(crate::circle::CutError::Mismatch)?;
        if !cut.names(bytes, &list) {
            return Err(crate::circle::CutError::Mismatch.into());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_list(&tx, seq, &cut, &list)?;
        tx.commit()?;
        Ok(())
    }

    /// A removal entry: `peer` leaves at `cuts`, and a fresh vault key
    /// becomes the new epoch in the same entry (kept wrapped in the vault
    /// until the entry is in the log; seal it to the remaining members with
    /// [`ShareEpochs::Pending`](super::ShareEpochs) before appending).
    pub(crate) fn prepare_removal_entry(
        &mut self,
        peer: &PeerId,
        cuts: Vec<ZoneCut>,
    ) -> Result<(SignedEntry, PendingEpoch), CircleError> {
        let (_, state) = self.load_circle()?;
        if !state.is_member(peer) {
            return Err(CircleError::UnknownPeer(*peer));
        }
        let number = state.current_epoch().epoch + 1;
        let key = EpochKey::generate(number, &mut self.rng);
        let body = EntryBody::Removal {
            peer: *peer,
            epoch: EpochCommit::of(&key),
            cuts,
        };
        let signed = self.prepare(&state, body)?;
        self.keep_pending(&state, key, signed)
    }
}
