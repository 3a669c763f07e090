//! The freshness anchor pairing carries: the inviter's newest signed
//! manifest, which the joiner keeps as the floor its syncs check the
//! server against. A server that swapped in an older copy of its database
//! before the join serves that member's manifest at an older counter (or
//! none), which the joiner's first sync refuses
//! ([`ZoneError::StaleManifest`]).
//!
//! The limit that remains: a device told of nothing newer cannot see a
//! rollback to a state it never passed; the devices that hold newer state
//! detect it at their next sync.

use super::db as sync_db;
use crate::circle::PeerId;
use crate::sync::{SignedManifest, SyncError, ZoneError};
use crate::vault::UnlockedVault;

impl UnlockedVault {
    /// This device's newest signed manifest of its zone, for the device it
    /// invites: `u16 body length (BE) || body || signature`. Empty if it
    /// never signed one.
    pub fn sync_anchor(&self) -> Result<Vec<u8>, SyncError> {
        let own = sync_db::stored_manifest(&self.conn, &self.zone, self.peer_id().as_bytes())?;
        let Some(m) = own.filter(|m| m.signer == self.peer_id()) else {
            return Ok(Vec::new());
        };
        let body = m.body();
        let len = u16::try_from(body.len()).map_err(|_| ZoneError::BadManifest(m.signer))?;
        Ok([&len.to_be_bytes()[..], &body, &m.signature].concat())
    }

    /// Keeps the anchor `inviter` sent at pairing ([`UnlockedVault::sync_anchor`]'s
    /// bytes; empty: none) as the floor of this device's checks: from now
    /// on the server must serve that member's manifest at its counter or
    /// later. Refused, and nothing kept, unless it is a manifest of this
    /// circle and zone signed by `inviter`, a current member. Call it after
    /// [`UnlockedVault::join_circle`].
    pub fn set_sync_anchor(&mut self, anchor: &[u8], inviter: &PeerId) -> Result<(), SyncError> {
        if anchor.is_empty() {
            return Ok(());
        }
        let bad = || SyncError::Zone(ZoneError::BadManifest(*inviter));
        let (len, rest) = anchor.split_at_checked(2).ok_or_else(bad)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (body, signature) = rest.split_at_checked(len).ok_or_else(bad)?;
        let m = SignedManifest::decode(body, signature).map_err(|_| bad())?;
        let (_, circle) = self.load_circle()?;
        let member = circle.member(inviter).ok_or_else(bad)?;
        if m.signer != *inviter
            || m.circle_id != circle.circle_id()
            || m.zone != self.zone
            || m.verify(&member.keys).is_err()
        {
            return Err(bad());
        }
        let seen = sync_db::seen_counter(&self.conn, &self.zone, inviter.as_bytes())?;
        if seen.is_none_or(|s| m.counter > s) {
            sync_db::put_peer_manifest(&self.conn, false, &m)?;
        }
        Ok(())
    }
}
