//! `restore_database` at the storage layer (no HTTP): what it refuses
//! without touching the database, the epoch rule, the sequences it keeps,
//! an older schema migrated, and zones created after a restore.
#![allow(clippy::unwrap_used)]

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use uuid::Uuid;
use vault_core::circle::PeerId;
use vault_core::sync::{RecordParts, SealedRecord, TaggedRecord, Token};
use vault_server::storage::{
    DbLock, MemberKeys, NewEntry, Quotas, Replaced, RestoreError, Storage, schema_version,
    sqlite_restore,
};
use vault_server::{SqliteStorage, StorageError};

const FOUNDER: [u8; 32] = [9; 32];
const ZONE: &str = "keychain";
/// A "now" far below any real epoch bump, so the rule's other terms show.
const NOW: u64 = 1_000;

fn record(uuid: Uuid, gencount: u64, tomb: bool) -> SealedRecord {
    SealedRecord::from_parts(RecordParts {
        uuid,
        gencount,
        epoch: 1,
        tomb,
        circle_pos: 0,
        writer: PeerId::from_bytes(FOUNDER),
        wrappedkey: vec![gencount as u8; 60],
        encitem: uuid.as_bytes().repeat(3),
        signature: [0x5a; 64],
    })
    .unwrap()
}

fn push(s: &SqliteStorage, circle: Uuid, zone: &str, records: Vec<(u64, SealedRecord)>) {
    let batch: Vec<TaggedRecord> = records
        .into_iter()
        .map(|(tag, record)| TaggedRecord { tag, record })
        .collect();
    s.push_records(circle, zone, &FOUNDER, &batch, &Quotas::default())
        .unwrap();
}

/// A live database with one circle and zones `keychain` (3 records, one
/// of them edited, one a tombstone) and `notes` (1 record).
fn live(dir: &Path) -> (PathBuf, Uuid) {
    let db = dir.join("live.db");
    let s = SqliteStorage::open(&db).unwrap();
    let circle = Uuid::new_v4();
    let genesis = NewEntry {
        seq: 0,
        prev: [0; 32],
        hash: [1; 32],
        entry: vec![0; 10],
        signature: vec![0; 64],
    };
    let keys = MemberKeys {
        signing: [1; 32],
        agreement: [2; 32],
    };
    s.create_circle(circle, &genesis, &FOUNDER, &keys, 1)
        .unwrap();
    let u = |n: u8| Uuid::from_bytes([n; 16]);
    push(
        &s,
        circle,
        ZONE,
        vec![
            (0, record(u(1), 1, false)),
            (0, record(u(2), 1, false)),
            (0, record(u(3), 1, true)),
        ],
    );
    push(&s, circle, ZONE, vec![(1, record(u(1), 2, false))]);
    push(&s, circle, "notes", vec![(0, record(u(4), 1, false))]);
    (db, circle)
}

fn backup_of(db: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("backup.db");
    vault_server::storage::sqlite_backup(db, &out).unwrap();
    out
}

/// Every record of a zone, from seq 0, as (uuid, gencount, tomb, seq).
fn all(s: &SqliteStorage, circle: Uuid, zone: &str) -> (Token, Vec<(Uuid, u64, bool, u64)>) {
    let page = s.changes(circle, zone, None, None, 1000, 1 << 30).unwrap();
    assert!(!page.more);
    let rows = page
        .records
        .iter()
        .map(|r| (r.record.uuid(), r.record.gencount(), r.record.tomb(), r.tag))
        .collect();
    (page.token, rows)
}

fn sql(db: &Path, statement: &str) {
    Connection::open(db)
        .unwrap()
        .execute_batch(statement)
        .unwrap();
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = live(dir.path());
    let good = backup_of(&db, dir.path());
    {
        let _server = SqliteStorage::open(&db).unwrap();
        let e = sqlite_restore(&db, &good, NOW).unwrap_err();
        assert!(matches!(e, RestoreError::InUse { .. }));
        assert!(e.to_string().contains("stop the server first"), "{e}");
    }
    let before = bytes(&db);

    let random = dir.path().join("random.bin");
    std::fs::write(
        &random,
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let unrelated = dir.path().join("unrelated.db");
    Connection::open(&unrelated)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let no_schema = dir.path().join("no_schema.db");
    let c = Connection::open(&no_schema).unwrap();
    c.pragma_update(None, "application_id", 0x564C_5331)
        .unwrap();
    c.execute_batch("CREATE TABLE t (x);").unwrap();
    drop(c);
    let newer = dir.path().join("newer.db");
    std::fs::copy(&good, &newer).unwrap();
    sql(&newer, "PRAGMA user_version = 99;");
    let missing = dir.path().join("missing.db");

    let refuse = |backup: &Path| sqlite_restore(&db, backup, NOW).unwrap_err();
    assert!(matches!(refuse(&random), RestoreError::NotSqlite { .. }));
    assert!(matches!(
        refuse(&unrelated),
        RestoreError::NotServerBackup { .. }
    ));
    assert!(matches!(
        refuse(&no_schema),
        RestoreError::NotServerBackup { .. }
    ));
    match refuse(&newer) {
        RestoreError::NewerSchema { found, known, .. } => {
            assert_eq!(found, 99);
            assert_eq!(known, schema_version());
        }
        other => panic!("{other}"),
    }
    assert!(matches!(refuse(&missing), RestoreError::Io { .. }));
    assert_eq!(bytes(&db), before, "the database is untouched");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("restore"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");

    // A file at --db that is not a server database is never replaced.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    assert!(matches!(
        sqlite_restore(&text, &good, NOW),
        Err(RestoreError::TargetNotServer { .. })
    ));
    assert_eq!(bytes(&text), b"not a database");
}

#[test]
fn every_zone_moves_past_both_databases_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (db, circle) = live(dir.path());
    let backup = backup_of(&db, dir.path());
    let expected = {
        let s = SqliteStorage::open(&backup).unwrap();
        (all(&s, circle, ZONE).1, all(&s, circle, "notes").1)
    };
    assert_eq!(expected.0.len(), 3, "the tombstone is a record too");
    // After the backup the live timeline went on: more records, a zone the
    // backup lacks, and (as an earlier restore would leave) a high epoch.
    {
        let s = SqliteStorage::open(&db).unwrap();
        let u = Uuid::from_bytes([7; 16]);
        push(&s, circle, ZONE, vec![(0, record(u, 1, false))]);
        push(&s, circle, "later", vec![(0, record(u, 1, false))]);
        push(&s, circle, "later", vec![(1, record(u, 2, false))]);
    }
    sql(&db, "UPDATE zones SET epoch = 5000 WHERE name = 'notes';");
    let live_seq = |zone: &str| -> u64 {
        Connection::open(&db)
            .unwrap()
            .query_row("SELECT seq FROM zones WHERE name = ?1", [zone], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let (keychain_live_seq, later_live_seq) = (live_seq(ZONE), live_seq("later"));

    let report = sqlite_restore(&db, &backup, NOW).unwrap();
    assert_eq!(report.replaced, Replaced::Read);
    assert_eq!(report.epoch, 5001, "past the live database's 5000");
    let names: Vec<(&str, Option<u32>)> = report
        .zones
        .iter()
        .map(|z| (z.zone.as_str(), z.old_epoch))
        .collect();
    assert_eq!(
        names,
        [(ZONE, Some(1)), ("later", None), ("notes", Some(1))]
    );

    let s = SqliteStorage::open(&db).unwrap();
    let (token, rows) = all(&s, circle, ZONE);
    assert_eq!(rows, expected.0, "every record of the backup, seqs kept");
    assert_eq!(
        token,
        Token {
            epoch: 5001,
            seq: keychain_live_seq
        },
        "the counter goes on past the live timeline's seqs"
    );
    assert_eq!(all(&s, circle, "notes").1, expected.1);
    assert_eq!(
        all(&s, circle, "later"),
        (
            Token {
                epoch: 5001,
                seq: later_live_seq
            },
            vec![]
        )
    );
    // A token of the old epoch must resync; a push goes on from the counter.
    assert!(
        s.changes(
            circle,
            ZONE,
            Some(Token { epoch: 1, seq: 2 }),
            None,
            10,
            1 << 20
        )
        .is_err()
    );
    let u = Uuid::from_bytes([8; 16]);
    let reply = s
        .push_records(
            circle,
            ZONE,
            &FOUNDER,
            &[TaggedRecord {
                tag: 0,
                record: record(u, 1, false),
            }],
            &Quotas::default(),
        )
        .unwrap();
    assert_eq!(
        reply.token,
        Token {
            epoch: 5001,
            seq: keychain_live_seq + 1
        }
    );
    // A zone first written after the restore starts at the restore's epoch.
    assert_eq!(
        all(&s, circle, "fresh").0,
        Token {
            epoch: 5001,
            seq: 0
        }
    );
    push(&s, circle, "fresh", vec![(0, record(u, 1, false))]);
    assert_eq!(
        all(&s, circle, "fresh").0,
        Token {
            epoch: 5001,
            seq: 1
        }
    );
}

#[test]
fn the_clock_and_the_backup_bound_the_epoch_when_the_database_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (db, circle) = live(dir.path());
    let backup = backup_of(&db, dir.path());
    sql(
        &backup,
        "UPDATE zones SET epoch = 7000 WHERE name = 'notes';",
    );
    // The live database is damaged past reading: the rule rests on the
    // backup's epochs and the clock.
    let mut damaged = b"SQLite format 3\0".to_vec();
    damaged.extend([0xee; 4080]);
    std::fs::write(&db, &damaged).unwrap();
    // Beside it, a write-ahead log with valid frames (of another database,
    // for page 2 only): SQLite would replay it into whatever file bears
    // the name.
    let other = dir.path().join("other.db");
    let c = Connection::open(&other).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE t (x);
         PRAGMA wal_checkpoint(TRUNCATE); PRAGMA wal_autocheckpoint = 0;
         INSERT INTO t VALUES (zeroblob(3000));",
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("other.db-wal"),
        dir.path().join("live.db-wal"),
    )
    .unwrap();
    drop(c);
    let report = sqlite_restore(&db, &backup, NOW).unwrap();
    assert!(matches!(report.replaced, Replaced::Unreadable(_)));
    assert_eq!(report.epoch, 7001);
    assert!(!dir.path().join("live.db-wal").exists());
    assert_eq!(
        all(&SqliteStorage::open(&db).unwrap(), circle, ZONE).0,
        Token {
            epoch: 7001,
            seq: 4
        }
    );
    let now = 1_800_000_000;
    let report = sqlite_restore(&db, &backup, now).unwrap();
    assert_eq!(report.epoch, now as u32, "the clock passes 7001");
    // Restored twice from the same backup within one clock second: the
    // replaced database (the first restore) still moves the epoch on.
    let report = sqlite_restore(&db, &backup, now).unwrap();
    assert_eq!(report.epoch, now as u32 + 1);
    let s = SqliteStorage::open(&db).unwrap();
    assert_eq!(all(&s, circle, ZONE).0.epoch, now as u32 + 1);
}

#[test]
fn an_older_schema_backup_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("v2.db");
    let mut c = Connection::open(&backup).unwrap();
    c.pragma_update(None, "application_id", 0x564C_5331)
        .unwrap();
    let old = rusqlite_migration::Migrations::new(vec![
        rusqlite_migration::M::up(include_str!("../../migrations/server/sqlite/0001_init.sql")),
        rusqlite_migration::M::up(include_str!(
            "../../migrations/server/sqlite/0002_zones.sql"
        )),
    ]);
    old.to_latest(&mut c).unwrap();
    let circle = Uuid::new_v4();
    let rec = record(Uuid::from_bytes([5; 16]), 3, false);
    c.execute(
        "INSERT INTO circles VALUES (?1, ?2, 0, ?2, 1)",
        rusqlite::params![circle.as_bytes(), [1u8; 32]],
    )
    .unwrap();
    c.execute(
        "INSERT INTO zones (circle_id, name, epoch, seq, live) VALUES (?1, ?2, 1, 4, 1)",
        rusqlite::params![circle.as_bytes(), ZONE],
    )
    .unwrap();
    c.execute(
        "INSERT INTO records (zone_id, uuid, seq, gencount, epoch, tomb, circle_pos, writer,
                              wrappedkey, encitem, signature, content)
         VALUES (1, ?1, 4, 3, 1, 0, 0, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            rec.uuid().as_bytes(),
            &FOUNDER[..],
            rec.wrappedkey(),
            rec.encitem(),
            &rec.signature()[..],
            &rec.content_hash()[..]
        ],
    )
    .unwrap();
    c.execute("INSERT INTO zone_buckets VALUES (1, 5, NULL)", [])
        .unwrap();
    c.execute_batch("PRAGMA journal_mode = DELETE;").unwrap();
    drop(c);

    let db = dir.path().join("server.db");
    let report = sqlite_restore(&db, &backup, NOW).unwrap();
    assert_eq!(report.replaced, Replaced::Absent);
    assert_eq!((report.backup_schema, report.schema), (2, schema_version()));
    assert_eq!(report.epoch, NOW as u32);
    let s = SqliteStorage::open(&db).unwrap();
    let (token, rows) = all(&s, circle, ZONE);
    assert_eq!(
        token,
        Token {
            epoch: NOW as u32,
            seq: 4
        }
    );
    assert_eq!(rows, vec![(rec.uuid(), 3, false, 4)]);
}

#[test]
fn a_second_process_cannot_open_a_locked_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let lock = DbLock::acquire(&db).unwrap();
    assert!(matches!(
        SqliteStorage::open(&db),
        Err(StorageError::Lock(_))
    ));
    drop(lock);
    let s = SqliteStorage::open(&db).unwrap();
    assert!(DbLock::acquire(&db).is_err());
    drop(s);
    DbLock::acquire(&db).unwrap();
}
