//! The freshness anchor: right after the welcome, in the same
//! authenticated session, the inviter sends an opaque anchor (the vault's
//! newest signed sync manifest, [`UnlockedVault::sync_anchor`]), so the
//! joiner can refuse a server state older than what its inviter has seen
//! ([`UnlockedVault::set_sync_anchor`]).
//!
//! [`UnlockedVault::sync_anchor`]: crate::UnlockedVault::sync_anchor
//! [`UnlockedVault::set_sync_anchor`]: crate::UnlockedVault::set_sync_anchor

use super::{
    InviterAwaitingConfirmation, InviterVerified, JoinerAwaitingWelcome, PAIRING_VERSION,
    PairingError, Welcome, check_header,
};
use crate::circle::{EntryHash, KeyShare};
use zeroize::Zeroizing;

/// The anchor message's type.
const ANCHOR: u8 = 5;
/// The longest anchor (a signed manifest takes about 250 bytes).
pub const MAX_ANCHOR_LEN: usize = 4096;

impl InviterVerified {
    /// The welcome ([`InviterVerified::welcome`]), then the anchor
    /// message carrying `anchor` (empty: none), and the state that waits
    /// for the joiner's confirmation of `add_peer`.
    pub fn welcome_with_anchor(
        mut self,
        share: &KeyShare,
        add_peer: EntryHash,
        anchor: &[u8],
    ) -> Result<(InviterAwaitingConfirmation, Vec<u8>, Vec<u8>), PairingError> {
        if anchor.len() > MAX_ANCHOR_LEN {
            return Err(PairingError::Malformed("anchor too long"));
        }
        let m4 = self.seal_welcome(share, add_peer)?;
        let m5 = self.session.seal(&[ANCHOR, PAIRING_VERSION], anchor)?;
        let next = InviterAwaitingConfirmation::new(self, add_peer);
        Ok((next, m4, m5))
    }
}

impl JoinerAwaitingWelcome {
    /// Opens the welcome and then the anchor that follows it: the
    /// [`Welcome`] and the anchor's bytes (empty: the inviter had none).
    /// The session stays, to end it with a confirmation once joined
    /// ([`JoinerAwaitingWelcome::confirm`]) or a rejection.
    pub fn receive_welcome_with_anchor(
        &mut self,
        m4: &[u8],
        m5: &[u8],
    ) -> Result<(Welcome, Zeroizing<Vec<u8>>), PairingError> {
        let welcome = self.open_welcome(m4)?;
        check_header(m5, ANCHOR)?;
        let anchor = self.session.open(&m5[..2], &m5[2..])?;
        if anchor.len() > MAX_ANCHOR_LEN {
            return Err(PairingError::Malformed("anchor too long"));
        }
        self.welcomed = Some(welcome.add_peer);
        Ok((welcome, anchor))
    }
}
