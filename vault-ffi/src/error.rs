//! The one error type every call of the bindings raises: variants a
//! front end matches on (in Python, `except VaultError.WrongPassword`),
//! each with a message for people. Messages come from the typed errors
//! of vault-core and vault-client, which never quote a password, a
//! secret or a token.

use vault_client::{ClientError, SessionError};
use vault_core::ResolveError;
use vault_core::error::CircleError;
use vault_core::error::{
    CreateError, ItemError, KeyChangeError, OpenError, StorageError, UnlockError,
};
use vault_core::generate::GenerateError;
use vault_core::item::totp::TotpError;
use vault_core::sync::{SyncError, TransportError};

/// Why a call failed.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum VaultError {
    /// The master password is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// The vault is locked: call `unlock` first.
    #[error("the vault is locked")]
    Locked,
    /// No item matches, or no vault file at the path.
    #[error("{message}")]
    NotFound {
        /// What was looked for.
        message: String,
    },
    /// Several items match the query.
    #[error("{message}")]
    Ambiguous {
        /// The query and how many matched.
        message: String,
        /// How many items matched.
        count: u64,
        /// The first of them (at most 20).
        matches: Vec<crate::items::ItemSummary>,
    },
    /// A file to create exists already.
    #[error("{message}")]
    AlreadyExists {
        /// Which.
        message: String,
    },
    /// An argument that makes no sense: a malformed uuid, a TOTP seed
    /// that is not base32, a length out of range, a class change.
    #[error("{message}")]
    InvalidInput {
        /// What is wrong with it.
        message: String,
    },
    /// Data that fails its integrity check: a tampered or damaged vault
    /// file or item, a record or log from the server that does not verify.
    #[error("{message}")]
    Tampered {
        /// What failed to verify.
        message: String,
    },
    /// The vault is not in a circle, so it cannot sync.
    #[error("this vault is not in a circle")]
    NoCircle,
    /// The server refuses this device: it is not (or no longer) a member.
    #[error("the server refuses this device: it is not a member of the circle")]
    NotMember,
    /// The server could not be reached (DNS, connection, TLS handshake).
    #[error("{message}")]
    Unreachable {
        /// Why.
        message: String,
    },
    /// The server answered with a refusal.
    #[error("{message}")]
    ServerRefused {
        /// The HTTP status, 0 when there is none.
        status: u16,
        /// What it said.
        message: String,
    },
    /// A pairing did not complete (codes refused, invite expired or used).
    #[error("{message}")]
    Pairing {
        /// Why.
        message: String,
    },
    /// The operation was stopped before it finished (a watch cancelled
    /// while a request was under way).
    #[error("cancelled")]
    Cancelled,
    /// The vault file could not be read or written (disk, permissions,
    /// another process holding a lock).
    #[error("{message}")]
    Storage {
        /// What failed.
        message: String,
    },
}

/// The error and its sources, joined: "what: because".
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

impl VaultError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput {
            message: message.into(),
        }
    }

    fn storage(e: &dyn std::error::Error) -> Self {
        Self::Storage { message: chain(e) }
    }

    fn tampered(e: &dyn std::error::Error) -> Self {
        Self::Tampered { message: chain(e) }
    }
}

impl From<StorageError> for VaultError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Corrupt(_) => Self::tampered(&e),
            _ => Self::storage(&e),
        }
    }
}

impl From<OpenError> for VaultError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NotFound => Self::NotFound {
                message: e.to_string(),
            },
            OpenError::NotAVault | OpenError::Corrupt => Self::tampered(&e),
            OpenError::Storage(s) => s.into(),
            _ => Self::storage(&e),
        }
    }
}

impl From<CreateError> for VaultError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::AlreadyExists => Self::AlreadyExists {
                message: e.to_string(),
            },
            CreateError::Storage(s) => s.into(),
            _ => Self::storage(&e),
        }
    }
}

impl From<UnlockError> for VaultError {
    fn from(e: UnlockError) -> Self {
        match e {
            UnlockError::WrongPassword | UnlockError::WrongSessionKey => Self::WrongPassword,
            UnlockError::Corrupt(_) | UnlockError::UnsupportedKdf(_) => Self::tampered(&e),
            UnlockError::Storage(s) => s.into(),
            _ => Self::storage(&e),
        }
    }
}

impl From<ItemError> for VaultError {
    fn from(e: ItemError) -> Self {
        match e {
            ItemError::NotFound(_) => Self::NotFound {
                message: e.to_string(),
            },
            ItemError::Decrypt { .. }
            | ItemError::TombstoneMismatch(_)
            | ItemError::UnknownKeyEpoch(_) => Self::tampered(&e),
            ItemError::ClassMismatch { .. }
            | ItemError::ClassChange { .. }
            | ItemError::TooLarge => Self::invalid(chain(&e)),
            ItemError::Storage(s) => s.into(),
            _ => Self::storage(&e),
        }
    }
}

impl From<KeyChangeError> for VaultError {
    fn from(e: KeyChangeError) -> Self {
        match e {
            KeyChangeError::WrongPassword => Self::WrongPassword,
            KeyChangeError::Item(i) => i.into(),
            KeyChangeError::Storage(s) => s.into(),
            _ => Self::invalid(chain(&e)),
        }
    }
}

impl From<ResolveError> for VaultError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::NotFound { .. } => Self::NotFound {
                message: e.to_string(),
            },
            ResolveError::Ambiguous { ref resolution, .. } => Self::Ambiguous {
                message: e.to_string(),
                count: resolution.count as u64,
                matches: resolution.matches.iter().map(Into::into).collect(),
            },
            ResolveError::Item(i) => i.into(),
        }
    }
}

impl From<TotpError> for VaultError {
    fn from(e: TotpError) -> Self {
        match e {
            TotpError::NoSeed => Self::NotFound {
                message: e.to_string(),
            },
            _ => Self::invalid(e.to_string()),
        }
    }
}

impl From<GenerateError> for VaultError {
    fn from(e: GenerateError) -> Self {
        match e {
            GenerateError::BadLength => Self::invalid(e.to_string()),
            _ => Self::storage(&e),
        }
    }
}

impl From<CircleError> for VaultError {
    fn from(e: CircleError) -> Self {
        match e {
            CircleError::NoCircle => Self::NoCircle,
            CircleError::NotMember => Self::NotMember,
            CircleError::AlreadyInCircle | CircleError::ServerList(_) | CircleError::Name(_) => {
                Self::invalid(chain(&e))
            }
            CircleError::Item(i) => i.into(),
            CircleError::Storage(s) => s.into(),
            _ => Self::tampered(&e),
        }
    }
}

impl From<TransportError> for VaultError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::NotMember => Self::NotMember,
            TransportError::Unreachable(_) => Self::Unreachable { message: chain(&e) },
            TransportError::Refused { .. } | TransportError::Throttled { .. } => {
                Self::ServerRefused {
                    status: 0,
                    message: chain(&e),
                }
            }
            TransportError::Status { status, .. } => Self::ServerRefused {
                status,
                message: chain(&e),
            },
            TransportError::Malformed(_) => Self::tampered(&e),
            _ => Self::ServerRefused {
                status: 0,
                message: chain(&e),
            },
        }
    }
}

impl From<SyncError> for VaultError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::NoCircle => Self::NoCircle,
            SyncError::NotMember => Self::NotMember,
            SyncError::Transport(t) => t.into(),
            SyncError::Circle(c) => c.into(),
            SyncError::Item(i) => i.into(),
            SyncError::Storage(s) => s.into(),
            _ => Self::tampered(&e),
        }
    }
}

impl From<ClientError> for VaultError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unreachable { .. } | ClientError::Tls { .. } => {
                Self::Unreachable { message: chain(&e) }
            }
            ClientError::Refused { status, .. } => Self::ServerRefused {
                status,
                message: chain(&e),
            },
            ClientError::Malformed(_) => Self::tampered(&e),
            ClientError::Interrupted => Self::Cancelled,
            _ => Self::invalid(chain(&e)),
        }
    }
}

impl From<SessionError> for VaultError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Client(c) => c.into(),
            SessionError::NotMember => Self::NotMember,
            SessionError::NoCircle => Self::NoCircle,
            SessionError::Interrupted => Self::Cancelled,
            SessionError::Circle(c) => c.into(),
            SessionError::Sync(s) => s.into(),
            _ => Self::tampered(&e),
        }
    }
}

impl From<std::io::Error> for VaultError {
    fn from(e: std::io::Error) -> Self {
        Self::storage(&e)
    }
}
