//! The rows the storage interface takes and returns: circle log entries,
//! members and their changes, sessions, shares, invites and the relay,
//! counts and purges.

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
