//! The PostgreSQL backend against a real server: each test creates a
//! database of its own in the cluster `VAULT_TEST_POSTGRES_URL` names
//! (`scripts/pg-test-cluster start` prints it; `.ci/run` starts one) and
//! drops it afterwards. Without the variable the tests say they were
//! skipped and why, unless `VAULT_TEST_POSTGRES_REQUIRED` is set (as in
//! CI), where its absence is a failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::TestDb;
use vault_server::storage::postgres::{PgStorage, schema_version};

#[test]
fn a_new_database_is_migrated_once_and_reports_its_schema() {
    let Some(db) = TestDb::create("migrate") else {
        return;
    };
    let s = PgStorage::open(&db.url).unwrap();
    assert_eq!(s.database_version().unwrap(), schema_version());
    assert!(schema_version() >= 1);
    s.ping().unwrap();
    let counts = s.counts().unwrap();
    assert_eq!(
        (counts.circles, counts.devices, counts.records, counts.bytes),
        (0, 0, 0, 0)
    );
    drop(s);
    // Instances starting together take turns at the migration lock; each
    // finds the schema current.
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || PgStorage::open(&url).map(|s| s.database_version()))
        })
        .collect();
    for t in opened {
        assert_eq!(t.join().unwrap().unwrap().unwrap(), schema_version());
    }
}

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let Some(db) = TestDb::create("newer") else {
        return;
    };
    PgStorage::open(&db.url).unwrap();
    db.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (999, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
    );
    let e = PgStorage::open(&db.url).unwrap_err();
    // refinery names the version this binary does not have.
    assert!(format!("{e:?}").contains("999"), "{e:?}");
}

use std::sync::Arc;
use vault_core::circle::PeerId;
use vault_core::sync::{PushResult, RecordParts, SealedRecord};
use vault_server::storage::{PushError, QuotaKind, Quotas, TaggedRecord};

const FOUNDER: [u8; 32] = [9; 32];
const ZONE: &str = "keychain";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A circle whose log is at seq 0, with FOUNDER its one member.
fn circle(db: &TestDb) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    db.execute(&format!(
        "INSERT INTO circles (circle_id, genesis_hash, head_seq, head_hash, created)
         VALUES (decode('{id}', 'hex'), decode('{h}', 'hex'), 0, decode('{h}', 'hex'), 1);
         INSERT INTO members (circle_id, peer_id, signing_key, agreement_key, added_seq)
         VALUES (decode('{id}', 'hex'), decode('{f}', 'hex'), decode('{k}', 'hex'),
                 decode('{k}', 'hex'), 0);",
        id = hex(id.as_bytes()),
        h = hex(&[100; 32]),
        f = hex(&FOUNDER),
        k = hex(&[1; 32]),
    ));
    id
}

fn rec(n: u32, gencount: u64, tag: u64) -> TaggedRecord {
    let mut b = [0u8; 16];
    b[0] = (n % 256) as u8;
    b[12..].copy_from_slice(&n.to_be_bytes());
    TaggedRecord {
        tag,
        record: SealedRecord::from_parts(RecordParts {
            uuid: uuid::Uuid::from_bytes(b),
            gencount,
            epoch: 1,
            tomb: false,
            circle_pos: 0,
            writer: PeerId::from_bytes(FOUNDER),
            wrappedkey: vec![gencount as u8; 8],
            encitem: b.to_vec(),
            signature: [0; 64],
        })
        .unwrap(),
    }
}

fn saved(results: &[PushResult]) -> Vec<u64> {
    results
        .iter()
        .filter_map(|r| match r {
            PushResult::Saved { seq, .. } => Some(*seq),
            PushResult::Conflict { .. } => None,
        })
        .collect()
}

#[test]
fn a_push_takes_seqs_and_a_conflict_is_answered_with_the_stored_record() {
    let Some(db) = TestDb::create("push") else {
        return;
    };
    let s = PgStorage::open(&db.url).unwrap();
    let id = circle(&db);
    let q = Quotas::default();
    let reply = s
        .push_records(id, ZONE, &FOUNDER, &[rec(1, 1, 0), rec(2, 1, 0)], &q)
        .unwrap();
    assert_eq!(saved(&reply.results), [1, 2]);
    assert_eq!((reply.token.epoch, reply.token.seq), (1, 2));
    // Based on nothing, but one is stored: a conflict carrying it.
    let reply = s
        .push_records(id, ZONE, &FOUNDER, &[rec(1, 2, 0)], &q)
        .unwrap();
    match &reply.results[..] {
        [
            PushResult::Conflict {
                current: Some(c), ..
            },
        ] => assert_eq!(c.tag, 1),
        other => panic!("{other:?}"),
    }
    // Based on the stored one, with a higher gencount: saved at seq 3.
    let reply = s
        .push_records(id, ZONE, &FOUNDER, &[rec(1, 2, 1)], &q)
        .unwrap();
    assert_eq!(saved(&reply.results), [3]);
    assert!(matches!(
        s.push_records(id, ZONE, &[8; 32], &[rec(5, 1, 0)], &q),
        Err(PushError::NotMember)
    ));
    let mut ahead = rec(6, 1, 0);
    ahead.record = SealedRecord::from_parts(RecordParts {
        circle_pos: 1,
        ..ahead.record.into_parts()
    })
    .unwrap();
    assert!(matches!(
        s.push_records(id, ZONE, &FOUNDER, &[ahead], &q),
        Err(PushError::CirclePos)
    ));
}

#[test]
fn concurrent_pushes_take_every_seq_once_in_commit_order() {
    let Some(db) = TestDb::create("concurrent") else {
        return;
    };
    let s = Arc::new(PgStorage::open(&db.url).unwrap());
    let id = circle(&db);
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for b in 0..20u32 {
                    let batch: Vec<TaggedRecord> = (0..10u32)
                        .map(|i| rec(t * 1000 + b * 10 + i, 1, 0))
                        .collect();
                    let reply = s
                        .push_records(id, ZONE, &FOUNDER, &batch, &Quotas::default())
                        .unwrap();
                    let got = saved(&reply.results);
                    assert_eq!(got.len(), 10);
                    seqs.extend(got);
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let seqs = t.join().unwrap();
        // One thread's batches commit one after another: its seqs grow.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=1600).collect::<Vec<u64>>());
}

#[test]
fn a_push_past_a_quota_stores_nothing() {
    let Some(db) = TestDb::create("quota") else {
        return;
    };
    let s = PgStorage::open(&db.url).unwrap();
    let id = circle(&db);
    let q = Quotas {
        max_devices: 0,
        max_records: 3,
        max_bytes: 0,
    };
    s.push_records(id, ZONE, &FOUNDER, &[rec(1, 1, 0), rec(2, 1, 0)], &q)
        .unwrap();
    match s.push_records(id, ZONE, &FOUNDER, &[rec(3, 1, 0), rec(4, 1, 0)], &q) {
        Err(PushError::Quota(e)) => assert_eq!((e.kind, e.would_be), (QuotaKind::Records, 4)),
        other => panic!("expected the records quota, got {other:?}"),
    }
    assert_eq!(s.counts().unwrap().records, 2);
    let reply = s
        .push_records(id, ZONE, &FOUNDER, &[rec(3, 1, 0)], &q)
        .unwrap();
    assert_eq!(saved(&reply.results), [3], "the refused batch took no seq");
}

use vault_server::storage::{AppendError, MemberChange, MemberKeys, NewEntry, ZoneCutList};

const KEYS: MemberKeys = MemberKeys {
    signing: [1; 32],
    agreement: [2; 32],
};

fn entry(seq: u64, prev: [u8; 32], hash: u8) -> NewEntry {
    NewEntry {
        seq,
        prev,
        hash: [hash; 32],
        entry: vec![seq as u8; 10],
        signature: vec![0; 64],
    }
}

/// A circle created through the storage: FOUNDER, genesis hash [100; 32].
fn founded(s: &PgStorage) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    s.create_circle(id, &entry(0, [0; 32], 100), &FOUNDER, &KEYS, 1)
        .unwrap();
    id
}

#[test]
fn appends_follow_the_head_the_members_the_quota_and_the_cuts() {
    let Some(db) = TestDb::create("append") else {
        return;
    };
    let s = PgStorage::open(&db.url).unwrap();
    let id = founded(&s);
    assert!(matches!(
        s.create_circle(id, &entry(0, [0; 32], 100), &FOUNDER, &KEYS, 1),
        Err(vault_server::StorageError::Conflict)
    ));
    let q = Quotas::default();
    let add = MemberChange::Add {
        peer: [5; 32],
        keys: KEYS,
    };
    let refused = |e: &NewEntry, signer: &[u8; 32], change: &MemberChange, q: &Quotas| {
        s.append_entry(id, signer, e, change, q).unwrap_err()
    };
    assert!(matches!(
        refused(&entry(1, [0; 32], 101), &FOUNDER, &add, &q),
        AppendError::HeadMoved
    ));
    assert!(matches!(
        refused(&entry(2, [100; 32], 101), &FOUNDER, &add, &q),
        AppendError::BadSeq
    ));
    assert!(matches!(
        refused(&entry(1, [100; 32], 101), &[5; 32], &add, &q),
        AppendError::SignerNotMember
    ));
    let one = Quotas {
        max_devices: 1,
        ..Quotas::default()
    };
    assert!(matches!(
        refused(&entry(1, [100; 32], 101), &FOUNDER, &add, &one),
        AppendError::Quota(_)
    ));
    s.append_entry(id, &FOUNDER, &entry(1, [100; 32], 101), &add, &q)
        .unwrap();
    assert!(!s.member(id, &[5; 32]).unwrap().removed);
    assert!(matches!(
        refused(&entry(2, [101; 32], 102), &FOUNDER, &add, &q),
        AppendError::PeerExists
    ));

    // A removal whose cut the zone moved past is refused; at the zone's
    // position it is taken.
    s.push_records(id, ZONE, &FOUNDER, &[rec(1, 1, 0)], &q)
        .unwrap();
    let remove_at = |seq: u64| MemberChange::Remove {
        peer: [5; 32],
        cuts: vec![ZoneCutList {
            zone: ZONE.into(),
            token: vault_core::sync::Token { epoch: 1, seq },
            list: vec![7; 4],
        }],
    };
    assert!(matches!(
        refused(&entry(2, [101; 32], 102), &FOUNDER, &remove_at(0), &q),
        AppendError::ZoneMoved
    ));
    s.append_entry(id, &FOUNDER, &entry(2, [101; 32], 102), &remove_at(1), &q)
        .unwrap();
    assert!(s.member(id, &[5; 32]).unwrap().removed);
    assert!(matches!(
        refused(&entry(3, [102; 32], 103), &FOUNDER, &remove_at(1), &q),
        AppendError::TargetNotMember
    ));
    let founder_leaves = MemberChange::Remove {
        peer: FOUNDER,
        cuts: Vec::new(),
    };
    assert!(matches!(
        refused(&entry(3, [102; 32], 103), &FOUNDER, &founder_leaves, &q),
        AppendError::LastMember
    ));
    assert_eq!(s.counts().unwrap().devices, 1);
}

#[test]
fn concurrent_appends_at_one_head_exactly_one_wins() {
    let Some(db) = TestDb::create("appendrace") else {
        return;
    };
    let s = Arc::new(PgStorage::open(&db.url).unwrap());
    let id = founded(&s);
    let mut head = [100u8; 32];
    for seq in 1..=10u64 {
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let e = entry(seq, head, seq as u8 * 10 + t);
                    s.append_entry(id, &FOUNDER, &e, &MemberChange::None, &Quotas::default())
                        .map(|()| e.hash)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in threads {
            match t.join().unwrap() {
                Ok(hash) => winners.push(hash),
                Err(AppendError::HeadMoved) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {seq}");
        head = winners[0];
    }
}

use vault_server::storage::{ManifestPutError, NewManifest, Storage};

/// `rec`, deleted.
fn tombstone(n: u32, gencount: u64, tag: u64) -> TaggedRecord {
    let r = rec(n, gencount, tag);
    TaggedRecord {
        tag,
        record: SealedRecord::from_parts(RecordParts {
            tomb: true,
            ..r.record.into_parts()
        })
        .unwrap(),
    }
}

#[test]
fn manifests_match_sqlites_and_collection_frees_the_tombstones() {
    let Some(db) = TestDb::create("manifest") else {
        return;
    };
    let pg = PgStorage::open(&db.url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = vault_server::SqliteStorage::open(&dir.path().join("s.db")).unwrap();
    let id = founded(&pg);
    lite.create_circle(id, &entry(0, [0; 32], 100), &FOUNDER, &KEYS, 1)
        .unwrap();
    let q = Quotas::default();
    let first: Vec<TaggedRecord> = (1..=6).map(|n| rec(n * 40, 1, 0)).collect();
    let deletes = [tombstone(40, 2, 1), tombstone(80, 2, 2)];
    pg.push_records(id, ZONE, &FOUNDER, &first, &q).unwrap();
    lite.push_records(id, ZONE, &FOUNDER, &first, &q).unwrap();
    // A manifest read between pushes caches bucket hashes: the second push
    // must mark its buckets dirty again on both.
    assert_eq!(
        pg.zone_manifest(id, ZONE, true).unwrap(),
        lite.zone_manifest(id, ZONE, true).unwrap()
    );
    pg.push_records(id, ZONE, &FOUNDER, &deletes, &q).unwrap();
    lite.push_records(id, ZONE, &FOUNDER, &deletes, &q).unwrap();
    let m = pg.zone_manifest(id, ZONE, true).unwrap();
    assert_eq!(m, lite.zone_manifest(id, ZONE, true).unwrap());
    assert_eq!((m.count, m.token.seq), (4, 8));
    // Cached now: the same answer again.
    assert_eq!(pg.zone_manifest(id, ZONE, false).unwrap().root, m.root);
    // A zone never written reads as empty on both.
    assert_eq!(
        pg.zone_manifest(id, "notes", true).unwrap(),
        lite.zone_manifest(id, "notes", true).unwrap()
    );

    let manifest = |counter: u64, seq: u64, epoch: u32| NewManifest {
        peer: FOUNDER,
        counter,
        token: vault_core::sync::Token { epoch, seq },
        body: vec![1],
        signature: [0; 64],
    };
    let bytes_before = pg.counts().unwrap().bytes;
    // Another epoch's manifest does not count.
    let stored = pg.put_manifest(id, ZONE, &manifest(1, 8, 2)).unwrap();
    assert_eq!((stored.collected, stored.gc_seq), (0, 0));
    // Past the zone's seq: capped at it; both tombstones go.
    let stored = pg.put_manifest(id, ZONE, &manifest(2, 99, 1)).unwrap();
    assert_eq!((stored.collected, stored.gc_seq), (2, 8));
    assert!(pg.counts().unwrap().bytes < bytes_before);
    assert!(matches!(
        pg.put_manifest(id, ZONE, &manifest(2, 8, 1)),
        Err(ManifestPutError::StaleCounter)
    ));
    // Collection leaves the live records as they were.
    assert_eq!(pg.counts().unwrap().records, 4);
}
