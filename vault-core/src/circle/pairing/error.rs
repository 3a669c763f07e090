//! Why a pairing step failed: one error for every step of both sides.

use super::confirm::Rejection;
use crate::circle::ShareError;

/// Why a pairing step failed. The session is over: start again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// The invite code does not parse.
    #[error("bad invite code: {0}")]
    BadCode(&'static str),
    /// A hello's MAC is wrong: the other side does not know the invite
    /// secret, or the relay altered or replayed the message.
    #[error("the other side does not know the invite secret, or the message was altered")]
    BadInviteProof,
    /// The joiner's signature over the transcript and challenge is wrong.
    #[error("the joiner's proof of its signing key does not verify")]
    BadProof,
    /// An encrypted message did not open (altered, replayed, or another session's).
    #[error("a pairing message did not decrypt")]
    Decrypt,
    /// A message of the wrong length or content.
    #[error("malformed pairing message: {0}")]
    Malformed(&'static str),
    /// A message of another type than the step expects.
    #[error("expected pairing message type {expected}, got {found}")]
    UnexpectedMessage {
        /// The type this step reads.
        expected: u8,
        /// The type received.
        found: u8,
    },
    /// A version this library does not speak.
    #[error("pairing message version {0} is not supported")]
    UnknownVersion(u8),
    /// A weak public key, or an ephemeral agreement with no contribution.
    #[error("the other side sent a weak key")]
    WeakKey,
    /// The identity given is not the one the session started with.
    #[error("the device identity is not the one this pairing started with")]
    IdentityMismatch,
    /// The key share is not addressed to the joiner of this session.
    #[error("the key share is not addressed to the joiner")]
    WrongRecipient,
    /// The welcome's key share does not parse.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// The inviter refused this joiner (its person did not confirm the
    /// short authentication string), in a message of this session.
    #[error("the inviting device refused this one: the codes were not confirmed there")]
    Refused,
    /// The joiner refused the circle, or could not finish joining, and
    /// said so in a message of this session.
    #[error("the joining device did not join: {0}")]
    Rejected(Rejection),
    /// The log the joiner verified adds it with another entry than the
    /// one the welcome names (or no welcome was opened).
    #[error("the circle log does not add this device with the entry the welcome names")]
    WrongAddEntry,
}
