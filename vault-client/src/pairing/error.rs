//! Why a pairing did not complete: [`PairingFlowError`], one variant per
//! outcome a front end tells apart (an invite gone, codes not confirmed,
//! a joiner that did not finish, the server unreachable), with the typed
//! error of the layer below kept as the source.

use crate::ClientError;
use crate::session::SessionError;
use vault_core::circle::pairing::PairingError;
use vault_core::error::{CircleError, ItemError};
use vault_core::sync::SyncError;

/// Why [`super::invite`] or [`super::join`] failed. The variants up to
/// [`PairingFlowError::NotJoined`] are the person's to act on (a code
/// to ask for again, a choice to make); the rest carry the failure of
/// the layer below as their source.
#[derive(Debug, thiserror::Error)]
pub enum PairingFlowError {
    /// The invite's time ran out before a device joined (inviter).
    #[error("the invite expired before a device joined")]
    InviteExpired,
    /// The server says the invite expired or was used (joiner).
    #[error("this invite code expired or was already used; ask for a new one")]
    InviteGone,
    /// The server knows no such invite (joiner).
    #[error("the server knows no such invite; check the code")]
    InviteUnknown,
    /// An invite's lifetime out of 1 s to 1 h.
    #[error("an invite's lifetime must be between 1 s and 1 h")]
    BadTtl,
    /// The code does not parse.
    #[error("{0}")]
    BadCode(PairingError),
    /// The server's address (the code's, or the one given) is refused.
    #[error("{0}")]
    BadServer(ClientError),
    /// The joining vault is in a circle already.
    #[error("this vault is already in a circle")]
    AlreadyInCircle,
    /// The joining device went silent before its proof (inviter).
    #[error("the joining device stopped answering")]
    JoinerSilent,
    /// The inviting device went silent before its reply (joiner).
    #[error("the inviting device stopped answering")]
    InviterSilent,
    /// No welcome came within [`super::SAS_TIMEOUT`] (joiner).
    #[error("the inviting device did not add this one (was the code confirmed?)")]
    NotAdded,
    /// The anchor did not follow the welcome (joiner).
    #[error("the inviting device stopped answering after its welcome")]
    InviterSilentAfterWelcome,
    /// The joining device gave a name other members must not be shown
    /// (empty, over 64 bytes, or with control characters such as a
    /// terminal's escapes): refused before the person was asked, and the
    /// joiner was told.
    #[error("the joining device's name was refused: {}", super::DEVICE_NAME_RULE)]
    BadJoinerName,
    /// The inviter's person did not confirm the codes (the UI said no);
    /// the joiner was told.
    #[error("not added: the codes were not confirmed")]
    NotConfirmed,
    /// The inviting device refused this one (its person did not confirm
    /// the codes); the message is vault-core's.
    #[error("{0}")]
    Refused(PairingError),
    /// The joiner took longer than [`super::JOIN_BUDGET`]; it told the
    /// inviter, which removes it again.
    #[error("joining took too long; the inviting device removes this one again")]
    Late,
    /// The joiner did not confirm (refused the circle, went silent, or the
    /// relay went away): it was removed again, at key epoch `epoch`.
    #[error(
        "{name} did not finish joining ({why}); removed it again \
         (the vault key is now epoch {epoch})"
    )]
    NotJoined {
        /// The joiner's name.
        name: String,
        /// Why the add does not count, in words.
        why: String,
        /// The key epoch after the removal.
        epoch: u32,
    },
    /// The joiner did not confirm, and removing it failed too: the pending
    /// add stays for the next connection ([`crate::pending`]).
    #[error(
        "{name} did not finish joining ({why}), and removing it failed; \
         the next command that reaches the server removes it"
    )]
    NotJoinedNotRemoved {
        /// The joiner's name.
        name: String,
        /// Why the add does not count, in words.
        why: String,
        /// Why the removal failed.
        #[source]
        source: Box<SessionError>,
    },
    /// Joined, but the confirmation did not reach the inviter, which
    /// removes this device again.
    #[error(
        "joined, but the confirmation did not reach the inviting device, \
         which removes this device again; pair it anew"
    )]
    ConfirmationNotSent(#[source] ClientError),
    /// The joiner could not authenticate as the member it became.
    #[error("cannot authenticate")]
    Authenticate(#[source] ClientError),
    /// The log the server sent does not hold the add the inviter signed.
    #[error("the circle log the server sent does not match the inviting device's")]
    WrongAddEntry(#[source] PairingError),
    /// The inviter's sync anchor does not verify.
    #[error("the inviting device's sync anchor does not verify")]
    BadAnchor(#[source] SyncError),
    /// A test hook stopped the flow and the process was not killed.
    #[error("test hook: stalled {0} and was not killed")]
    Stalled(&'static str),
    /// The server could not be reached, refused, or answered off-shape.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Connecting, or appending to the circle log, failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A pairing message did not verify.
    #[error(transparent)]
    Pairing(#[from] PairingError),
    /// The vault refused a circle step.
    #[error(transparent)]
    Circle(#[from] CircleError),
    /// The vault's sync state refused a step.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The vault's items refused a step.
    #[error(transparent)]
    Item(#[from] ItemError),
    /// No randomness.
    #[error("the operating system's random source failed")]
    Rng(#[from] getrandom::Error),
}

impl PairingFlowError {
    /// Whether the invite expired, was used, or is unknown: a new code
    /// is needed (the CLI's exit 9).
    pub fn is_invite(&self) -> bool {
        matches!(
            self,
            Self::InviteExpired | Self::InviteGone | Self::InviteUnknown
        )
    }

    /// Whether the pairing failed on what the person gave or did (a bad
    /// code or flag, codes not confirmed, a device that went silent or
    /// did not finish joining): the CLI's exit 2.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::BadTtl
                | Self::BadCode(_)
                | Self::BadServer(_)
                | Self::AlreadyInCircle
                | Self::JoinerSilent
                | Self::InviterSilent
                | Self::NotAdded
                | Self::InviterSilentAfterWelcome
                | Self::BadJoinerName
                | Self::NotConfirmed
                | Self::Refused(_)
                | Self::Late
                | Self::NotJoined { .. }
        )
    }
}
