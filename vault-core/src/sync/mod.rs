//! Sync with the circle's server, CloudKit-style: records per zone with a
//! server sequence, changes since a token, pushes with optimistic
//! concurrency on the change tag, a Merkle manifest, and signed manifests
//! that let a device check the server against its peers.
//!
//! The engine ([`UnlockedVault::sync`](crate::UnlockedVault::sync)) does no
//! network I/O itself: it calls a [`Transport`], which vault-client implements
//! over HTTP and the tests implement in memory. Verify, then apply: the
//! pages a round pulls are staged, and applied (with the new token, in one
//! transaction) only once the round's zone checks pass; a round that fails
//! them changes nothing a user can see and drops its stage, while a round
//! cut short keeps it and the next one resumes where it stopped.
//!
//! What the engine checks on every pull (the threat model in ARCHITECTURE.md):
//! - each record's signature, by a writer who was a member at the record's
//!   circle position ([`RecordError`]);
//! - its ciphertext opening under the key of its epoch with its uuid and
//!   gencount as associated data, and its class matching the table of the
//!   item the device holds;
//! - its gencount never below the version the device holds (rollback);
//! - the zone it reaches matching the newest manifest a current member
//!   signed at that token ([`ZoneError`]).
//!
//! A record that fails is quarantined and reported; it never overwrites
//! local data, and the rest of the sync proceeds. A person decides on it
//! ([`UnlockedVault::quarantine_list`](crate::UnlockedVault::quarantine_list),
//! `quarantine_accept`, `quarantine_drop`): until then the device signs
//! no manifest.
//!
//! The formats here (`record`, `list`, `manifest`, the [`Transport`]
//! trait and the errors) import `crypto`, `wire`, `item`, `circle` and
//! `error`; the engine (`engine`: the round, its checks and the sync
//! tables) sits above the vault file (`tests/layering.rs`).

pub(crate) mod engine;
pub use engine::{
    Decided, Decision, Effect, PreparedRemoval, Preview, QuarantineEntry, QuarantineError, waivable,
};
mod list;
mod manifest;
mod record;

pub use list::{
    ChangesPage, MAX_ZONE_LEN, RECORD_LIST_VERSION, TaggedRecord, Token, WireError, decode_records,
    encode_records, valid_zone,
};
pub use manifest::{
    BUCKETS, Digest, Leaf, MANIFEST_VERSION, Manifest, ManifestError, SignedManifest, bucket_hash,
    empty_bucket, root_of,
};
pub use record::{
    MAX_ENCITEM, MAX_WRAPPEDKEY, RecordParts, RecordTooLong, SealedRecord, SignatureError,
    UnsignedRecord, content_hash,
};

use crate::circle::PeerId;
use crate::error::{CircleError, ItemError, StorageError};
use uuid::Uuid;

/// The network side of a sync: one method per server route
/// (schema/PROTOCOL.md, "Sync"). Implementations do the I/O; the engine
/// decides everything else.
pub trait Transport {
    /// `GET …/zones/{zone}/changes?since=TOKEN&after=SEQ&limit=N`: the
    /// records of a read that began at `since`, past `after` (the previous
    /// page's token seq; `since.seq` for the first page).
    fn changes(
        &mut self,
        zone: &str,
        since: Token,
        after: u64,
        limit: u32,
    ) -> Result<ChangesPage, TransportError>;

    /// `POST …/zones/{zone}/records`: each record's `tag` is the change tag
    /// its edit is based on (0 for a new item).
    fn push(&mut self, zone: &str, records: &[TaggedRecord]) -> Result<PushReply, TransportError>;

    /// `GET …/zones/{zone}/manifest`, with the bucket hashes if asked, and
    /// every peer's latest signed manifest (so that one round trip both
    /// finds nothing new and checks the server against the peers).
    fn manifest(&mut self, zone: &str, buckets: bool) -> Result<ServerManifest, TransportError>;

    /// `GET …/zones/{zone}/buckets?ids=…`: the live records in those
    /// buckets, `tag` being each one's sequence.
    fn buckets(&mut self, zone: &str, ids: &[u8]) -> Result<Vec<TaggedRecord>, TransportError>;

    /// `GET …/zones/{zone}/manifests`: every peer's latest signed manifest
    /// (decoded, not yet verified).
    fn peer_manifests(&mut self, zone: &str) -> Result<Vec<SignedManifest>, TransportError>;

    /// `PUT …/zones/{zone}/manifests/{peer_id}`: this device's manifest.
    /// `true` when the server reports it divergent: another current
    /// member's manifest at the same change token has another root (the
    /// engine keeps the time for [`SyncStatus::divergence_ms`]).
    fn put_manifest(
        &mut self,
        zone: &str,
        manifest: &SignedManifest,
    ) -> Result<bool, TransportError>;

    /// How far the round's pull or push has come, after each page staged
    /// and each batch answered (for a front end's progress bar). Does
    /// nothing unless the transport reports it.
    fn progress(&mut self, _progress: Progress) {}
}

/// How far a long pull or push has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Which part of the round.
    pub phase: Phase,
    /// Changes pulled (by the server's sequence) or records pushed so far.
    pub done: u64,
    /// What the round expects in all: the changes between the device's
    /// token and the head the server announced, or the outbox's size when
    /// the push began (a merge may add to it). At least `done`.
    pub total: u64,
}

/// The part of a sync round a [`Progress`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Pulling the server's changes into the stage.
    Pull,
    /// Pushing this device's writes.
    Push,
}

/// The server's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReply {
    /// The zone's token after the batch.
    pub token: Token,
    /// One result per record, in the batch's order.
    pub results: Vec<PushResult>,
}

/// What happened to one pushed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    /// Saved at this sequence (its new change tag).
    Saved {
        /// The record's uuid.
        uuid: Uuid,
        /// Its sequence.
        seq: u64,
    },
    /// The server's change tag was not the one the edit was based on: the
    /// server's current record (`None` if it holds none) comes back to be
    /// merged.
    Conflict {
        /// The record's uuid.
        uuid: Uuid,
        /// The server's current record, its `tag` being its sequence.
        current: Option<Box<TaggedRecord>>,
    },
}

/// The server's view of a zone's manifest (unauthenticated: a device
/// trusts only its own and its peers' signed manifests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerManifest {
    /// The zone's token.
    pub token: Token,
    /// The root the server computes.
    pub root: Digest,
    /// Live records.
    pub count: u64,
    /// The bucket hashes, when asked for.
    pub buckets: Option<Manifest>,
    /// Every peer's latest signed manifest (decoded, not yet verified).
    pub manifests: Vec<SignedManifest>,
}

/// A transport failure.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The token is of an older zone epoch, or behind collected
    /// tombstones, or ahead of the server: resync from the start.
    #[error("the change token expired: resync")]
    TokenExpired,
    /// The server refuses this device (not a current member).
    #[error("the server refuses this device: not a member of the circle")]
    NotMember,
    /// The server was not reached, or the connection dropped.
    #[error("the server could not be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server refused by its own policy (a quota, a circle its admin
    /// disabled), in its words: changes nothing here, and retrying as is
    /// will not help.
    #[error("the server refused ({code}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error code from the body.
        code: String,
        /// The server's message (control characters removed, shortened).
        message: String,
    },
    /// The server answered with an error.
    #[error("the server answered {status} {code}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error code from the body.
        code: String,
    },
    /// The server's answer does not decode.
    #[error("the server's answer is malformed: {0}")]
    Malformed(&'static str),
    /// The server kept asking to wait (429 rate-limited, 503 busy) past
    /// the transport's wait limit.
    #[error(
        "the server kept answering {status} (rate-limited or busy); waited {waited_secs} s, the limit"
    )]
    Throttled {
        /// The last status.
        status: u16,
        /// Seconds waited in all.
        waited_secs: u64,
    },
}

/// Why a pulled record was quarantined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The writer never was a member of the circle.
    #[error("written by {0}, which is not a member of the circle")]
    UnknownWriter(PeerId),
    /// The writer was not a member at the record's circle position, or the
    /// position is past the log this device verified.
    #[error("written by {writer} at circle position {pos}, where it was not a member")]
    NotMemberAt {
        /// The writer.
        writer: PeerId,
        /// The position the record claims.
        pos: u64,
    },
    /// The writer was removed from the circle and no current member
    /// attested the record after that.
    #[error("written by {0}, which was removed from the circle")]
    RemovedWriter(PeerId),
    /// The writer was removed at a cut, and this record is not on the
    /// cut's list: written (or replayed) after the removal. Dropped.
    #[error("written by {0} after its removal from the circle")]
    AfterRemoval(PeerId),
    /// The writer was removed at a cut whose list this device has not
    /// received yet; re-checked once it has.
    #[error("written by {0}, removed from the circle; its removal's record list has not arrived")]
    CutListMissing(PeerId),
    /// The signature does not verify.
    #[error("the record's signature does not verify")]
    BadSignature,
    /// The record names an epoch this device holds no key for.
    #[error("sealed under epoch {0}, whose key this device does not hold")]
    UnknownEpoch(u32),
    /// The ciphertext does not open in the record's context (swapped
    /// `encitem` or `wrappedkey`, another item, version or epoch).
    #[error("the ciphertext does not open in the record's context")]
    Decrypt(#[source] crate::crypto::DecryptError),
    /// The decrypted class differs from the table of the item held.
    #[error("the record is a {sealed} item but the device holds a {held} item")]
    ClassMismatch {
        /// The class of the held item.
        held: crate::item::ItemClass,
        /// The class inside the record.
        sealed: crate::item::ItemClass,
    },
    /// The tombstone flag differs from the sealed one.
    #[error("the record's tombstone flag does not match its ciphertext")]
    TombstoneMismatch,
    /// The gencount is below the version the device holds, or equal to it
    /// with other content.
    #[error("gencount {got} rolls back the version {held} this device holds")]
    Rollback {
        /// The gencount held.
        held: u64,
        /// The gencount served.
        got: u64,
    },
}

/// A restored zone, as the round that read it anew found it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// The zone epoch this device had synced at.
    pub from_epoch: u32,
    /// The zone's new epoch.
    pub to_epoch: u32,
    /// This device's versions the server lacked or held older, uploaded
    /// again.
    pub reuploaded: usize,
}

/// A record the engine refused, kept aside and reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// The record's uuid.
    pub uuid: Uuid,
    /// Its gencount.
    pub gencount: u64,
    /// Its writer as it claims.
    pub writer: PeerId,
    /// Why it was refused.
    pub reason: RecordError,
}

/// The server's zone disagrees with what this device or its peers signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// At the same token, the server's records differ from what this device
    /// pulled: it deleted, withheld, or injected records after the fact.
    #[error(
        "the server's zone changed without a change: {missing} record(s) missing, {unexpected} unexpected"
    )]
    Diverged {
        /// Records this device holds that the server no longer lists.
        missing: usize,
        /// Records the server lists that its feed never sent.
        unexpected: usize,
    },
    /// A current member signed the zone at this token with another root:
    /// the server withheld, injected or deleted records.
    #[error("the zone differs from the manifest {signer} signed at the same token")]
    ManifestMismatch {
        /// The peer whose manifest disagrees.
        signer: PeerId,
    },
    /// A current member signed a later token than the server admits: the
    /// server withholds changes.
    #[error("{signer} signed the zone at seq {signed}, but the server stops at {served}")]
    Withheld {
        /// The peer.
        signer: PeerId,
        /// The seq it signed.
        signed: u64,
        /// The seq the server served.
        served: u64,
    },
    /// A manifest older than one this device already saw was served.
    #[error("the server served an older manifest of {signer} (counter {served} < {seen})")]
    StaleManifest {
        /// The peer.
        signer: PeerId,
        /// The counter served.
        served: u64,
        /// The highest counter seen.
        seen: u64,
    },
    /// A manifest claiming a current member's name does not verify.
    #[error("a manifest of {0} does not verify")]
    BadManifest(PeerId),
    /// The changes feed ran past the head the server's own manifest
    /// announced (even after a fresh look): a feed that would never end.
    #[error("the server's changes run to seq {served}, past the head {announced} it announced")]
    PastHead {
        /// The seq the feed reached.
        served: u64,
        /// The head the server's manifest gave.
        announced: u64,
    },
    /// More records were refused in one round than any honest zone
    /// explains: the round stops rather than fill the quarantine.
    #[error("the server sent more than {0} records this device refuses in one round")]
    TooManyRefused(usize),
}

/// What one sync round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Records pulled and applied (new versions of items).
    pub pulled: usize,
    /// Records the server saved from this device.
    pub pushed: usize,
    /// Items merged from concurrent edits.
    pub merged: usize,
    /// Fields both sides changed (the losing values are in history).
    pub conflicts: usize,
    /// The items those conflicts were in, each with its fields' names
    /// (custom fields as `custom_field`), in the order met.
    pub conflicted: Vec<(Uuid, Vec<String>)>,
    /// Records refused and kept aside, with the reason.
    pub quarantined: Vec<Quarantined>,
    /// Records refused and dropped for good, reported once: a removed
    /// peer's records past its removal's cut.
    pub dropped: Vec<Quarantined>,
    /// The zone was restored (its epoch changed since this device's last
    /// sync): what this round did about it.
    pub restored: Option<Restored>,
    /// Versions a restored server served older than this device's
    /// ([`RecordError::Rollback`]): refused, and this device's version
    /// uploaded again.
    pub rolled_back: Vec<Quarantined>,
    /// Pairs of items that look like duplicates (same server or service
    /// and account, created on two devices).
    pub duplicates: Vec<(Uuid, Uuid)>,
    /// The token reached.
    pub token: Token,
    /// Requests made.
    pub requests: usize,
    /// Records received from the server (pulled, conflicts and buckets).
    pub records_received: usize,
}

/// Why a sync stopped. Everything committed before the error stays; a
/// later sync resumes.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The vault belongs to no circle.
    #[error("the vault belongs to no circle")]
    NoCircle,
    /// This device is not a current member.
    #[error("this device is not a member of the circle")]
    NotMember,
    /// The network failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server's zone fails verification.
    #[error(transparent)]
    Zone(#[from] ZoneError),
    /// The server kept answering conflicts.
    #[error("the push did not settle after {0} rounds")]
    Unsettled(u32),
    /// The circle could not be loaded.
    #[error(transparent)]
    Circle(#[from] CircleError),
    /// A local item could not be read or sealed.
    #[error(transparent)]
    Item(#[from] ItemError),
    /// SQLite failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rusqlite::Error> for SyncError {
    fn from(e: rusqlite::Error) -> Self {
        SyncError::Storage(e.into())
    }
}

/// The default zone's name.
pub const DEFAULT_ZONE: &str = crate::crypto::DEFAULT_ZONE;

/// A vault's sync state, readable without the password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Local changes waiting to be pushed.
    pub pending: u64,
    /// When the last sync round completed (ms since the Unix epoch).
    pub last_sync_ms: Option<i64>,
    /// The token reached.
    pub token: Token,
    /// Records in quarantine.
    pub quarantined: u64,
    /// When the server last reported that another device signed a
    /// different state of the zone at the same point (ms since the Unix
    /// epoch); `None` since this device's last manifest was stored without
    /// that report.
    pub divergence_ms: Option<i64>,
}
