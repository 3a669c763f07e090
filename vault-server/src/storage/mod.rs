//! The server's storage, behind one synchronous trait. Handlers call it
//! through [`crate::AppState::db`], which runs each call on tokio's blocking
//! pool: no database call ever runs on the async runtime or under an async
//! mutex. [`SqliteStorage`] is the backend servers use today; [`postgres`]
//! (for several server processes) implements the rules moved so far and
//! takes the rest of the trait in issue 16.
//!
//! The trait enforces what must be decided atomically: an append checks the
//! head and the signer's membership inside its write transaction (so
//! concurrent appends serialize and exactly one wins), an invite is claimed
//! by one conditional update, and a removal deletes the removed peer's
//! tokens in the same transaction. A push decides every record's conflict
//! and takes its sequence number inside one write transaction (see
//! [`zone`]). The push, the append and the manifests are decided by
//! [`rules`], once for every backend.
//! (Over 500 lines until issue 16 moves the remaining rules above the
//! backends and splits this interface with them.)

pub mod admin;
pub mod challenges;
pub mod postgres;
pub mod quota;
pub mod registration;
pub mod rules;
mod sqlite;
pub mod zone;

pub use admin::{AdminError, AdminStore, CheckReport, QuotaChange};
pub use quota::{QuotaExceeded, QuotaKind, QuotaOverrides, Quotas};
pub use registration::{AdminLogRow, CircleInfo, RegisterError, TokenInfo, TokenRefusal, token_id};
pub use sqlite::{
    AdminDb, DbLock, LockError, Replaced, RestoreError, RestoreReport, RestoredZone, SqliteStorage,
    backup_database as sqlite_backup, lock_path, migrations, restore_database as sqlite_restore,
    schema_version,
};
pub use zone::{
    ChangesError, ChangesPage, ManifestPutError, ManifestRow, ManifestStored, NewManifest,
    PushError, PushReply, PushResult, ServerManifest, TaggedRecord, ZoneSeq,
};

use std::path::Path;
use uuid::Uuid;
use vault_core::sync::Token;

/// A peer id: SHA-256 of the peer's Ed25519 key.
pub type PeerBytes = [u8; 32];

/// A 32-byte hash (entry hash, token hash).
pub type Hash32 = [u8; 32];

/// An invite id: 16 bytes (32 hex digits on the wire).
pub type InviteId = [u8; 16];

/// A peer's two public keys, as the log lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberKeys {
    /// Ed25519 verifying key.
    pub signing: [u8; 32],
    /// X25519 public key.
    pub agreement: [u8; 32],
}

/// A member row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberRow {
    /// The member's keys.
    pub keys: MemberKeys,
    /// Whether a "remove peer" entry ended the membership.
    pub removed: bool,
}

/// A validated entry, ready to store.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Its sequence number.
    pub seq: u64,
    /// Its predecessor's hash (zero for a genesis).
    pub prev: Hash32,
    /// Its own hash.
    pub hash: Hash32,
    /// Its canonical bytes.
    pub entry: Vec<u8>,
    /// The signer's signature over it.
    pub signature: Vec<u8>,
}

/// What an appended entry does to the member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Nothing (e.g. a new key epoch).
    None,
    /// A peer joins.
    Add {
        /// The new peer's id.
        peer: PeerBytes,
        /// Its keys.
        keys: MemberKeys,
    },
    /// A peer's membership ends at a cut: appended only while each zone
    /// is still at its cut's token; the peer is marked removed and loses
    /// its tokens, and the cut lists are stored beside the entry.
    Remove {
        /// The removed peer.
        peer: PeerBytes,
        /// Per zone, the token the remover reached and the list.
        cuts: Vec<ZoneCutList>,
    },
}

/// One zone's cut, checked against the entry by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneCutList {
    /// The zone.
    pub zone: String,
    /// The token the remover reached there.
    pub token: Token,
    /// The list's bytes.
    pub list: Vec<u8>,
}

/// One stored log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Its sequence number.
    pub seq: u64,
    /// Its canonical bytes.
    pub entry: Vec<u8>,
    /// Its signature.
    pub signature: Vec<u8>,
}

/// A page of a circle's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// Entries after the requested sequence, oldest first.
    pub entries: Vec<StoredEntry>,
    /// The head's sequence number.
    pub head_seq: u64,
    /// The head's hash.
    pub head_hash: Hash32,
    /// Whether entries past this page exist.
    pub more: bool,
}

/// A session token's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRow {
    /// The circle it authenticates to.
    pub circle_id: Uuid,
    /// The peer it was issued to.
    pub peer: PeerBytes,
    /// Its expiry (Unix seconds).
    pub expires: i64,
    /// Whether an admin disabled the circle.
    pub disabled: bool,
}

/// A stored key share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// Its id, increasing in arrival order.
    pub id: i64,
    /// The member who sent it.
    pub sender: PeerBytes,
    /// The sealed share.
    pub blob: Vec<u8>,
}

/// An invite's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InviteRow {
    /// The circle being joined.
    pub circle_id: Uuid,
    /// The member who created the invite.
    pub inviter: PeerBytes,
    /// Its expiry (Unix seconds).
    pub expires: i64,
    /// The SHA-256 of the joiner's relay token, once joined.
    pub relay_token_hash: Option<Hash32>,
}

/// A side of a pairing session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The member who created the invite.
    Inviter,
    /// The device joining with it.
    Joiner,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Inviter => Side::Joiner,
            Side::Joiner => Side::Inviter,
        }
    }
}

/// One relay message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMessage {
    /// Its sequence number in the session (both sides share one sequence).
    pub seq: u64,
    /// The opaque message.
    pub message: Vec<u8>,
}

/// Counts for the metrics gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Circles stored.
    pub circles: u64,
    /// Current members across all circles.
    pub devices: u64,
    /// Live records across all circles.
    pub records: u64,
    /// Ciphertext bytes stored across all circles.
    pub bytes: u64,
}

/// Rows removed by a purge of expired data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Expired challenges.
    pub challenges: usize,
    /// Expired tokens.
    pub tokens: usize,
    /// Expired invites (their relay messages go with them).
    pub invites: usize,
    /// Registration tokens that expired unused.
    pub registration_tokens: usize,
}

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

/// The server's storage. Every method is synchronous and may block: call it
/// from a blocking thread. Times are Unix seconds, passed in by the caller.
pub trait Storage: Send + Sync + 'static {
    /// Checks that the database answers.
    fn ping(&self) -> Result<(), StorageError>;

    /// Counts circles and current members.
    fn counts(&self) -> Result<Counts, StorageError>;

    /// Creates a circle from its genesis entry, with its founder as the
    /// first member. [`StorageError::Conflict`] if the circle exists.
    fn create_circle(
        &self,
        circle_id: Uuid,
        genesis: &NewEntry,
        founder: &PeerBytes,
        keys: &MemberKeys,
        now: i64,
    ) -> Result<(), StorageError>;

    /// In one transaction: consumes the registration token whose hash is
    /// `token` (unused, unexpired, unrevoked), then creates the circle as
    /// [`Storage::create_circle`] does. A refusal creates nothing and a
    /// circle that exists leaves the token unused.
    #[allow(clippy::too_many_arguments)]
    fn create_circle_registered(
        &self,
        token: &Hash32,
        circle_id: Uuid,
        genesis: &NewEntry,
        founder: &PeerBytes,
        keys: &MemberKeys,
        now: i64,
    ) -> Result<(), RegisterError>;

    /// The circles an admin disabled.
    fn disabled_circles(&self) -> Result<Vec<Uuid>, StorageError>;

    /// Whether the circle exists.
    fn circle_exists(&self, circle_id: Uuid) -> Result<bool, StorageError>;

    /// The circle's quantities and its own quota limits (none for an
    /// unknown circle).
    fn circle_usage(&self, circle_id: Uuid)
    -> Result<(quota::Usage, QuotaOverrides), StorageError>;

    /// A member of a circle, current or removed; `NotFound` if never listed.
    fn member(&self, circle_id: Uuid, peer: &PeerBytes) -> Result<MemberRow, StorageError>;

    /// Appends an entry signed by `signer`, applying its member change, in
    /// one transaction that first checks the signer is a current member and
    /// that `entry.prev`/`entry.seq` continue the head, and that an added
    /// device stays within the circle's `max_devices` (`quotas`: the
    /// server's limits, under the circle's own).
    fn append_entry(
        &self,
        circle_id: Uuid,
        signer: &PeerBytes,
        entry: &NewEntry,
        change: &MemberChange,
        quotas: &Quotas,
    ) -> Result<(), AppendError>;

    /// Entries with `seq > after` (all when `None`), at most `limit`.
    fn log(&self, circle_id: Uuid, after: Option<u64>, limit: u32)
    -> Result<LogPage, StorageError>;

    /// The cut list of the removal entry `seq` for `zone`; `NotFound` if
    /// there is none.
    fn cut_list(&self, circle_id: Uuid, seq: u64, zone: &str) -> Result<Vec<u8>, StorageError>;

    /// Stores a fresh challenge for a peer.
    fn put_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        expires: i64,
    ) -> Result<(), StorageError>;

    /// Consumes a challenge (single use) whatever comes next; `NotFound` if
    /// it was unknown, used, expired or issued to another peer.
    fn consume_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        now: i64,
    ) -> Result<(), StorageError>;

    /// In one transaction: consumes the challenge, checks the peer is a
    /// current member, and stores the token's hash.
    fn issue_token(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        token_hash: &Hash32,
        now: i64,
        expires: i64,
    ) -> Result<(), IssueError>;

    /// The row of an unexpired token, by the token's hash.
    fn token(&self, token_hash: &Hash32, now: i64) -> Result<TokenRow, StorageError>;

    /// Stores shares from `sender`, each to a current member.
    fn put_shares(
        &self,
        circle_id: Uuid,
        sender: &PeerBytes,
        shares: &[(PeerBytes, Vec<u8>)],
        now: i64,
    ) -> Result<(), ShareError>;

    /// Shares addressed to `recipient` with `id > after`, oldest first.
    fn shares(
        &self,
        circle_id: Uuid,
        recipient: &PeerBytes,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ShareRow>, StorageError>;

    /// Creates an invite. [`StorageError::Conflict`] if the id exists.
    fn create_invite(
        &self,
        invite_id: &InviteId,
        circle_id: Uuid,
        inviter: &PeerBytes,
        expires: i64,
    ) -> Result<(), StorageError>;

    /// Claims an unexpired, unjoined invite for a joiner (one conditional
    /// update: of concurrent joins exactly one wins) and stores its first
    /// message. Returns that message's sequence number.
    fn join_invite(
        &self,
        invite_id: &InviteId,
        relay_token_hash: &Hash32,
        message: &[u8],
        now: i64,
    ) -> Result<u64, InviteError>;

    /// An unexpired invite ([`InviteError::Gone`] if expired).
    fn invite(&self, invite_id: &InviteId, now: i64) -> Result<InviteRow, InviteError>;

    /// Appends a relay message from `side`; at most `max_messages` per session.
    fn post_relay(
        &self,
        invite_id: &InviteId,
        side: Side,
        message: &[u8],
        now: i64,
        max_messages: u32,
    ) -> Result<u64, InviteError>;

    /// Messages written by `from` with `seq > after`, oldest first.
    fn relay_messages(
        &self,
        invite_id: &InviteId,
        from: Side,
        after: u64,
    ) -> Result<Vec<RelayMessage>, StorageError>;

    /// Deletes expired challenges, tokens and invites.
    fn purge_expired(&self, now: i64) -> Result<Purged, StorageError>;

    /// Writes a consistent copy of the whole database to `dest`, which
    /// must not exist yet.
    fn backup(&self, dest: &Path) -> Result<(), StorageError>;

    /// The zone's records (live and tombstones) with `seq > since.seq`, in
    /// seq order, at most `limit`, the page stopping early (but never
    /// empty) once its ciphertext passes `max_bytes`; each `tag` is the
    /// record's seq. `since` absent: from the start of the zone's epoch.
    /// [`ChangesError::TokenExpired`] for a token of another epoch, one with
    /// `0 < seq < gc_seq`, or one past the zone's seq. `after` continues
    /// a read that began at `since` (records past it; default `since`'s
    /// seq): a read from seq 0 stays valid while tombstones are collected.
    #[allow(clippy::too_many_arguments)]
    fn changes(
        &self,
        circle_id: Uuid,
        zone: &str,
        since: Option<Token>,
        after: Option<u64>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<ChangesPage, ChangesError>;

    /// Saves a batch written by `writer` (a current member; every record's
    /// writer, distinct uuids, gencounts below 2^63: checked by the caller)
    /// in one write transaction, record by record: a record is saved (at
    /// the zone's seq + 1, its bucket marked dirty) if its `tag` is the
    /// current record's seq (or 0 and there is none) and its gencount is
    /// greater than the current one's; otherwise it is a conflict, answered
    /// with the current record. [`PushError::CirclePos`] (nothing saved) if
    /// a record's `circle_pos` is past the circle log's head;
    /// [`PushError::Quota`] (nothing saved) if the saved records would take
    /// the circle past its live-record or byte quota (`quotas`: the
    /// server's limits, under the circle's own).
    fn push_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        writer: &PeerBytes,
        records: &[TaggedRecord],
        quotas: &Quotas,
    ) -> Result<PushReply, PushError>;

    /// The zone's manifest over its live records: the cached root when no
    /// bucket is dirty, else the dirty buckets recomputed (and cached).
    /// With `buckets`, every bucket hash too.
    fn zone_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: bool,
    ) -> Result<ServerManifest, StorageError>;

    /// The live records of the given buckets, in uuid order, `tag` being
    /// each one's seq.
    fn bucket_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: &[u8],
    ) -> Result<Vec<TaggedRecord>, StorageError>;

    /// Stores a peer's signed manifest if its counter grows, then collects
    /// tombstones: once every current member has a manifest of this zone
    /// (of its epoch), those with `seq <=` the smallest of their token seqs
    /// are deleted and `gc_seq` rises to it.
    fn put_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        manifest: &NewManifest,
    ) -> Result<ManifestStored, ManifestPutError>;

    /// Every stored manifest of the zone (current and removed peers), by
    /// peer id.
    fn manifests(&self, circle_id: Uuid, zone: &str) -> Result<Vec<ManifestRow>, StorageError>;

    /// Every zone of the circle with its seq, by name.
    fn zone_seqs(&self, circle_id: Uuid) -> Result<Vec<ZoneSeq>, StorageError>;
}
