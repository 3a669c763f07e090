//! What an admin manages: who may register a circle (registration tokens,
//! stored as hashes and used once), the circles themselves as the admin
//! command lists them, and the admin log, as every backend stores them.

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

impl TokenRefusal {
    /// Why a stored token cannot register a circle at `now`, if it cannot
    /// (its expiry, use and revocation times as stored).
    pub fn of(
        expires: Option<i64>,
        used: Option<i64>,
        revoked: Option<i64>,
        now: i64,
    ) -> Option<TokenRefusal> {
        if used.is_some() {
            Some(TokenRefusal::Used)
        } else if revoked.is_some() {
            Some(TokenRefusal::Revoked)
        } else if expires.is_some_and(|e| e <= now) {
            Some(TokenRefusal::Expired)
        } else {
            None
        }
    }
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

/// A circle as `admin circles` lists it: counts only, never data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircleInfo {
    /// The circle.
    pub circle_id: Uuid,
    /// Unix seconds.
    pub created: i64,
    /// Current members.
    pub members: u64,
    /// Live records across its zones (what `max_records` counts).
    pub records: u64,
    /// Ciphertext bytes stored (`wrappedkey` + `encitem` of every record,
    /// tombstones included: what `max_bytes` counts).
    pub bytes: u64,
    /// Its own limits, where an admin set them.
    pub quotas: crate::storage::QuotaOverrides,
    /// The last session token issued to one of its devices.
    /// (Kept to within [`LAST_ACTIVE_GRAIN`] seconds.)
    pub last_active: Option<i64>,
    /// When an admin disabled it.
    pub disabled: Option<i64>,
}

/// A circle's `last_active` is rewritten by a login only when it is at
/// least this many seconds old: every login of a busy circle would
/// otherwise write (and on PostgreSQL lock) the circle's one row.
pub const LAST_ACTIVE_GRAIN: i64 = 60;
