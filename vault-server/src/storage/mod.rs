//! The server's storage, behind one synchronous trait. Handlers call it
//! through [`crate::AppState::db`], which runs each call on tokio's blocking
//! pool: no database call ever runs on the async runtime or under an async
//! mutex. [`SqliteStorage`] is the embedded default; [`postgres`] serves
//! several server processes on one database. The rows it exchanges are
//! [`rows`]', its errors `errors`'.
//!
//! The trait enforces what must be decided atomically: an append checks the
//! head and the signer's membership inside its write transaction (so
//! concurrent appends serialize and exactly one wins), an invite is claimed
//! by one conditional update, and a removal deletes the removed peer's
//! tokens in the same transaction. A push decides every record's conflict
//! and takes its sequence number inside one write transaction (see
//! [`zone`]). The push, the append, the manifests and the changes feed
//! are decided by [`rules`], the admin commands by [`admin`], once for
//! every backend; the conformance suite (`tests/conformance/`) runs the
//! same cases on both.

pub mod admin;
pub mod challenges;
mod errors;
pub mod postgres;
pub mod quota;
pub mod registration;
pub mod rows;
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

pub use errors::{AppendError, InviteError, IssueError, ShareError, StorageError};
pub use rows::{
    Counts, Hash32, InviteId, InviteRow, LogPage, MemberChange, MemberKeys, MemberRow, NewEntry,
    PeerBytes, Purged, RelayMessage, ShareRow, Side, StoredEntry, TokenRow, ZoneCutList,
};

use std::path::Path;
use uuid::Uuid;
use vault_core::sync::Token;

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
