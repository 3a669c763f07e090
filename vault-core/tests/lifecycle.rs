//! Creating, opening, unlocking, locking, and refusing bad files and
//! passwords without writing anything.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use vault_core::error::{CreateError, OpenError, UnlockError};
use vault_core::{KdfParams, SCHEMA_VERSION, Vault};

#[test]
fn create_refuses_an_existing_file_and_leaves_it() {
    let (_d, path, v) = new_vault();
    drop(v);
    let before = std::fs::read(&path).unwrap();
    let err = Vault::create(&path, PASSWORD, fast_kdf()).unwrap_err();
    assert!(matches!(err, CreateError::AlreadyExists), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn vault_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, path, _v) = new_vault();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn wrong_password_is_typed_and_writes_nothing() {
    let (_d, path, mut v) = new_vault();
    v.add(full_inet("a")).unwrap();
    drop(v);
    let before = std::fs::read(&path).unwrap();
    let err = Vault::open(&path)
        .unwrap()
        .unlock("not the password")
        .unwrap_err();
    assert!(matches!(err, UnlockError::WrongPassword), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // The right password still works afterwards.
    assert_eq!(reopen(&path).list(None).unwrap().len(), 1);
}

#[test]
fn a_file_that_is_not_a_vault_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // Not SQLite at all.
    let junk = dir.path().join("junk");
    std::fs::write(
        &junk,
        b"this is not a database, just some text padding it out to a size".repeat(100),
    )
    .unwrap();
    let before = std::fs::read(&junk).unwrap();
    assert!(matches!(Vault::open(&junk), Err(OpenError::NotAVault)));
    assert_eq!(std::fs::read(&junk).unwrap(), before);
    // SQLite, but another application's database.
    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    assert!(matches!(Vault::open(&other), Err(OpenError::NotAVault)));
    assert_eq!(std::fs::read(&other).unwrap(), before);
    // Empty file.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(Vault::open(&empty), Err(OpenError::NotAVault)));
    // Missing file.
    assert!(matches!(
        Vault::open(dir.path().join("nope")),
        Err(OpenError::NotFound)
    ));
}

#[test]
fn a_truncated_vault_is_refused_untouched() {
    let (_d, path, mut v) = new_vault();
    v.add_batch((0..300).map(|i| full_inet(&i.to_string())))
        .unwrap();
    drop(v);
    let full = std::fs::read(&path).unwrap();
    assert!(
        full.len() > 8 * 4096,
        "vault too small to truncate meaningfully"
    );
    for cut in [full.len() / 2, full.len() - 4096, 4096, 50] {
        std::fs::write(&path, &full[..cut]).unwrap();
        let err = Vault::open(&path).map(|l| l.unlock(PASSWORD));
        match err {
            Err(OpenError::Corrupt) | Err(OpenError::NotAVault) => {}
            other => panic!("cut at {cut}: expected a typed refusal, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &full[..cut],
            "cut at {cut} changed the file"
        );
    }
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let (_d, path, v) = new_vault();
    drop(v);
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    match Vault::open(&path) {
        Err(OpenError::NewerSchema { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn kdf_parameters_in_the_header_cannot_be_downgraded() {
    let (_d, path, v) = new_vault();
    drop(v);
    raw(&path)
        .execute("UPDATE vault_meta SET kdf_iterations = 1", [])
        .unwrap();
    let err = Vault::open(&path).unwrap().unlock(PASSWORD).unwrap_err();
    assert!(matches!(err, UnlockError::WrongPassword), "{err:?}");
    raw(&path)
        .execute(
            "UPDATE vault_meta SET kdf_alg = 9, kdf_iterations = 1000",
            [],
        )
        .unwrap();
    let err = Vault::open(&path).unwrap().unlock(PASSWORD).unwrap_err();
    assert!(matches!(err, UnlockError::UnsupportedKdf(9)), "{err:?}");
}

#[test]
fn default_kdf_is_600k_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    let v = Vault::create(&path, PASSWORD, KdfParams::default()).unwrap();
    assert_eq!(v.kdf_params().iterations(), 600_000);
    let stored: i64 = raw(&path)
        .query_row("SELECT kdf_iterations FROM vault_meta", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 600_000);
}

#[test]
fn lock_then_unlock_again() {
    let (_d, _path, mut v) = new_vault();
    let id = v.add(full_genp("x")).unwrap();
    let locked = v.lock();
    let mut v = locked.unlock(PASSWORD).unwrap();
    assert_eq!(v.get(id).unwrap().data, full_genp("x"));
}

fn inet_blobs(path: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw(path)
        .prepare("SELECT wrappedkey, encitem FROM inet ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn change_password_rewraps_keys_only() {
    let (_d, path, mut v) = new_vault();
    let ids = v
        .add_batch((0..50).map(|i| full_inet(&i.to_string())))
        .unwrap();
    let items_before = inet_blobs(&path);

    let err = v
        .change_password("wrong", "new password", fast_kdf())
        .unwrap_err();
    assert!(matches!(
        err,
        vault_core::error::KeyChangeError::WrongPassword
    ));
    v.change_password(PASSWORD, "new password", fast_kdf())
        .unwrap();
    drop(v);

    let items_after = inet_blobs(&path);
    assert_eq!(
        items_before, items_after,
        "a password change must not touch items"
    );
    assert!(matches!(
        Vault::open(&path).unwrap().unlock(PASSWORD),
        Err(UnlockError::WrongPassword)
    ));
    let mut v = Vault::open(&path).unwrap().unlock("new password").unwrap();
    assert_eq!(v.get(ids[7]).unwrap().data, full_inet("7"));
}
