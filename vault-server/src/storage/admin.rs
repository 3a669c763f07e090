//! What `vault-server admin` does, whatever the backend: the commands
//! ([`AdminStore`]: registration tokens, circles, quotas, the check, the
//! admin log, each change logged in its own transaction), their errors,
//! and the rules they share: a log is verified without keys
//! ([`verify_log`]) and the check's log line ([`check_detail`]).

use super::registration::{AdminLogRow, CircleInfo, TokenInfo};
use super::{Hash32, StorageError};
use uuid::Uuid;
use vault_core::circle::{CircleState, SignedEntry};

/// Why an admin change to a token did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No token has that id.
    #[error("no registration token has the id {0}")]
    NoSuchToken(String),
    /// No circle has that id.
    #[error("no circle {0} on this server")]
    NoSuchCircle(Uuid),
    /// Only a disabled circle is deleted (its devices stopped first).
    #[error(
        "circle {0} is not disabled: disable it first (`admin circle disable`), then delete it"
    )]
    NotDisabled(Uuid),
    /// The token was used or revoked already.
    #[error("the registration token {0} was already used or revoked")]
    TokenSpent(String),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What `admin check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The database's complaints: SQLite's `PRAGMA integrity_check`; on
    /// PostgreSQL (which checks its own pages), zones whose counters
    /// disagree with their records.
    pub integrity: Vec<String>,
    /// Each circle: its entries, or what is wrong with its log.
    pub circles: Vec<(Uuid, Result<u64, String>)>,
}

impl CheckReport {
    /// Whether everything checked out.
    pub fn ok(&self) -> bool {
        self.integrity.is_empty() && self.circles.iter().all(|(_, r)| r.is_ok())
    }
}

/// What `admin circle quota` changes: per limit, nothing (`None`), back
/// to the server's default (`Some(None)`), or a value (`Some(Some(n))`, 0
/// being no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaChange {
    /// `--max-devices`.
    pub max_devices: Option<Option<u64>>,
    /// `--max-records`.
    pub max_records: Option<Option<u64>>,
    /// `--max-bytes`.
    pub max_bytes: Option<Option<u64>>,
}

/// The admin commands on one backend.
pub trait AdminStore {
    /// Stores a new registration token by its hash; returns its id.
    fn create_token(
        &mut self,
        hash: &Hash32,
        note: Option<&str>,
        now: i64,
        expires: Option<i64>,
    ) -> Result<String, AdminError>;

    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenInfo>, StorageError>;

    /// Revokes an unused token.
    fn revoke_token(&mut self, id: &str, now: i64) -> Result<(), AdminError>;

    /// Every circle, oldest first, with its counts.
    fn circles(&self) -> Result<Vec<CircleInfo>, StorageError>;

    /// One circle with its counts.
    fn circle(&self, circle_id: Uuid) -> Result<CircleInfo, AdminError>;

    /// Sets a circle's own limits: each `Some` replaces that limit
    /// (`Some(None)` returns it to the server's `[quotas]`), each `None`
    /// leaves it. A running server applies them from its next push or
    /// append.
    fn set_quotas(
        &mut self,
        circle_id: Uuid,
        change: &QuotaChange,
        now: i64,
    ) -> Result<(), AdminError>;

    /// Disables (its devices get 403 `circle_disabled`, running servers
    /// close their sockets within a second) or enables a circle.
    fn set_disabled(&mut self, circle_id: Uuid, disabled: bool, now: i64)
    -> Result<(), AdminError>;

    /// Deletes a disabled circle and every row of it: log, members,
    /// tokens, shares, invites and their relay messages, zones with their
    /// records, buckets and manifests, and cut lists. Registration tokens
    /// keep the id they registered (the record of who registered what).
    /// Returns the rows deleted.
    fn delete_circle(&mut self, circle_id: Uuid, now: i64) -> Result<usize, AdminError>;

    /// Checks the database and every circle's log ([`verify_log`]). Logged.
    fn check(&mut self, now: i64) -> Result<CheckReport, AdminError>;

    /// The admin log, oldest first.
    fn log(&self) -> Result<Vec<AdminLogRow>, StorageError>;
}

/// A stored log entry as the check reads it: seq, stored hash, entry
/// bytes, signature.
pub type LogRow = (i64, Vec<u8>, Vec<u8>, Vec<u8>);

/// A circle's stored log, checked without keys: each entry decodes, its
/// stored hash is its own, the chain verifies from its genesis
/// (signatures, links, membership), and `head` (the circle row's seq and
/// hash) is its last entry. `Ok(entries)` or what is wrong.
pub fn verify_log(rows: Vec<LogRow>, head: (i64, Vec<u8>)) -> Result<u64, String> {
    let mut entries = Vec::with_capacity(rows.len());
    for (seq, hash, entry, signature) in rows {
        let Ok(signed) = SignedEntry::decode(&entry, &signature) else {
            return Err(format!("entry {seq} does not decode"));
        };
        if signed.hash().as_bytes()[..] != hash[..] {
            return Err(format!("entry {seq} does not have its stored hash"));
        }
        entries.push(signed);
    }
    if let Err(e) = CircleState::verify_chain(None, &entries) {
        return Err(format!("the log does not verify: {e}"));
    }
    match entries.last().map(|e| (e.entry().seq, e.hash())) {
        Some((seq, hash))
            if i64::try_from(seq).ok() == Some(head.0) && hash.as_bytes()[..] == head.1[..] =>
        {
            Ok(entries.len() as u64)
        }
        _ => Err("the circle's head is not its last entry".into()),
    }
}

/// The admin log's line for a check.
pub fn check_detail(report: &CheckReport) -> String {
    let broken = report.circles.iter().filter(|(_, r)| r.is_err()).count();
    format!(
        "integrity={} circles={} broken={broken}",
        if report.integrity.is_empty() {
            "ok"
        } else {
            "failed"
        },
        report.circles.len()
    )
}
