//! Removing a peer at a cut: the zone state this device reached (its token
//! and manifest root) and the removed peer's records at it, read from the
//! mirror, made into the removal entry and the cut list posted with it.

use super::db as sync_db;
use crate::circle::store::load as load_circle;
use crate::circle::{CutList, CutRow, PeerId, PendingEpoch, SignedEntry};
use crate::sync::{SyncError, Token, Transport};
use crate::vault::UnlockedVault;
use rusqlite::{Connection, params};
use uuid::Uuid;

/// A removal ready to append: seal `pending` to every remaining member
/// ([`ShareEpochs::Pending`](crate::ShareEpochs)) and post the shares,
/// then append `entry` with `lists` (one cut list per zone, in the
/// entry's order). The server appends it only while each zone is still at
/// its cut; otherwise sync and prepare again.
#[derive(Debug)]
pub struct PreparedRemoval {
    /// The removal entry (remove and new epoch in one).
    pub entry: SignedEntry,
    /// The new epoch's key, kept in the vault until the entry is in.
    pub pending: PendingEpoch,
    /// Each zone's cut list, canonical bytes.
    pub lists: Vec<(String, Vec<u8>)>,
}

impl UnlockedVault {
    /// Prepares the removal of `peer` at the zone state this device's last
    /// sync reached: its token and manifest root, and every current server
    /// version `peer` wrote there (uuid, gencount, content; zeros for a
    /// tombstone). Sync right before, so that the cut is the server's head.
    /// Server versions pulled before this device recorded writers are read
    /// back through `transport` (their signatures checked) first.
    pub fn prepare_removal(
        &mut self,
        peer: &PeerId,
        transport: &mut dyn Transport,
    ) -> Result<PreparedRemoval, SyncError> {
        let zone = self.zone.clone();
        self.fill_writers(transport)?;
        let mut state = sync_db::state(&self.conn, &zone)?;
        let root = {
            let tx = self.conn.unchecked_transaction()?;
            let m = sync_db::own_manifest(&tx, &zone, &mut state)?;
            tx.commit()?;
            m.root()
        };
        let rows = written_by(&self.conn, peer)?;
        let list = CutList::new(&zone, rows).map_err(crate::error::CircleError::from)?;
        let cut = list.cut(state.token.epoch, state.token.seq, root);
        let (entry, pending) = self.prepare_removal_entry(peer, vec![cut])?;
        Ok(PreparedRemoval {
            entry,
            pending,
            lists: vec![(zone, list.to_bytes())],
        })
    }

    /// Prepares the removal of `peer` whose add its joiner never confirmed
    /// (it never joined): nothing of it is kept (an empty cut list), at
    /// the zone's head `token` as the server announced it, so no sync
    /// round is needed first.
    pub fn prepare_unjoined_removal(
        &mut self,
        peer: &PeerId,
        token: Token,
    ) -> Result<PreparedRemoval, SyncError> {
        let zone = self.zone.clone();
        let list = CutList::new(&zone, Vec::new()).map_err(crate::error::CircleError::from)?;
        let cut = list.cut(token.epoch, token.seq, [0; 32]);
        let (entry, pending) = self.prepare_removal_entry(peer, vec![cut])?;
        Ok(PreparedRemoval {
            entry,
            pending,
            lists: vec![(zone, list.to_bytes())],
        })
    }

    /// The zone this vault syncs.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Learns who wrote the server versions mirrored without a writer
    /// (pulled before the mirror recorded writers): reads their buckets
    /// and keeps the writer of each record that is exactly the mirrored
    /// version and whose signature verifies.
    fn fill_writers(&mut self, transport: &mut dyn Transport) -> Result<(), SyncError> {
        let unknown: Vec<(Uuid, u64, Option<[u8; 32]>)> = self
            .conn
            .prepare(
                "SELECT uuid, server_gencount, server_leaf FROM ckmirror
                 WHERE server_writer IS NULL AND change_tag > 0 AND server_gencount IS NOT NULL",
            )?
            .query_map([], |r| {
                Ok((Uuid::from_bytes(r.get(0)?), r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        if unknown.is_empty() {
            return Ok(());
        }
        let mut buckets: Vec<u8> = unknown.iter().map(|(u, _, _)| u.as_bytes()[0]).collect();
        buckets.sort_unstable();
        buckets.dedup();
        let (_, circle) = load_circle(&self.conn, &self.circle)?.ok_or(SyncError::NoCircle)?;
        let records = transport.buckets(&self.zone, &buckets)?;
        let tx = self.conn.unchecked_transaction()?;
        for t in records {
            let r = &t.record;
            let Some((_, gencount, leaf)) = unknown.iter().find(|(u, _, _)| *u == r.uuid()) else {
                continue;
            };
            let content = (!r.tomb()).then(|| r.content_hash());
            let signed = circle.peer(&r.writer()).is_some_and(|m| {
                r.verify_signature(circle.circle_id(), &self.zone, &m.keys)
                    .is_ok()
            });
            if *gencount == r.gencount() && *leaf == content && signed {
                tx.execute(
                    "UPDATE ckmirror SET server_writer = ?2 WHERE uuid = ?1",
                    params![r.uuid().as_bytes(), r.writer().as_bytes()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// The server versions `peer` wrote, as cut rows.
fn written_by(conn: &Connection, peer: &PeerId) -> rusqlite::Result<Vec<CutRow>> {
    conn.prepare(
        "SELECT uuid, server_gencount, server_leaf FROM ckmirror
         WHERE server_writer = ?1 AND change_tag > 0 AND server_gencount IS NOT NULL",
    )?
    .query_map([peer.as_bytes()], |r| {
        let leaf: Option<[u8; 32]> = r.get(2)?;
        Ok(CutRow {
            uuid: Uuid::from_bytes(r.get(0)?),
            gencount: r.get(1)?,
            content: leaf.unwrap_or([0; 32]),
        })
    })?
    .collect()
}
