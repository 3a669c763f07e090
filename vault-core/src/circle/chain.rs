//! Verifying the circle log: the membership rules, applied entry by entry,
//! with the signatures of a whole batch checked in parallel.
//! (Over 500 lines: the membership rules are one state machine, read best in one file.)

use super::entry::{EntryBody, EpochCommit, SealedName, SignedEntry};
use super::ids::{EntryHash, PeerId, PeerKeys};
use crate::crypto::{Namespace, VerifyingKey};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a log did not verify. Each names the `seq` of the first entry
/// (in log order) that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// No entries were given where a genesis was needed.
    #[error("the log is empty")]
    Empty,
    /// The first entry is not a genesis, or a genesis appears later.
    #[error("entry {seq}: expected the genesis entry first, and only first")]
    NotGenesis {
        /// The entry's seq.
        seq: u64,
    },
    /// The genesis is well formed but not the one this device knows.
    #[error("the genesis is {found}, expected {expected}")]
    GenesisMismatch {
        /// The genesis hash the caller expected.
        expected: EntryHash,
        /// The genesis hash found.
        found: EntryHash,
    },
    /// A genesis that breaks its own rules.
    #[error("entry {seq}: bad genesis: {reason}")]
    BadGenesis {
        /// The entry's seq.
        seq: u64,
        /// Which rule.
        reason: &'static str,
    },
    /// The entry belongs to another circle.
    #[error("entry {seq} belongs to another circle")]
    WrongCircle {
        /// The entry's seq.
        seq: u64,
    },
    /// An entry is missing: the seq jumps ahead.
    #[error("entry {expected} is missing (found {found})")]
    Gap {
        /// The seq that should come next.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// An entry comes again or out of order.
    #[error("entry {found} is out of order (expected {expected})")]
    Reordered {
        /// The seq that should come next.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// The entry's `prev` is not the previous entry's hash.
    #[error("entry {seq} does not chain to its predecessor")]
    PrevMismatch {
        /// The entry's seq.
        seq: u64,
    },
    /// The signer is not a current member.
    #[error("entry {seq} is signed by {signer}, not a current member")]
    NotAMember {
        /// The entry's seq.
        seq: u64,
        /// Who signed it.
        signer: PeerId,
    },
    /// The signature does not verify against the signer's key.
    #[error("entry {seq} has a bad signature")]
    BadSignature {
        /// The entry's seq.
        seq: u64,
    },
    /// A key in the entry is weak or invalid.
    #[error("entry {seq} carries a weak key")]
    WeakKey {
        /// The entry's seq.
        seq: u64,
    },
    /// An add-peer of a peer that is or ever was a member.
    #[error("entry {seq} adds {peer}, who is or was already a member")]
    AlreadyMember {
        /// The entry's seq.
        seq: u64,
        /// The peer added.
        peer: PeerId,
    },
    /// A remove-peer of a peer that is not a current member.
    #[error("entry {seq} removes {peer}, who is not a current member")]
    NotMember {
        /// The entry's seq.
        seq: u64,
        /// The peer named.
        peer: PeerId,
    },
    /// A remove-peer that would leave the circle empty.
    #[error("entry {seq} removes the last member")]
    LastMember {
        /// The entry's seq.
        seq: u64,
    },
    /// An entry at a seq already verified differs from the one verified
    /// there: the server forked the log.
    #[error("entry {seq} differs from the one already verified at that position")]
    Fork {
        /// The entry's seq.
        seq: u64,
    },
    /// The server's log ends before the head this device verified: it
    /// dropped entries (the log only ever grows).
    #[error(
        "the server's log ends at entry {served}, before entry {verified} this device verified"
    )]
    Truncated {
        /// The head this device verified.
        verified: u64,
        /// The head the server gave.
        served: u64,
    },
    /// A new epoch whose number is not the current one plus one, or whose
    /// key uuid an earlier epoch already used.
    #[error("entry {seq}: epoch {found} does not follow epoch {current}")]
    EpochOrder {
        /// The entry's seq.
        seq: u64,
        /// The current epoch.
        current: u32,
        /// The epoch named.
        found: u32,
    },
}

/// A peer as the log describes it.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its public keys.
    pub keys: PeerKeys,
    /// Its device name, sealed under a vault key.
    pub name: SealedName,
    /// Who added it (the founder added itself).
    pub added_by: PeerId,
    /// When (the signer's clock, Unix seconds).
    pub added_at: i64,
    /// The seq of the entry that added it.
    pub seq: u64,
    /// Its removal, if it was removed.
    pub removed: Option<Removal>,
    /// Its decoded Ed25519 key; `None` until the batch that added it has
    /// decoded its new keys.
    verifying: Option<VerifyingKey>,
}

/// The entry that removed a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    /// Who removed it.
    pub by: PeerId,
    /// When (the signer's clock, Unix seconds).
    pub at: i64,
    /// The seq of the removing entry.
    pub seq: u64,
    /// Whether the entry carries a cut (a removal entry): the peer's
    /// records are those on the cut's list. A legacy remove-peer has none.
    pub cut: bool,
}

impl Member {
    /// Whether the peer was a member when entry `seq` was appended.
    pub fn member_at(&self, seq: u64) -> bool {
        self.seq <= seq && self.removed.is_none_or(|r| seq < r.seq)
    }
}

/// The circle as a verified log prefix describes it.
#[derive(Debug, Clone)]
pub struct CircleState {
    circle_id: Uuid,
    genesis: EntryHash,
    head_seq: u64,
    head: EntryHash,
    peers: BTreeMap<PeerId, Member>,
    epochs: Vec<EpochCommit>,
    /// The seq of the entry that named each of `epochs`.
    epoch_seqs: Vec<u64>,
}

/// Below this many items per thread, threads cost more than they save.
const PARALLEL_MIN: usize = 32;

/// The key an entry must be signed by.
#[derive(Clone, Copy)]
enum Signer {
    /// Decoded earlier.
    Known(VerifyingKey),
    /// Added by this batch: index into [`Batch::new_keys`].
    New(usize),
}

/// What the sequential pass over a batch leaves for the parallel one.
#[derive(Default)]
struct Batch<'e> {
    /// (seq of the add-peer entry, peer id, Ed25519 key bytes) to decode.
    new_keys: Vec<(u64, PeerId, [u8; 32])>,
    /// Peer id → index into `new_keys`.
    index: std::collections::HashMap<PeerId, usize>,
    /// Each entry with the key that must have signed it.
    jobs: Vec<(Signer, &'e SignedEntry)>,
}

impl CircleState {
    /// Verifies a whole log from its genesis. With `expected_genesis`, the
    /// first entry's hash must be that one.
    pub fn verify_chain(
        expected_genesis: Option<EntryHash>,
        entries: &[SignedEntry],
    ) -> Result<CircleState, ChainError> {
        let (first, rest) = entries.split_first().ok_or(ChainError::Empty)?;
        let (mut state, key) = Self::from_genesis(first)?;
        if let Some(expected) = expected_genesis
            && expected != first.hash()
        {
            return Err(ChainError::GenesisMismatch {
                expected,
                found: first.hash(),
            });
        }
        let mut batch = Batch::default();
        batch.jobs.push((Signer::Known(key), first));
        let structural = state.check_all(rest, &mut batch);
        state.finish(batch)?;
        structural.map(|()| state)
    }

    /// Verifies one more entry and applies it; on error the state is unchanged.
    pub fn apply(&mut self, entry: &SignedEntry) -> Result<(), ChainError> {
        self.apply_all(std::slice::from_ref(entry))
    }

    /// Verifies entries that follow the head and applies them all, or none
    /// (on error the state is unchanged).
    pub fn apply_all(&mut self, entries: &[SignedEntry]) -> Result<(), ChainError> {
        let mut next = self.clone();
        let mut batch = Batch::default();
        let structural = next.check_all(entries, &mut batch);
        next.finish(batch)?;
        structural?;
        *self = next;
        Ok(())
    }

    /// Decodes the keys the batch added and checks its signatures, both in
    /// parallel; reports the first failure in log order, and fills in the
    /// decoded keys of the members the batch added.
    fn finish(&mut self, batch: Batch<'_>) -> Result<(), ChainError> {
        let decoded = parallel_map(&batch.new_keys, PARALLEL_MIN, |(_, _, bytes)| {
            VerifyingKey::decode(bytes).ok()
        });
        let weak = batch
            .new_keys
            .iter()
            .zip(&decoded)
            .find(|(_, k)| k.is_none())
            .map(|((seq, _, _), _)| *seq);
        let bad = parallel_map(&batch.jobs, PARALLEL_MIN, |(signer, e)| {
            let key = match signer {
                Signer::Known(k) => Some(k),
                Signer::New(i) => decoded[*i].as_ref(),
            };
            // A signer whose key did not decode fails at its add-peer entry.
            key.is_some_and(|k| !verify_one(k, e))
        });
        let bad = batch
            .jobs
            .iter()
            .zip(bad)
            .find(|(_, bad)| *bad)
            .map(|((_, e), _)| e.entry().seq);
        match (weak, bad) {
            (Some(w), Some(b)) if b < w => return Err(ChainError::BadSignature { seq: b }),
            (Some(w), _) => return Err(ChainError::WeakKey { seq: w }),
            (None, Some(b)) => return Err(ChainError::BadSignature { seq: b }),
            (None, None) => {}
        }
        for ((_, id, _), key) in batch.new_keys.iter().zip(decoded) {
            if let Some(m) = self.peers.get_mut(id) {
                m.verifying = key;
            }
        }
        Ok(())
    }

    fn from_genesis(e: &SignedEntry) -> Result<(CircleState, VerifyingKey), ChainError> {
        let entry = e.entry();
        let seq = entry.seq;
        let EntryBody::Genesis {
            founder,
            name,
            epochs,
        } = &entry.body
        else {
            return Err(ChainError::NotGenesis { seq });
        };
        let bad = |reason| Err(ChainError::BadGenesis { seq, reason });
        if seq != 0 {
            return bad("seq is not 0");
        }
        if entry.prev != EntryHash::ZERO {
            return bad("prev is not zero");
        }
        if entry.signer != founder.peer_id() {
            return bad("the signer is not the founder");
        }
        if epochs.is_empty() {
            return bad("no epochs");
        }
        if epochs.windows(2).any(|w| w[0].epoch >= w[1].epoch) {
            return bad("epochs are not increasing");
        }
        if has_duplicate_uuid(epochs) {
            return bad("an epoch key uuid repeats");
        }
        let verifying = verifying_key(founder, seq)?;
        let founder_id = founder.peer_id();
        let mut peers = BTreeMap::new();
        peers.insert(
            founder_id,
            Member {
                keys: founder.clone(),
                name: name.clone(),
                added_by: founder_id,
                added_at: entry.time,
                seq,
                removed: None,
                verifying: Some(verifying),
            },
        );
        let state = CircleState {
            circle_id: entry.circle_id,
            genesis: e.hash(),
            head_seq: 0,
            head: e.hash(),
            peers,
            epoch_seqs: vec![0; epochs.len()],
            epochs: epochs.clone(),
        };
        Ok((state, verifying))
    }

    /// Applies each entry's structural and membership rules, queueing its
    /// signature check; stops at the first entry that breaks a rule.
    fn check_all<'e>(
        &mut self,
        entries: &'e [SignedEntry],
        batch: &mut Batch<'e>,
    ) -> Result<(), ChainError> {
        for e in entries {
            let signer = self.check(e, batch)?;
            batch.jobs.push((signer, e));
        }
        Ok(())
    }

    /// Applies one entry (not its signature, nor the decoding of the keys
    /// it adds, which [`CircleState::finish`] does in parallel): returns
    /// the key that must have signed it.
    fn check(&mut self, e: &SignedEntry, batch: &mut Batch<'_>) -> Result<Signer, ChainError> {
        let entry = e.entry();
        let seq = entry.seq;
        let expected = self.head_seq + 1;
        if seq > expected {
            return Err(ChainError::Gap {
                expected,
                found: seq,
            });
        }
        if seq < expected {
            return Err(ChainError::Reordered {
                expected,
                found: seq,
            });
        }
        if entry.circle_id != self.circle_id {
            return Err(ChainError::WrongCircle { seq });
        }
        if entry.prev != self.head {
            return Err(ChainError::PrevMismatch { seq });
        }
        let signer = entry.signer;
        let key = match self.member(&signer) {
            Some(m) => match (m.verifying, batch.index.get(&signer)) {
                (Some(k), _) => Signer::Known(k),
                (None, Some(&i)) => Signer::New(i),
                // Every member's key is decoded by the batch that added it.
                (None, None) => return Err(ChainError::WeakKey { seq: m.seq }),
            },
            None => return Err(ChainError::NotAMember { seq, signer }),
        };
        match &entry.body {
            EntryBody::Genesis { .. } => return Err(ChainError::NotGenesis { seq }),
            EntryBody::AddPeer { peer, name } => {
                let id = peer.peer_id();
                if self.peers.contains_key(&id) {
                    return Err(ChainError::AlreadyMember { seq, peer: id });
                }
                if peer.agreement == [0; 32] {
                    return Err(ChainError::WeakKey { seq });
                }
                batch.index.insert(id, batch.new_keys.len());
                batch.new_keys.push((seq, id, peer.signing));
                self.peers.insert(
                    id,
                    Member {
                        keys: peer.clone(),
                        name: name.clone(),
                        added_by: signer,
                        added_at: entry.time,
                        seq,
                        removed: None,
                        verifying: None,
                    },
                );
            }
            EntryBody::RemovePeer { peer } => self.remove(seq, entry.time, signer, peer, false)?,
            EntryBody::Removal { peer, epoch, .. } => {
                self.remove(seq, entry.time, signer, peer, true)?;
                self.push_epoch(seq, epoch)?;
            }
            EntryBody::NewEpoch(c) => self.push_epoch(seq, c)?,
        }
        self.head_seq = seq;
        self.head = e.hash();
        Ok(key)
    }

    /// Marks `peer` removed by entry `seq`.
    fn remove(
        &mut self,
        seq: u64,
        at: i64,
        by: PeerId,
        peer: &PeerId,
        cut: bool,
    ) -> Result<(), ChainError> {
        if self.member(peer).is_none() {
            return Err(ChainError::NotMember { seq, peer: *peer });
        }
        if self.members().count() == 1 {
            return Err(ChainError::LastMember { seq });
        }
        if let Some(m) = self.peers.get_mut(peer) {
            m.removed = Some(Removal { by, at, seq, cut });
        }
        Ok(())
    }

    /// Makes `c` the current epoch: it must be the current one plus one,
    /// with a key uuid no earlier epoch used.
    fn push_epoch(&mut self, seq: u64, c: &EpochCommit) -> Result<(), ChainError> {
        let current = self.current_epoch().epoch;
        if current.checked_add(1) != Some(c.epoch)
            || self.epochs.iter().any(|e| e.key_uuid == c.key_uuid)
        {
            return Err(ChainError::EpochOrder {
                seq,
                current,
                found: c.epoch,
            });
        }
        self.epochs.push(*c);
        self.epoch_seqs.push(seq);
        Ok(())
    }

    /// The circle's id.
    pub fn circle_id(&self) -> Uuid {
        self.circle_id
    }

    /// The genesis entry's hash.
    pub fn genesis(&self) -> EntryHash {
        self.genesis
    }

    /// The last verified entry: its seq and hash.
    pub fn head(&self) -> (u64, EntryHash) {
        (self.head_seq, self.head)
    }

    /// The current members, by peer id.
    pub fn members(&self) -> impl Iterator<Item = (&PeerId, &Member)> {
        self.peers.iter().filter(|(_, m)| m.removed.is_none())
    }

    /// The peers that were removed, by peer id.
    pub fn removed(&self) -> impl Iterator<Item = (&PeerId, &Member)> {
        self.peers.iter().filter(|(_, m)| m.removed.is_some())
    }

    /// A current member.
    pub fn member(&self, peer: &PeerId) -> Option<&Member> {
        self.peers.get(peer).filter(|m| m.removed.is_none())
    }

    /// A peer that is or ever was a member.
    pub fn peer(&self, peer: &PeerId) -> Option<&Member> {
        self.peers.get(peer)
    }

    /// Whether `peer` is a current member.
    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.member(peer).is_some()
    }

    /// The current (newest) epoch's commitment.
    pub fn current_epoch(&self) -> &EpochCommit {
        self.epochs
            .last()
            .expect("a verified genesis names at least one epoch")
    }

    /// Every epoch's commitment, oldest first.
    pub fn epochs(&self) -> &[EpochCommit] {
        &self.epochs
    }

    /// The commitment of epoch `number`.
    pub fn epoch(&self, number: u32) -> Option<&EpochCommit> {
        self.epochs.iter().find(|c| c.epoch == number)
    }

    /// The seq of the entry that named epoch `number` (0 for the genesis's).
    pub fn epoch_seq(&self, number: u32) -> Option<u64> {
        let i = self.epochs.iter().position(|c| c.epoch == number)?;
        Some(self.epoch_seqs[i])
    }
}

fn has_duplicate_uuid(epochs: &[EpochCommit]) -> bool {
    let mut seen = std::collections::HashSet::new();
    !epochs.iter().all(|c| seen.insert(c.key_uuid))
}

fn verifying_key(keys: &PeerKeys, seq: u64) -> Result<VerifyingKey, ChainError> {
    if keys.agreement == [0; 32] {
        return Err(ChainError::WeakKey { seq });
    }
    VerifyingKey::decode(&keys.signing).map_err(|_| ChainError::WeakKey { seq })
}

fn verify_one(key: &VerifyingKey, e: &SignedEntry) -> bool {
    key.verify(Namespace::CircleEntry, &[e.entry_bytes()], e.signature())
        .is_ok()
}

/// Maps `f` over `items`, split across `available_parallelism()` threads
/// when each gets at least `min_per_thread` items (enough to pay for it).
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len() / min_per_thread.max(1))
        .max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}
