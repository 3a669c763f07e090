//! Pending adds: a peer this device is adding to the circle whose joiner
//! has not yet confirmed it joined. The row is written before the
//! add-peer entry is appended, so that an inviting process killed before
//! the confirmation leaves a trace, and deleted on the confirmation. A
//! front end resolves a row past its deadline at its next connection
//! (vault-client's session): with the evidence it fetched,
//! [`UnlockedVault::judge_pending_add`] says whether the peer joined; if
//! not, the front end removes it again.
//!
//! The evidence that counts is what only the joiner can make: its signed
//! confirmation (read back from the invite's relay while the invite
//! lives, [`check_confirmation`]), or a manifest it signed as a member
//! after a sync that had verified the log up to its own add. The server
//! can withhold both (the peer is then removed: a denial of service it
//! could always cause), never forge them.

use super::db;
use crate::circle::pairing::check_confirmation;
use crate::circle::{EntryHash, PeerId};
use crate::error::CircleError;
use crate::sync::SignedManifest;
use crate::vault::UnlockedVault;
use rusqlite::params;

/// A peer this device appended (or was about to append) to the log,
/// waiting for its joiner's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAdd {
    /// The peer being added.
    pub peer: PeerId,
    /// The invite whose relay carries the pairing (32 hex digits).
    pub invite_id: String,
    /// Unix seconds after which the inviting process no longer waits.
    pub deadline: i64,
}

impl PendingAdd {
    /// Whether its deadline has passed at `now` (Unix seconds).
    pub fn is_due(&self, now: i64) -> bool {
        self.deadline <= now
    }
}

/// What the evidence says of a pending add ([`UnlockedVault::judge_pending_add`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingVerdict {
    /// The joiner joined: forget the pending add.
    Joined,
    /// No evidence that it joined: remove the peer, then forget it.
    NotJoined,
    /// Nothing to do: the peer is no current member this device added
    /// (the append never happened, or it was removed since).
    Moot,
}

impl UnlockedVault {
    /// Records (or moves the deadline of) a pending add of `peer` through
    /// invite `invite_id`, until `deadline` (Unix seconds). Call it
    /// before appending the add-peer entry.
    pub fn record_pending_add(
        &mut self,
        peer: &PeerId,
        invite_id: &str,
        deadline: i64,
    ) -> Result<(), CircleError> {
        self.conn.execute(
            "INSERT INTO pending_adds (peer_id, invite_id, deadline) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer_id) DO UPDATE SET invite_id = ?2, deadline = ?3",
            params![peer.as_bytes(), invite_id, deadline],
        )?;
        Ok(())
    }

    /// Forgets the pending add of `peer` (it confirmed, or was removed).
    pub fn clear_pending_add(&mut self, peer: &PeerId) -> Result<(), CircleError> {
        self.conn.execute(
            "DELETE FROM pending_adds WHERE peer_id = ?1",
            [peer.as_bytes()],
        )?;
        Ok(())
    }

    /// Every pending add, oldest deadline first.
    pub fn pending_adds(&self) -> Result<Vec<PendingAdd>, CircleError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT peer_id, invite_id, deadline FROM pending_adds ORDER BY deadline, peer_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, [u8; 32]>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (peer, invite_id, deadline) = row?;
            out.push(PendingAdd {
                peer: PeerId::from_bytes(peer),
                invite_id,
                deadline,
            });
        }
        Ok(out)
    }

    /// The hash of the entry that added `peer` (a current member), from
    /// the stored, verified log: what a joiner's confirmation signs.
    pub fn add_entry_of(&self, peer: &PeerId) -> Result<EntryHash, CircleError> {
        let (_, state) = self.load_circle()?;
        let member = state.member(peer).ok_or(CircleError::UnknownPeer(*peer))?;
        db::hash_at(&self.conn, member.seq)?.ok_or(CircleError::Corrupt(
            "the log lacks a member's add-peer entry",
        ))
    }

    /// Judges a pending add from the evidence a front end fetched: the
    /// joiner's messages on the invite's relay (`relay`; none if the
    /// invite is gone) and the zone's signed manifests (`manifests`).
    /// Joined if one message is the peer's confirmation of the entry that
    /// added it, or one manifest is signed by the peer for this circle at
    /// a log position at or past that entry.
    pub fn judge_pending_add(
        &self,
        pending: &PendingAdd,
        relay: &[Vec<u8>],
        manifests: &[SignedManifest],
    ) -> Result<PendingVerdict, CircleError> {
        let (_, state) = self.load_circle()?;
        let Some(member) = state.member(&pending.peer) else {
            return Ok(PendingVerdict::Moot);
        };
        if member.added_by != self.identity.peer_id() {
            return Ok(PendingVerdict::Moot);
        }
        let add_entry = self.add_entry_of(&pending.peer)?;
        let circle_id = state.circle_id();
        let confirmed = relay
            .iter()
            .any(|m| check_confirmation(m, &member.keys, circle_id, add_entry).is_ok());
        let synced = manifests.iter().any(|m| {
            m.signer == pending.peer
                && m.circle_id == circle_id
                && m.circle_pos >= member.seq
                && m.verify(&member.keys).is_ok()
        });
        Ok(if confirmed || synced {
            PendingVerdict::Joined
        } else {
            PendingVerdict::NotJoined
        })
    }
}
