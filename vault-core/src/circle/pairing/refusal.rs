//! The refusal: when the inviter's person does not confirm the short
//! authentication string, the inviter sends, instead of the welcome, an
//! empty message sealed in the session, so the joiner stops waiting at
//! once. Sealed under the inviter's session key, it cannot be forged by
//! the relaying server (which can only withhold messages, as it always
//! could).

use super::{InviterVerified, JoinerAwaitingWelcome, PAIRING_VERSION, PairingError};

/// The refusal message's type.
const REFUSAL: u8 = 6;

impl InviterVerified {
    /// The refusal to send instead of the welcome; the session ends.
    pub fn refuse(mut self) -> Result<Vec<u8>, PairingError> {
        self.session.seal(&[REFUSAL, PAIRING_VERSION], &[])
    }
}

impl JoinerAwaitingWelcome {
    /// Reads the inviter's next message far enough to tell a refusal:
    /// [`PairingError::Refused`] if it is one (and opens in this session),
    /// its opening error if it claims to be one and does not open, and
    /// `Ok(())` for any other message (the welcome, read next).
    pub fn check_refusal(&mut self, message: &[u8]) -> Result<(), PairingError> {
        if message.first() != Some(&REFUSAL) {
            return Ok(());
        }
        if message.get(1) != Some(&PAIRING_VERSION) {
            return Err(PairingError::UnknownVersion(
                message.get(1).copied().unwrap_or(0),
            ));
        }
        self.session.open(&message[..2], &message[2..])?;
        Err(PairingError::Refused)
    }
}
