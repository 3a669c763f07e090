//! Builds signed circle logs for tests and benchmarks.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use uuid::Uuid;
use vault_core::circle::{
    Entry, EntryBody, EntryHash, EpochCommit, PeerId, PeerKeys, SealedName, SignedEntry,
};
use vault_core::crypto::{DeviceIdentity, EpochKey, VaultRng};

pub struct Chain {
    pub circle_id: Uuid,
    pub entries: Vec<SignedEntry>,
    pub ids: Vec<DeviceIdentity>,
    pub keys: Vec<EpochKey>,
    pub rng: VaultRng,
}

impl Chain {
    /// A circle founded by `ids[0]` with one epoch.
    pub fn new() -> Chain {
        let mut rng = VaultRng::new().unwrap();
        let founder = DeviceIdentity::generate(&mut rng);
        let key = EpochKey::generate(1, &mut rng);
        let circle_id = Uuid::new_v4();
        let name =
            SealedName::seal(&key, circle_id, &founder.peer_id(), "founder", &mut rng).unwrap();
        let genesis = vault_core::circle::Entry::sign(
            Entry {
                circle_id,
                seq: 0,
                prev: EntryHash::ZERO,
                signer: founder.peer_id(),
                time: 1_700_000_000,
                body: EntryBody::Genesis {
                    founder: founder.public(),
                    name,
                    epochs: vec![EpochCommit::of(&key)],
                },
            },
            &founder,
        )
        .unwrap();
        Chain {
            circle_id,
            entries: vec![genesis],
            ids: vec![founder],
            keys: vec![key],
            rng,
        }
    }

    pub fn head(&self) -> EntryHash {
        self.entries.last().unwrap().hash()
    }

    pub fn id(&self, i: usize) -> PeerId {
        self.ids[i].peer_id()
    }

    /// The next entry signed by `ids[by]`, not yet pushed.
    pub fn next(&self, by: usize, body: EntryBody) -> SignedEntry {
        self.sign_as(&self.ids[by], body)
    }

    pub fn sign_as(&self, who: &DeviceIdentity, body: EntryBody) -> SignedEntry {
        vault_core::circle::Entry::sign(
            Entry {
                circle_id: self.circle_id,
                seq: self.entries.len() as u64,
                prev: self.head(),
                signer: who.peer_id(),
                time: 1_700_000_000 + self.entries.len() as i64,
                body,
            },
            who,
        )
        .unwrap()
    }

    pub fn add_body(&mut self, peer: &PeerKeys) -> EntryBody {
        let key = self.keys.last().unwrap();
        let name =
            SealedName::seal(key, self.circle_id, &peer.peer_id(), "peer", &mut self.rng).unwrap();
        EntryBody::AddPeer {
            peer: peer.clone(),
            name,
        }
    }

    /// `ids[by]` adds a fresh device; returns its index.
    pub fn add(&mut self, by: usize) -> usize {
        let peer = DeviceIdentity::generate(&mut self.rng);
        let body = self.add_body(&peer.public());
        let e = self.next(by, body);
        self.entries.push(e);
        self.ids.push(peer);
        self.ids.len() - 1
    }

    pub fn remove(&mut self, by: usize, who: usize) {
        let e = self.next(by, EntryBody::RemovePeer { peer: self.id(who) });
        self.entries.push(e);
    }

    pub fn new_epoch(&mut self, by: usize) {
        let n = self.keys.last().unwrap().number() + 1;
        let key = EpochKey::generate(n, &mut self.rng);
        let e = self.next(by, EntryBody::NewEpoch(EpochCommit::of(&key)));
        self.entries.push(e);
        self.keys.push(key);
    }

    /// A log of about `n` entries: adds, removals and new epochs, the
    /// founder staying a member throughout.
    pub fn long(n: usize) -> Chain {
        let mut c = Chain::new();
        let mut live: Vec<usize> = vec![0];
        while c.entries.len() < n {
            match c.entries.len() % 4 {
                0 | 1 => {
                    let by = live[c.entries.len() % live.len()];
                    live.push(c.add(by));
                }
                2 if live.len() > 3 => {
                    let who = live.remove(1);
                    c.remove(*live.last().unwrap(), who);
                }
                _ => c.new_epoch(live[c.entries.len() % live.len()]),
            }
        }
        c
    }
}

/// Re-decodes an entry with replaced bytes and the same signature.
pub fn with_bytes(e: &SignedEntry, bytes: &[u8]) -> SignedEntry {
    SignedEntry::decode(bytes, e.signature()).unwrap()
}

/// The same entry with another signature.
pub fn with_signature(e: &SignedEntry, sig: &[u8; 64]) -> SignedEntry {
    SignedEntry::decode(e.entry_bytes(), sig).unwrap()
}
