//! An in-memory sync server with the real server's rules (per-zone
//! sequence, change-tag concurrency, manifests, tombstone collection), and
//! circles of vaults on it, so the engine's tests run deterministically.
//! Faults and a malicious server are made by editing its state directly.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

mod cut;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use uuid::Uuid;
use vault_core::circle::{EntryHash, PeerId, ServerTrust, SignedEntry};
use vault_core::sync::{
    ChangesPage, Leaf, Manifest, Progress, PushReply, PushResult, ServerManifest, SignedManifest,
    SyncReport, TaggedRecord, Token, Transport, TransportError,
};
use vault_core::{KdfParams, ShareEpochs, UnlockedVault, Vault};

pub const ZONE: &str = "keychain";
const URL: &str = "http://sync.test";

#[derive(Default)]
pub struct Server {
    pub log: Vec<SignedEntry>,
    pub epoch: u32,
    pub seq: u64,
    pub gc_seq: u64,
    /// uuid → the current record (tag = its seq).
    pub records: BTreeMap<Uuid, TaggedRecord>,
    pub manifests: BTreeMap<PeerId, SignedManifest>,
    /// Calls before the next call fails (None: never).
    pub fail_in: Option<usize>,
    /// The failing call still takes effect; only its reply is lost.
    pub lose_reply: bool,
    /// Records sent to devices (pages, conflicts, buckets).
    pub records_sent: usize,
    pub requests: usize,
    /// Answer every changes request with an empty page that says more
    /// follows (a server trying to keep a device pulling forever).
    pub endless: bool,
    /// The progress the engine reported, in order.
    pub progress: Vec<Progress>,
    /// The next push is saved, its answer lost, and the same batch sent
    /// again (what a client's retry on a new connection does): the engine
    /// gets the second answer.
    pub push_twice: bool,
    /// Removal cut lists beside the log: (removal seq, zone) → list bytes.
    pub cuts: BTreeMap<(u64, String), Vec<u8>>,
    /// Serve no cut lists.
    pub withhold_cuts: bool,
    /// After this many more changes pages, tombstones are collected up to
    /// the seq given (a read begun below it then gets `TokenExpired`).
    pub collect_after_pages: Option<(usize, u64)>,
}

impl Server {
    pub fn new() -> Rc<RefCell<Server>> {
        Rc::new(RefCell::new(Server {
            epoch: 1,
            ..Default::default()
        }))
    }

    fn manifest(&self) -> Manifest {
        let leaves: Vec<Leaf> = self
            .records
            .values()
            .filter(|t| !t.record.tomb())
            .map(|t| Leaf {
                uuid: t.record.uuid(),
                gencount: t.record.gencount(),
                content: t.record.content_hash(),
            })
            .collect();
        Manifest::of(&leaves)
    }

    fn token(&self) -> Token {
        Token {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    /// Collects tombstones every current member's manifest has passed.
    fn collect(&mut self, members: &[PeerId]) {
        let seqs: Option<Vec<u64>> = members
            .iter()
            .map(|p| self.manifests.get(p).map(|m| m.token.seq))
            .collect();
        if let Some(min) = seqs.and_then(|s| s.into_iter().min()) {
            self.records
                .retain(|_, t| !(t.record.tomb() && t.tag <= min));
            self.gc_seq = self.gc_seq.max(min.min(self.seq));
        }
    }

    /// Counts a call and applies the fault plan: `Err` before the call
    /// takes effect, or `Ok(true)` if its reply must be lost after.
    fn enter(&mut self) -> Result<bool, TransportError> {
        self.requests += 1;
        match self.fail_in {
            Some(0) => {
                self.fail_in = None;
                if self.lose_reply {
                    Ok(true)
                } else {
                    Err(dropped())
                }
            }
            Some(n) => {
                self.fail_in = Some(n - 1);
                Ok(false)
            }
            None => Ok(false),
        }
    }
}

fn dropped() -> TransportError {
    TransportError::Unreachable("connection dropped".into())
}

/// One device's connection to the server.
pub struct Conn {
    pub server: Rc<RefCell<Server>>,
    pub me: PeerId,
    pub members: Vec<PeerId>,
}

impl Transport for Conn {
    fn changes(
        &mut self,
        _: &str,
        since: Token,
        after: u64,
        limit: u32,
    ) -> Result<ChangesPage, TransportError> {
        let mut s = self.server.borrow_mut();
        let lose = s.enter()?;
        if s.endless {
            return Ok(ChangesPage {
                token: Token {
                    epoch: s.epoch,
                    seq: after,
                },
                more: true,
                records: Vec::new(),
            });
        }
        let stale = since.epoch != s.epoch || since.seq < s.gc_seq || since.seq > s.seq;
        if (since.seq != 0 && stale) || after > s.seq {
            return Err(TransportError::TokenExpired);
        }
        let mut recs: Vec<TaggedRecord> = s
            .records
            .values()
            .filter(|t| t.tag > after.max(since.seq))
            .cloned()
            .collect();
        recs.sort_by_key(|t| t.tag);
        let more = recs.len() > limit as usize;
        recs.truncate(limit as usize);
        let token = Token {
            epoch: s.epoch,
            seq: if more {
                recs.last().unwrap().tag
            } else {
                s.seq
            },
        };
        s.records_sent += recs.len();
        s.collect_after_pages = match s.collect_after_pages {
            Some((n, gc)) if n <= 1 => {
                s.gc_seq = s.gc_seq.max(gc);
                None
            }
            Some((n, gc)) => Some((n - 1, gc)),
            None => None,
        };
        if lose {
            return Err(dropped());
        }
        Ok(ChangesPage {
            token,
            more,
            records: recs,
        })
    }

    fn push(&mut self, _: &str, records: &[TaggedRecord]) -> Result<PushReply, TransportError> {
        let mut s = self.server.borrow_mut();
        let lose = s.enter()?;
        let mut results = Vec::new();
        for t in records {
            assert_eq!(t.record.writer(), self.me, "the server checks the writer");
            let uuid = t.record.uuid();
            let ok = match s.records.get(&uuid) {
                None => t.tag == 0,
                Some(c) => c.tag == t.tag && t.record.gencount() > c.record.gencount(),
            };
            if ok {
                s.seq += 1;
                let seq = s.seq;
                s.records.insert(
                    uuid,
                    TaggedRecord {
                        tag: seq,
                        record: t.record.clone(),
                    },
                );
                results.push(PushResult::Saved { uuid, seq });
            } else {
                let current = s.records.get(&uuid).cloned().map(Box::new);
                s.records_sent += usize::from(current.is_some());
                results.push(PushResult::Conflict { uuid, current });
            }
        }
        if lose {
            return Err(dropped());
        }
        if std::mem::take(&mut s.push_twice) {
            drop(s);
            return self.push(ZONE, records);
        }
        Ok(PushReply {
            token: s.token(),
            results,
        })
    }

    fn manifest(&mut self, _: &str, buckets: bool) -> Result<ServerManifest, TransportError> {
        let mut s = self.server.borrow_mut();
        s.enter()?;
        let m = s.manifest();
        Ok(ServerManifest {
            token: s.token(),
            root: m.root(),
            count: s.records.values().filter(|t| !t.record.tomb()).count() as u64,
            buckets: buckets.then_some(m),
            manifests: s.manifests.values().cloned().collect(),
        })
    }

    fn buckets(&mut self, _: &str, ids: &[u8]) -> Result<Vec<TaggedRecord>, TransportError> {
        let mut s = self.server.borrow_mut();
        s.enter()?;
        let out: Vec<TaggedRecord> = s
            .records
            .values()
            .filter(|t| !t.record.tomb() && ids.contains(&t.record.uuid().as_bytes()[0]))
            .cloned()
            .collect();
        s.records_sent += out.len();
        Ok(out)
    }

    fn peer_manifests(&mut self, _: &str) -> Result<Vec<SignedManifest>, TransportError> {
        let mut s = self.server.borrow_mut();
        s.enter()?;
        Ok(s.manifests.values().cloned().collect())
    }

    fn put_manifest(&mut self, _: &str, m: &SignedManifest) -> Result<bool, TransportError> {
        let mut s = self.server.borrow_mut();
        s.enter()?;
        if s.manifests
            .get(&m.signer)
            .is_some_and(|old| old.counter >= m.counter)
        {
            return Err(TransportError::Status {
                status: 409,
                code: "conflict".into(),
            });
        }
        // Divergent, as the real server judges it: another current
        // member's manifest at the same token with another root.
        let divergent = s.manifests.values().any(|o| {
            o.signer != m.signer
                && self.members.contains(&o.signer)
                && o.token == m.token
                && o.root != m.root
        });
        s.manifests.insert(m.signer, m.clone());
        let members = self.members.clone();
        s.collect(&members);
        Ok(divergent)
    }

    fn progress(&mut self, progress: Progress) {
        self.server.borrow_mut().progress.push(progress);
    }
}

/// A device: its vault file and handle.
pub struct Device {
    pub path: PathBuf,
    pub vault: UnlockedVault,
}

/// A circle of devices on one in-memory server.
pub struct Circle {
    pub dir: tempfile::TempDir,
    pub server: Rc<RefCell<Server>>,
    pub devices: Vec<Device>,
}

impl Circle {
    /// `n` devices paired into one circle (device 0 founded it).
    pub fn new(n: usize) -> Circle {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::new();
        let mut devices = Vec::new();
        for i in 0..n {
            let path = dir.path().join(format!("d{i}.vault"));
            let vault = Vault::create(&path, "pw", KdfParams::insecure_for_tests_only(1)).unwrap();
            devices.push(Device { path, vault });
        }
        let mut c = Circle {
            dir,
            server,
            devices,
        };
        let g = c.devices[0].vault.prepare_genesis("d0").unwrap();
        c.devices[0]
            .vault
            .create_circle(URL, &ServerTrust::default(), &g)
            .unwrap();
        c.server.borrow_mut().log.push(g);
        for i in 1..n {
            c.pair(i);
        }
        c
    }

    fn genesis(&self) -> EntryHash {
        self.server.borrow().log[0].hash()
    }

    /// Brings device `i`'s circle log up to the server's.
    pub fn refresh(&mut self, i: usize) {
        let head = self.devices[i].vault.circle().unwrap().unwrap().head.0;
        let log = self.server.borrow().log.clone();
        let after = &log[(head as usize + 1).min(log.len())..];
        if !after.is_empty() {
            self.devices[i].vault.apply_log(after).unwrap();
        }
        let cuts = if self.server.borrow().withhold_cuts {
            BTreeMap::new()
        } else {
            self.server.borrow().cuts.clone()
        };
        for (seq, zone) in self.devices[i].vault.missing_cut_lists().unwrap() {
            if let Some(list) = cuts.get(&(seq, zone)) {
                self.devices[i].vault.store_cut_list(seq, list).unwrap();
            }
        }
    }

    /// A new device with an empty vault, paired into the circle; returns
    /// its index.
    pub fn add_device(&mut self) -> usize {
        let path = self
            .dir
            .path()
            .join(format!("d{}.vault", self.devices.len()));
        let vault = Vault::create(&path, "pw", KdfParams::insecure_for_tests_only(1)).unwrap();
        self.devices.push(Device { path, vault });
        let i = self.devices.len() - 1;
        self.pair(i);
        i
    }

    /// Device 0 adds device `i`, which joins.
    pub fn pair(&mut self, i: usize) {
        self.refresh(0);
        let keys = self.devices[i].vault.device().public();
        let add = self.devices[0]
            .vault
            .prepare_add_peer(&keys, &format!("d{i}"))
            .unwrap();
        self.server.borrow_mut().log.push(add);
        self.refresh(0);
        let joiner = self.devices[i].vault.peer_id();
        let share = self.devices[0]
            .vault
            .seal_share(&joiner, ShareEpochs::All)
            .unwrap();
        let log = self.server.borrow().log.clone();
        let genesis = self.genesis();
        let inviter = self.devices[0].vault.peer_id();
        self.devices[i]
            .vault
            .join_circle(
                URL,
                &ServerTrust::default(),
                genesis,
                &log,
                &share,
                &inviter,
            )
            .unwrap();
    }

    /// Device `by` removes device `who` and starts a new epoch shared with
    /// the others.
    pub fn remove(&mut self, by: usize, who: usize) {
        self.refresh(by);
        let peer = self.devices[who].vault.peer_id();
        let rm = self.devices[by].vault.prepare_remove_peer(&peer).unwrap();
        self.server.borrow_mut().log.push(rm);
        self.refresh(by);
        let (entry, pending) = self.devices[by].vault.prepare_new_epoch().unwrap();
        let mut shares = Vec::new();
        let peers: Vec<(usize, PeerId)> = self
            .devices
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != by && *i != who)
            .map(|(i, d)| (i, d.vault.peer_id()))
            .collect();
        for (i, peer) in peers {
            let share = self.devices[by]
                .vault
                .seal_share(&peer, ShareEpochs::Pending(&pending))
                .unwrap();
            shares.push((i, share));
        }
        self.server.borrow_mut().log.push(entry);
        self.refresh(by);
        for (i, share) in shares {
            self.refresh(i);
            self.devices[i].vault.install_shares(&[share]).unwrap();
        }
    }

    pub fn members(&self) -> Vec<PeerId> {
        let state = self.devices[0].vault.circle().unwrap().unwrap();
        state.members.iter().map(|m| m.peer_id).collect()
    }

    pub fn conn(&self, i: usize) -> Conn {
        Conn {
            server: self.server.clone(),
            me: self.devices[i].vault.peer_id(),
            members: self.members(),
        }
    }

    /// One sync round of device `i`.
    pub fn sync(&mut self, i: usize) -> Result<SyncReport, vault_core::sync::SyncError> {
        self.refresh(i);
        let mut conn = self.conn(i);
        self.devices[i].vault.sync(&mut conn)
    }

    /// Rounds over every device until a whole pass changes nothing.
    pub fn settle(&mut self) {
        for _ in 0..6 {
            let mut quiet = true;
            for i in 0..self.devices.len() {
                let r = self.sync(i).unwrap();
                assert!(
                    r.quarantined.is_empty(),
                    "device {i} quarantined {:?}",
                    r.quarantined
                );
                quiet &= r.pulled == 0 && r.pushed == 0;
            }
            if quiet {
                return;
            }
        }
        panic!("the circle did not settle");
    }

    pub fn v(&mut self, i: usize) -> &mut UnlockedVault {
        &mut self.devices[i].vault
    }
}
