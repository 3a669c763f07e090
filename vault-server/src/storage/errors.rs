//! The storage interface's errors: a backend failure, and each
//! operation's refusals, as enums a handler matches on.

use super::{LockError, quota};

/// A storage failure that is not a rule of the operation.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The row to create already exists.
    #[error("already exists")]
    Conflict,
    /// The database was locked past the busy timeout.
    #[error("the database is busy")]
    Busy,
    /// The database is locked by another process (see [`DbLock`]).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The backend does not do this; the text says what does.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The backend failed.
    #[error("storage backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// No such circle.
    #[error("no such circle")]
    NoCircle,
    /// `prev` is not the head's hash: the log moved.
    #[error("the log's head moved")]
    HeadMoved,
    /// `prev` is the head but `seq` is not the head's plus one.
    #[error("the entry's sequence number is not the head's plus one")]
    BadSeq,
    /// The signer is not a current member.
    #[error("the signer is not a current member")]
    SignerNotMember,
    /// An "add peer" names a peer the circle already lists.
    #[error("the peer is already in the circle")]
    PeerExists,
    /// A "remove peer" names a peer that is not a current member.
    #[error("the peer is not a current member")]
    TargetNotMember,
    /// A "remove peer" would leave the circle without members.
    #[error("the last member cannot be removed")]
    LastMember,
    /// A zone is no longer at the removal's cut.
    #[error("a zone moved past the removal's cut")]
    ZoneMoved,
    /// The entry adds a device past the circle's `max_devices`.
    #[error(transparent)]
    Quota(#[from] quota::QuotaExceeded),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a token was not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The challenge is unknown, used, expired, or for another peer.
    #[error("unknown, used or expired challenge")]
    Challenge,
    /// The peer is not a current member.
    #[error("not a current member")]
    NotMember,
    /// An admin disabled the circle.
    #[error("the circle is disabled")]
    Disabled,
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why shares were not stored.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// A recipient is not a current member of the circle.
    #[error("a recipient is not a current member")]
    RecipientNotMember,
    /// The sender is not a current member.
    #[error("the sender is not a current member")]
    SenderNotMember,
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why an invite could not be joined or used.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// No such invite.
    #[error("no such invite")]
    NotFound,
    /// The invite expired or was already joined.
    #[error("the invite expired or was already used")]
    Gone,
    /// The session holds its maximum number of messages.
    #[error("the relay session is full")]
    Full,
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
