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
