//! What only the SQLite backend has: its file, its migrations, its
//! backups. The rules every backend shares are tested by the conformance
//! suite (`vault-server/tests/conformance/`), on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

use super::*;

fn open() -> (tempfile::TempDir, SqliteStorage) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(&dir.path().join("s.db")).unwrap();
    (dir, s)
}

fn entry(seq: u64, prev: Hash32, hash: u8) -> NewEntry {
    NewEntry {
        seq,
        prev,
        hash: [hash; 32],
        entry: vec![seq as u8; 10],
        signature: vec![0; 64],
    }
}

const KEYS: MemberKeys = MemberKeys {
    signing: [1; 32],
    agreement: [2; 32],
};

/// A circle with founder `[9; 32]` and genesis hash `[100; 32]`.
fn circle(s: &SqliteStorage) -> Uuid {
    let id = Uuid::new_v4();
    s.create_circle(id, &entry(0, [0; 32], 100), &[9; 32], &KEYS, 1)
        .unwrap();
    id
}

#[test]
fn migrations_are_valid() {
    migrations().validate().unwrap();
}

#[test]
fn opening_sets_wal_and_the_application_id_and_refuses_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(SqliteStorage::open(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let id: i32 = c
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(id, APPLICATION_ID);
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATION_FILES.len() as i64);
    // Reopening an up-to-date file works.
    drop(SqliteStorage::open(&path).unwrap());

    let other = dir.path().join("other.db");
    let c = Connection::open(&other).unwrap();
    c.pragma_update(None, "application_id", 0x564C_5431)
        .unwrap();
    c.execute_batch("CREATE TABLE x (y)").unwrap();
    drop(c);
    assert!(SqliteStorage::open(&other).is_err());
}

#[test]
fn backup_is_a_consistent_copy_and_never_overwrites() {
    let (dir, s) = open();
    let id = circle(&s);
    let dest = dir.path().join("copy.db");
    s.backup(&dest).unwrap();
    let copy = SqliteStorage::open(&dest).unwrap();
    assert!(copy.circle_exists(id).unwrap());
    assert_eq!(
        copy.log(id, None, 10).unwrap(),
        s.log(id, None, 10).unwrap()
    );
    assert!(matches!(s.backup(&dest), Err(StorageError::Conflict)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}
