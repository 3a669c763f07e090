//! Who may register a circle: the registration tokens an admin issues
//! (stored as hashes, used once) and the admin log, as every backend
//! stores them.

use super::{Hash32, StorageError};
use uuid::Uuid;

/// Why a registration token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// No token has that text.
    #[error("the registration token is not known to this server")]
    Unknown,
    /// It registered a circle already.
    #[error("the registration token was already used")]
    Used,
    /// Its time ran out.
    #[error("the registration token has expired")]
    Expired,
    /// An admin revoked it.
    #[error("the registration token was revoked")]
    Revoked,
}

/// Why a registered circle was not created.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The token was refused: nothing was created.
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    /// The circle exists already (the token stays unused).
    #[error("the circle already exists")]
    Exists,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A registration token as `admin token ls` shows it (never its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// A short public name: hex of the first 6 bytes of the token's hash.
    pub id: String,
    /// What the admin wrote about it.
    pub note: Option<String>,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds; `None`: never.
    pub expires: Option<i64>,
    /// When it registered a circle, and which.
    pub used: Option<(i64, Uuid)>,
    /// When it was revoked.
    pub revoked: Option<i64>,
}

/// One admin action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminLogRow {
    /// Its place in the log.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// What was done, e.g. `token create`.
    pub action: String,
    /// On what (ids and settings, never a token's text).
    pub detail: String,
}

/// A token's public id: hex of its hash's first 6 bytes.
pub fn token_id(hash: &Hash32) -> String {
    hash[..6].iter().map(|b| format!("{b:02x}")).collect()
}
