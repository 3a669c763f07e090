//! What only the PostgreSQL backend has (its migrations, several
//! instances on one database, the same manifests as SQLite, admin and
//! restore; its notifier is `postgres_notify.rs`'s), against a
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

use vault_server::storage::{AdminError, AdminStore, QuotaChange, RegisterError, TokenRefusal};

#[test]
fn admin_commands_work_on_postgres_and_the_check_finds_what_is_wrong() {
    let Some(db) = TestDb::create("admin") else {
        return;
    };
    let mut s = PgStorage::open(&db.url).unwrap();
    // A token registers one circle, once; a revoked one none.
    let id = s
        .create_token(&[1; 32], Some("alice"), 10, Some(1000))
        .unwrap();
    let spare = s.create_token(&[2; 32], None, 10, None).unwrap();
    // A real genesis: the check verifies the log.
    let founder = common::Device::new();
    let circle = uuid::Uuid::new_v4();
    let signed = founder.genesis(circle);
    let g = vault_server::circle::check_genesis(signed.entry_bytes(), signed.signature()).unwrap();
    s.create_circle_registered(&[1; 32], circle, &g.entry, &g.founder, &g.keys, 20)
        .unwrap();
    assert!(matches!(
        s.create_circle_registered(
            &[1; 32],
            uuid::Uuid::new_v4(),
            &entry(0, [0; 32], 100),
            &FOUNDER,
            &KEYS,
            21
        ),
        Err(RegisterError::Refused(TokenRefusal::Used))
    ));
    s.revoke_token(&spare, 30).unwrap();
    assert!(matches!(
        s.revoke_token(&id, 30),
        Err(AdminError::TokenSpent(_))
    ));
    assert!(matches!(
        s.revoke_token("nope", 30),
        Err(AdminError::NoSuchToken(_))
    ));
    let tokens = s.tokens().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].used, Some((20, circle)));
    assert_eq!(tokens[1].revoked, Some(30));
    // Quotas, usage, disabling.
    s.set_quotas(
        circle,
        &QuotaChange {
            max_records: Some(Some(5)),
            ..QuotaChange::default()
        },
        40,
    )
    .unwrap();
    let mine = |n: u32| {
        let r = rec(n, 1, 0);
        TaggedRecord {
            tag: 0,
            record: SealedRecord::from_parts(RecordParts {
                writer: founder.peer(),
                ..r.record.into_parts()
            })
            .unwrap(),
        }
    };
    s.push_records(
        circle,
        ZONE,
        &g.founder,
        &[mine(1), mine(2)],
        &Quotas::default(),
    )
    .unwrap();
    let info = s.circle(circle).unwrap();
    assert_eq!(
        (info.members, info.records, info.quotas.max_records),
        (1, 2, Some(5))
    );
    assert!(matches!(
        s.delete_circle(circle, 50),
        Err(AdminError::NotDisabled(_))
    ));
    // The check: sound, then a zone counter and a log entry broken by hand.
    let report = s.check(60).unwrap();
    assert!(report.ok(), "{report:?}");
    db.execute("UPDATE zones SET live = 7");
    let report = s.check(61).unwrap();
    assert_eq!(report.integrity.len(), 1, "{report:?}");
    assert!(report.integrity[0].contains("live is 7"), "{report:?}");
    db.execute("UPDATE circle_entries SET signature = decode(repeat('00', 64), 'hex')");
    let report = s.check(62).unwrap();
    assert!(
        matches!(&report.circles[0].1, Err(why) if why.contains("entry 0")),
        "{report:?}"
    );
    s.set_disabled(circle, true, 70).unwrap();
    assert_eq!(s.disabled_circles().unwrap(), [circle]);
    assert!(s.delete_circle(circle, 80).unwrap() > 3);
    assert!(!s.circle_exists(circle).unwrap());
    let actions: Vec<String> = AdminStore::log(&s)
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            "token create",
            "token create",
            "token revoke",
            "circle quota",
            "check",
            "check",
            "check",
            "circle disable",
            "circle delete"
        ]
    );
    // The binary's admin command on the same database (the URL in
    // VAULT_SERVER_DB, never on the command line).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vault-server"))
        .args(["admin", "token", "ls", "--json"])
        .env("VAULT_SERVER_DB", &db.url)
        .env_remove("VAULT_SERVER_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn a_restore_on_postgres_moves_every_zone_to_a_new_epoch() {
    let Some(db) = TestDb::create("restore") else {
        return;
    };
    let s = PgStorage::open(&db.url).unwrap();
    let id = founded(&s);
    s.push_records(
        id,
        ZONE,
        &FOUNDER,
        &[rec(1, 1, 0), rec(2, 1, 0)],
        &Quotas::default(),
    )
    .unwrap();
    s.put_challenge(id, &FOUNDER, &[1; 32], 100).unwrap();
    s.issue_token(id, &FOUNDER, &[1; 32], &[2; 32], 10, 1_000_000)
        .unwrap();
    s.create_invite(&[3; 16], id, &FOUNDER, 1_000_000).unwrap();
    let before = vault_core::sync::Token { epoch: 1, seq: 2 };
    // (pg_restore would have loaded a dump here.) Through the binary, the
    // URL in VAULT_SERVER_DB; --from is refused on PostgreSQL.
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vault-server"))
            .args(args)
            .env("VAULT_SERVER_DB", &db.url)
            .env_remove("VAULT_SERVER_CONFIG")
            .output()
            .unwrap()
    };
    let refused = run(&["restore", "--from", "x.db"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_restore"));
    let refused = run(&["backup", "--output", "x.db"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
    let out = run(&["restore", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let epoch = report["epoch"].as_u64().unwrap();
    let now = vault_server::state::unix_now() as u64;
    assert!(epoch + 60 > now && epoch <= now, "{report}");
    assert_eq!(report["zones"][0]["old_epoch"], 1, "{report}");
    assert_eq!(report["tokens_dropped"], 1, "{report}");
    assert_eq!(report["invites_dropped"], 1, "{report}");
    // The old token is of another epoch; the new epoch reads every record.
    assert!(matches!(
        s.changes(id, ZONE, Some(before), None, 10, usize::MAX),
        Err(vault_server::storage::ChangesError::TokenExpired)
    ));
    let page = s.changes(id, ZONE, None, None, 10, usize::MAX).unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(u64::from(page.token.epoch), epoch);
    assert!(s.token(&[2; 32], 10).is_err(), "sessions were dropped");
    // A zone created after the restore starts at its epoch too.
    s.push_records(id, "notes", &FOUNDER, &[rec(3, 1, 0)], &Quotas::default())
        .unwrap();
    let notes = s.changes(id, "notes", None, None, 10, usize::MAX).unwrap();
    assert_eq!(u64::from(notes.token.epoch), epoch);
}
