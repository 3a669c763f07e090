//! The circle from an unlocked vault: this device's identity, the stored
//! and verified log, and the entries and key shares a front end sends.
//! Entries are prepared here, posted by the caller, and stored only once
//! the server's log returns them ([`UnlockedVault::apply_log`]).

pub(crate) mod cuts;
pub(crate) mod db;
mod pending;
mod repost;
mod write;

pub use pending::{PendingAdd, PendingVerdict};
pub use repost::Repost;
pub use write::ShareReport;

use crate::circle::cache::{CircleRow, LogCache};
use crate::circle::{
    ChainError, CircleState, Entry, EntryBody, EntryHash, EpochCommit, KeyShare, MAX_EPOCHS,
    PeerId, PeerKeys, Removal, SealedName, ServerTrust, SignedEntry, entry::check_keys,
};
use crate::crypto::{DeviceIdentity, EpochKey, wrap_vault_key};
use crate::error::CircleError;
use crate::vault::UnlockedVault;
use crate::vault::keyring::Keyring;
use crate::vault::rows::now_ms;
use crate::vault::wrapped;
use rusqlite::{Connection, TransactionBehavior};
use std::cell::RefCell;
use uuid::Uuid;

/// What this device knows of its circle ([`UnlockedVault::circle`]).
#[derive(Debug, Clone)]
pub struct CircleInfo {
    /// The circle's id.
    pub circle_id: Uuid,
    /// The sync server the circle lives on (the first of `servers`).
    pub server_url: String,
    /// Every server this device tries, in order: `server_url`, then the
    /// others of the deployment (`vault circle servers add`).
    pub servers: Vec<String>,
    /// How this device authenticates that server.
    pub trust: ServerTrust,
    /// This device's peer id.
    pub me: PeerId,
    /// Whether this device is a current member.
    pub is_member: bool,
    /// The genesis entry's hash.
    pub genesis: EntryHash,
    /// The stored log's head: seq and hash.
    pub head: (u64, EntryHash),
    /// The chain's current epoch.
    pub epoch: u32,
    /// Epochs the chain names whose key this device lacks.
    pub missing_epochs: Vec<u32>,
    /// The current members, in peer-id order.
    pub members: Vec<MemberInfo>,
    /// The peers removed, in peer-id order.
    pub removed: Vec<MemberInfo>,
    /// The verified state itself.
    pub state: CircleState,
}

/// One peer, with its name opened where this device holds the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its peer id.
    pub peer_id: PeerId,
    /// Its public keys.
    pub keys: PeerKeys,
    /// Its device name; `None` if this device cannot open it.
    pub name: Option<String>,
    /// Who added it.
    pub added_by: PeerId,
    /// When (Unix seconds, the adder's clock).
    pub added_at: i64,
    /// The seq of the entry that added it.
    pub seq: u64,
    /// Its removal, if removed.
    pub removed: Option<Removal>,
    /// Whether it is this device.
    pub is_me: bool,
}

/// A vault's circle as stored (read without a password, so unverified
/// until an unlock re-verifies the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircleSummary {
    /// The circle's id.
    pub circle_id: Uuid,
    /// Its sync server.
    pub server_url: String,
    /// Every server tried, in order (`server_url` first).
    pub servers: Vec<String>,
    /// Whether plain http to a non-loopback server was explicitly allowed
    /// (a warning to show).
    pub insecure_http: bool,
    /// This device's peer id.
    pub peer_id: crate::circle::PeerId,
    /// Current members.
    pub members: u64,
    /// The stored log's head seq.
    pub head_seq: u64,
}

/// A new epoch's vault key, proposed by [`UnlockedVault::prepare_new_epoch`]
/// and kept (wrapped) in the vault until its entry appears in the log.
#[derive(Debug)]
pub struct PendingEpoch {
    key: EpochKey,
}

impl PendingEpoch {
    /// The epoch's number.
    pub fn epoch(&self) -> u32 {
        self.key.number()
    }

    /// The epoch key's uuid.
    pub fn key_uuid(&self) -> Uuid {
        self.key.key_uuid()
    }

    /// The commitment its entry carries.
    pub fn commit(&self) -> EpochCommit {
        EpochCommit::of(&self.key)
    }
}

/// Which vault keys a share carries.
#[derive(Debug, Clone, Copy)]
pub enum ShareEpochs<'a> {
    /// Every epoch this device holds that the chain names (pairing).
    All,
    /// The chain's current epoch.
    Current,
    /// A new epoch this device proposed.
    Pending(&'a PendingEpoch),
}

/// What [`UnlockedVault::apply_log`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogUpdate {
    /// Entries verified and stored.
    pub applied: usize,
    /// The new head: seq and hash.
    pub head: (u64, EntryHash),
    /// Peers added.
    pub added: Vec<PeerId>,
    /// Peers removed.
    pub removed: Vec<PeerId>,
    /// Epochs the entries started.
    pub new_epochs: Vec<u32>,
    /// Epochs whose key this device proposed and now installed.
    pub installed_epochs: Vec<u32>,
    /// Epochs the chain names whose key this device still lacks (it waits
    /// for a share).
    pub missing_epochs: Vec<u32>,
    /// This device was removed by these entries.
    pub removed_me: bool,
}

/// Loads and verifies the stored circle, reusing the cache while the
/// stored row is unchanged.
pub(crate) fn load(
    conn: &Connection,
    cache: &RefCell<Option<LogCache>>,
) -> Result<Option<(CircleRow, CircleState)>, CircleError> {
    let Some(row) = db::read_circle(conn)? else {
        cache.replace(None);
        return Ok(None);
    };
    if let Some(c) = &*cache.borrow()
        && c.row == row
    {
        return Ok(Some((c.row.clone(), c.state.clone())));
    }
    let entries = db::read_log(conn)?
        .iter()
        .map(|(e, s)| SignedEntry::decode(e, s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CircleError::Corrupt("a stored entry does not decode"))?;
    let state = CircleState::verify_chain(Some(row.genesis), &entries)
        .map_err(|_| CircleError::Corrupt("the stored log does not verify"))?;
    if state.head() != (row.head_seq, row.head) || state.circle_id() != row.circle_id {
        return Err(CircleError::Corrupt("the stored head is not the log's"));
    }
    cache.replace(Some(LogCache {
        row: row.clone(),
        state: state.clone(),
    }));
    Ok(Some((row, state)))
}

pub(crate) fn store_cache(cache: &RefCell<Option<LogCache>>, row: CircleRow, state: CircleState) {
    cache.replace(Some(LogCache { row, state }));
}

/// The key of chain epoch `number`, if held and matching the commitment.
pub(crate) fn chain_key<'k>(
    keys: &'k Keyring,
    state: &CircleState,
    number: u32,
) -> Option<&'k EpochKey> {
    let commit = state.epoch(number)?;
    keys.epochs.iter().find(|k| commit.matches(k))
}

/// Epochs the chain names whose key is not held.
pub(crate) fn missing_epochs(keys: &Keyring, state: &CircleState) -> Vec<u32> {
    state
        .epochs()
        .iter()
        .filter(|c| chain_key(keys, state, c.epoch).is_none())
        .map(|c| c.epoch)
        .collect()
}

/// The newest chain epoch held: names are sealed under it.
fn newest_chain_key<'k>(
    keys: &'k Keyring,
    state: &CircleState,
) -> Result<&'k EpochKey, CircleError> {
    state
        .epochs()
        .iter()
        .rev()
        .find_map(|c| chain_key(keys, state, c.epoch))
        .ok_or(CircleError::MissingEpoch(state.current_epoch().epoch))
}

pub(crate) fn now_secs() -> i64 {
    now_ms() / 1000
}

impl UnlockedVault {
    /// This device's identity in the circle (its keys never leave it).
    pub fn device(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// This device's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.identity.peer_id()
    }

    /// Signs a server's authentication challenge for `circle_id`.
    pub fn sign_auth(&self, circle_id: Uuid, challenge: &[u8; 32]) -> [u8; 64] {
        crate::circle::sign_auth(&self.identity, circle_id, challenge)
    }

    /// Checks the head the server gives for its log against the head this
    /// device verified: the log never shrinks, and an entry at a verified
    /// position never changes. Call it after [`UnlockedVault::apply_log`]
    /// with the head of the same answer. Writes nothing.
    pub fn check_log_head(&self, seq: u64, hash: EntryHash) -> Result<(), CircleError> {
        let (_, state) = self.load_circle()?;
        let (verified, head) = state.head();
        if seq < verified {
            return Err(ChainError::Truncated {
                verified,
                served: seq,
            }
            .into());
        }
        if seq == verified && hash != head {
            return Err(ChainError::Fork { seq }.into());
        }
        Ok(())
    }

    pub(crate) fn load_circle(&self) -> Result<(CircleRow, CircleState), CircleError> {
        load(&self.conn, &self.circle)?.ok_or(CircleError::NoCircle)
    }

    /// The circle this vault belongs to, verified from its stored log.
    pub fn circle(&self) -> Result<Option<CircleInfo>, CircleError> {
        let Some((row, state)) = load(&self.conn, &self.circle)? else {
            return Ok(None);
        };
        let me = self.identity.peer_id();
        let info = |(id, m): (&PeerId, &crate::circle::Member)| MemberInfo {
            peer_id: *id,
            keys: m.keys.clone(),
            name: chain_key(&self.keys, &state, m.name.epoch())
                .and_then(|k| m.name.open(k, state.circle_id(), id).ok()),
            added_by: m.added_by,
            added_at: m.added_at,
            seq: m.seq,
            removed: m.removed,
            is_me: *id == me,
        };
        Ok(Some(CircleInfo {
            circle_id: row.circle_id,
            servers: std::iter::once(row.server_url.clone())
                .chain(row.more_servers.iter().cloned())
                .collect(),
            server_url: row.server_url,
            trust: row.trust,
            me,
            is_member: state.is_member(&me),
            genesis: row.genesis,
            head: state.head(),
            epoch: state.current_epoch().epoch,
            missing_epochs: self.missing_epochs(&state),
            members: state.members().map(info).collect(),
            removed: state.removed().map(info).collect(),
            state: state.clone(),
        }))
    }

    pub(crate) fn missing_epochs(&self, state: &CircleState) -> Vec<u32> {
        missing_epochs(&self.keys, state)
    }

    /// A genesis entry for a new circle founded by this device: a random
    /// circle id, this device's name, and commitments to every epoch key
    /// the vault holds. Nothing is stored: post it, then
    /// [`UnlockedVault::create_circle`].
    pub fn prepare_genesis(&mut self, device_name: &str) -> Result<SignedEntry, CircleError> {
        if db::read_circle(&self.conn)?.is_some() {
            return Err(CircleError::AlreadyInCircle);
        }
        let circle_id = uuid::Builder::from_random_bytes(self.rng.array()).into_uuid();
        let me = self.identity.peer_id();
        let mut held: Vec<&EpochKey> = self.keys.epochs.iter().collect();
        held.sort_by_key(|k| k.number());
        let current = self.keys.current().number();
        held.retain(|k| k.number() <= current);
        let skip = held.len().saturating_sub(MAX_EPOCHS);
        let epochs = held[skip..].iter().map(|k| EpochCommit::of(k)).collect();
        let name = SealedName::seal(
            self.keys.current(),
            circle_id,
            &me,
            device_name,
            &mut self.rng,
        )?;
        let entry = Entry {
            circle_id,
            seq: 0,
            prev: EntryHash::ZERO,
            signer: me,
            time: now_secs(),
            body: EntryBody::Genesis {
                founder: self.identity.public(),
                name,
                epochs,
            },
        };
        Ok(entry.sign(&self.identity)?)
    }

    /// The next entry after the stored head, signed by this device and
    /// checked against the circle's rules; not stored.
    fn prepare(
        &mut self,
        state: &CircleState,
        body: EntryBody,
    ) -> Result<SignedEntry, CircleError> {
        let me = self.identity.peer_id();
        if !state.is_member(&me) {
            return Err(CircleError::NotMember);
        }
        let (seq, prev) = state.head();
        let entry = Entry {
            circle_id: state.circle_id(),
            seq: seq + 1,
            prev,
            signer: me,
            time: now_secs(),
            body,
        };
        let signed = entry.sign(&self.identity)?;
        state.clone().apply(&signed)?;
        Ok(signed)
    }

    /// An add-peer entry for a new device (after pairing verified it).
    pub fn prepare_add_peer(
        &mut self,
        peer: &PeerKeys,
        name: &str,
    ) -> Result<SignedEntry, CircleError> {
        let (_, state) = self.load_circle()?;
        check_keys(peer)?;
        let key = newest_chain_key(&self.keys, &state)?;
        let name = SealedName::seal(key, state.circle_id(), &peer.peer_id(), name, &mut self.rng)?;
        let body = EntryBody::AddPeer {
            peer: peer.clone(),
            name,
        };
        self.prepare(&state, body)
    }

    /// Whether a legacy removal (without a cut) is not yet followed by a
    /// new epoch: the removed device still holds the current vault key
    /// (its remover stopped between the two entries). Any member finishes
    /// it with [`UnlockedVault::prepare_new_epoch`].
    pub fn removal_lacks_epoch(&self) -> Result<bool, CircleError> {
        let (_, state) = self.load_circle()?;
        let current = state.current_epoch().epoch;
        let since = state.epoch_seq(current).unwrap_or(0);
        Ok(state
            .removed()
            .filter_map(|(_, m)| m.removed)
            .any(|r| !r.cut && r.seq > since))
    }

    /// A legacy remove-peer entry, without a cut: kept to build and verify
    /// the logs of older versions (servers no longer take it). Remove a
    /// device with [`UnlockedVault::prepare_removal`], which carries the
    /// cut and the new epoch in one entry.
    pub fn prepare_remove_peer(&mut self, peer: &PeerId) -> Result<SignedEntry, CircleError> {
        let (_, state) = self.load_circle()?;
        self.prepare(&state, EntryBody::RemovePeer { peer: *peer })
    }

    /// A new-epoch entry committing to a fresh vault key. The key is kept
    /// (wrapped) in the vault and installed when the entry comes back in
    /// the log; seal it to the other members with [`ShareEpochs::Pending`].
    pub fn prepare_new_epoch(&mut self) -> Result<(SignedEntry, PendingEpoch), CircleError> {
        let (_, state) = self.load_circle()?;
        let key = EpochKey::generate(state.current_epoch().epoch + 1, &mut self.rng);
        let signed = self.prepare(&state, EntryBody::NewEpoch(EpochCommit::of(&key)))?;
        self.keep_pending(&state, key, signed)
    }

    /// Keeps a proposed epoch's key (wrapped) in the vault until its
    /// entry, `signed`, comes back in the log.
    pub(crate) fn keep_pending(
        &mut self,
        state: &CircleState,
        key: EpochKey,
        signed: SignedEntry,
    ) -> Result<(SignedEntry, PendingEpoch), CircleError> {
        let wrapped = wrap_vault_key(&self.keys.kek, &key, state.circle_id(), &mut self.rng);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        wrapped::insert_pending(&tx, &key, &wrapped)?;
        tx.commit()?;
        Ok((signed, PendingEpoch { key }))
    }

    /// Seals vault keys to a current member.
    pub fn seal_share(
        &mut self,
        recipient: &PeerId,
        which: ShareEpochs<'_>,
    ) -> Result<KeyShare, CircleError> {
        let (_, state) = self.load_circle()?;
        if !state.is_member(&self.identity.peer_id()) {
            return Err(CircleError::NotMember);
        }
        let to = state
            .member(recipient)
            .ok_or(CircleError::UnknownPeer(*recipient))?
            .keys
            .clone();
        let current = state.current_epoch().epoch;
        let keys: Vec<&EpochKey> = match which {
            ShareEpochs::All => {
                if chain_key(&self.keys, &state, current).is_none() {
                    return Err(CircleError::MissingEpoch(current));
                }
                let held: Vec<&EpochKey> = state
                    .epochs()
                    .iter()
                    .filter_map(|c| chain_key(&self.keys, &state, c.epoch))
                    .collect();
                held[held.len().saturating_sub(MAX_EPOCHS)..].to_vec()
            }
            ShareEpochs::Current => vec![
                chain_key(&self.keys, &state, current).ok_or(CircleError::MissingEpoch(current))?,
            ],
            ShareEpochs::Pending(p) => vec![&p.key],
        };
        Ok(KeyShare::seal(
            &self.identity,
            &to,
            state.circle_id(),
            &keys,
            &mut self.rng,
        )?)
    }
}
