//! The end of a pairing, from the joiner: once it has verified the log
//! and stored the join, a confirmation; when it refuses the circle (or
//! cannot finish), a rejection. The inviter counts its add-peer entry as
//! done only on the confirmation, and removes the peer again otherwise.
//!
//! Both are sealed under the joiner's session key, so the relaying server
//! can neither forge nor replay them from another session (it can only
//! withhold them, which ends the same way as a rejection: removal). The
//! confirmation also carries the joiner's Ed25519 signature over the
//! circle id and the add-peer entry's hash, in the clear (it is covered
//! by the AEAD as associated data), so an inviter that lost its session
//! (killed, then restarted) can still recognise it on the relay
//! ([`check_confirmation`]): the signature says nothing the server does
//! not know, and no one but the joiner can make it.

use super::{
    InviterVerified, JoinerAwaitingWelcome, PAIRING_VERSION, PairingError, array, check_header,
    session::Session,
};
use crate::circle::{EntryHash, PeerKeys};
use crate::crypto::{DeviceIdentity, Namespace, TAG_LEN};
use std::fmt;
use uuid::Uuid;

/// The confirmation message's type.
const CONFIRMATION: u8 = 7;
/// The rejection message's type.
const REJECTION: u8 = 8;
/// A confirmation's length: type, version, signature, AEAD tag.
pub const CONFIRMATION_LEN: usize = 2 + 64 + TAG_LEN;

/// Why the joiner did not join, as its rejection says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The welcome or the anchor after it did not open.
    Welcome,
    /// The circle log the server gave does not verify, or does not add
    /// this device the way the welcome says.
    Log,
    /// The inviter's sync anchor does not verify.
    Anchor,
    /// The joiner could not finish (the server, its own storage), or gave
    /// a reason this version does not know.
    Failed,
    /// The joiner ran out of time before it stored the join.
    Late,
}

impl Rejection {
    pub(super) fn code(self) -> u8 {
        match self {
            Rejection::Welcome => 1,
            Rejection::Log => 2,
            Rejection::Anchor => 3,
            Rejection::Failed => 4,
            Rejection::Late => 5,
        }
    }

    pub(super) fn from_code(code: u8) -> Rejection {
        match code {
            1 => Rejection::Welcome,
            2 => Rejection::Log,
            3 => Rejection::Anchor,
            5 => Rejection::Late,
            _ => Rejection::Failed,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::Welcome => "the welcome did not open there",
            Rejection::Log => "the circle log it read does not verify or does not add it",
            Rejection::Anchor => "the sync anchor did not verify there",
            Rejection::Failed => "it could not finish (its server connection or storage failed)",
            Rejection::Late => "it ran out of time",
        })
    }
}

/// The signed statement: "I joined circle `circle_id` through the entry
/// `add_entry`".
fn statement(circle_id: &Uuid, add_entry: &EntryHash) -> [Vec<u8>; 2] {
    [circle_id.as_bytes().to_vec(), add_entry.0.to_vec()]
}

impl JoinerAwaitingWelcome {
    /// The confirmation to send once the join is stored: `add_entry` is
    /// the hash of the entry that adds this device in the log it verified
    /// ([`UnlockedVault::add_entry_of`](crate::UnlockedVault::add_entry_of)),
    /// which must be the one the welcome named. The session ends.
    pub fn confirm(
        mut self,
        me: &DeviceIdentity,
        add_entry: EntryHash,
    ) -> Result<Vec<u8>, PairingError> {
        if me.public() != self.me {
            return Err(PairingError::IdentityMismatch);
        }
        if self.welcomed != Some(add_entry) {
            return Err(PairingError::WrongAddEntry);
        }
        let [circle, entry] = statement(&self.circle_id, &add_entry);
        let sig = me.sign(Namespace::PairJoined, &[&circle, &entry]);
        let mut header = Vec::with_capacity(66);
        header.extend_from_slice(&[CONFIRMATION, PAIRING_VERSION]);
        header.extend_from_slice(&sig);
        self.session.seal(&header, &[])
    }

    /// The rejection to send when this device does not join (any failure
    /// after the welcome arrived); the session ends.
    pub fn reject(mut self, why: Rejection) -> Result<Vec<u8>, PairingError> {
        self.session
            .seal(&[REJECTION, PAIRING_VERSION], &[why.code()])
    }
}

/// The inviter, having sent the welcome, waits for the joiner's
/// confirmation ([`InviterVerified::welcome_with_anchor`]).
#[derive(Debug)]
pub struct InviterAwaitingConfirmation {
    session: Session,
    joiner: PeerKeys,
    circle_id: Uuid,
    add_entry: EntryHash,
}

impl InviterAwaitingConfirmation {
    pub(super) fn new(verified: InviterVerified, add_entry: EntryHash) -> Self {
        Self {
            session: verified.session,
            joiner: verified.joiner,
            circle_id: verified.circle_id,
            add_entry,
        }
    }

    /// Reads the joiner's last message: `Ok(())` for a confirmation of
    /// this session signed by the joiner over this add;
    /// [`PairingError::Rejected`] for its rejection; any other message,
    /// or one that does not open in this session, is an error.
    pub fn receive_confirmation(mut self, message: &[u8]) -> Result<(), PairingError> {
        if message.first() == Some(&REJECTION) {
            check_header(message, REJECTION)?;
            let why = self.session.open(&message[..2], &message[2..])?;
            return match why.as_slice() {
                [code] => Err(PairingError::Rejected(Rejection::from_code(*code))),
                _ => Err(PairingError::Malformed("rejection length")),
            };
        }
        check_header(message, CONFIRMATION)?;
        if message.len() != CONFIRMATION_LEN {
            return Err(PairingError::Malformed("confirmation length"));
        }
        self.session.open(&message[..66], &message[66..])?;
        check_confirmation(message, &self.joiner, self.circle_id, self.add_entry)
    }
}

/// Without the session: whether `message` is a confirmation, signed by
/// the peer with keys `joiner`, that it joined circle `circle_id` through
/// the entry `add_entry`. What an inviter restarted after a crash can
/// check (the session's tag it cannot); the signature is what counts.
pub fn check_confirmation(
    message: &[u8],
    joiner: &PeerKeys,
    circle_id: Uuid,
    add_entry: EntryHash,
) -> Result<(), PairingError> {
    check_header(message, CONFIRMATION)?;
    if message.len() != CONFIRMATION_LEN {
        return Err(PairingError::Malformed("confirmation length"));
    }
    let sig: [u8; 64] = array(message, 2);
    let [circle, entry] = statement(&circle_id, &add_entry);
    joiner
        .verify(Namespace::PairJoined, &[&circle, &entry], &sig)
        .map_err(|_| PairingError::BadProof)
}
