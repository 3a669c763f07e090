//! What only the PostgreSQL backend has (its migrations, several
//! instances on one database, the same manifests as SQLite), against a
//! real server; the rules both backends share are in the conformance
//! suite. Each test creates a database of its own in the cluster
//! `VAULT_TEST_POSTGRES_URL` names (`scripts/pg-test-cluster start` prints
//! it; `.ci/run` starts one) and drops it afterwards. Without the variable the tests say they were
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

use vault_core::circle::PeerId;
use vault_core::sync::{RecordParts, SealedRecord};
use vault_server::storage::{
    ManifestPutError, MemberChange, MemberKeys, NewEntry, NewManifest, Quotas, Side, Storage,
    TaggedRecord,
};

const FOUNDER: [u8; 32] = [9; 32];
const ZONE: &str = "keychain";

const KEYS: MemberKeys = MemberKeys {
    signing: [1; 32],
    agreement: [2; 32],
};

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
fn two_instances_share_challenges_tokens_invites_and_the_relay() {
    let Some(db) = TestDb::create("instances") else {
        return;
    };
    let one = PgStorage::open(&db.url).unwrap();
    let two = PgStorage::open(&db.url).unwrap();
    let id = founded(&one);
    // A challenge issued by one instance is consumed by the other, once.
    one.put_challenge(id, &FOUNDER, &[1; 32], 100).unwrap();
    two.issue_token(id, &FOUNDER, &[1; 32], &[2; 32], 10, 500)
        .unwrap();
    assert!(
        one.issue_token(id, &FOUNDER, &[1; 32], &[3; 32], 10, 500)
            .is_err()
    );
    assert_eq!(one.token(&[2; 32], 10).unwrap().peer, FOUNDER);
    // An invite made on one is joined on the other; the relay numbers one
    // sequence whichever instance a side posts to.
    one.create_invite(&[7; 16], id, &FOUNDER, 100).unwrap();
    assert_eq!(two.join_invite(&[7; 16], &[4; 32], b"hi", 10).unwrap(), 1);
    assert_eq!(
        one.post_relay(&[7; 16], Side::Inviter, b"a", 10, 8)
            .unwrap(),
        2
    );
    assert_eq!(
        two.post_relay(&[7; 16], Side::Joiner, b"b", 10, 8).unwrap(),
        3
    );
    assert_eq!(
        two.relay_messages(&[7; 16], Side::Inviter, 0)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        one.relay_messages(&[7; 16], Side::Joiner, 0).unwrap().len(),
        2
    );
    // A removal through one instance ends the member's session on both.
    let add = MemberChange::Add {
        peer: [5; 32],
        keys: KEYS,
    };
    one.append_entry(
        id,
        &FOUNDER,
        &entry(1, [100; 32], 101),
        &add,
        &Quotas::default(),
    )
    .unwrap();
    two.put_challenge(id, &[5; 32], &[6; 32], 100).unwrap();
    one.issue_token(id, &[5; 32], &[6; 32], &[8; 32], 10, 500)
        .unwrap();
    let remove = MemberChange::Remove {
        peer: [5; 32],
        cuts: Vec::new(),
    };
    two.append_entry(
        id,
        &FOUNDER,
        &entry(2, [101; 32], 102),
        &remove,
        &Quotas::default(),
    )
    .unwrap();
    assert!(one.token(&[8; 32], 10).is_err());
    assert!(one.member(id, &[5; 32]).unwrap().removed);
}

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
