//! Tests of vaults made before master passwords were normalized to NFC:
//! their key-encryption key came from the password's raw bytes, which only
//! the crate's insides (`init_keys`) can still write.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::circle::PeerId;
use crate::crypto::kdf_runs;
use crate::error::KeyChangeError;
use crate::item::{GenericPassword, ItemData};
use unicode_normalization::UnicodeNormalization;

const NFC: &str = "Café-Ångström-ñ";

fn nfd() -> String {
    let nfd: String = NFC.nfd().collect();
    assert_ne!(nfd.as_bytes(), NFC.as_bytes(), "the test needs two forms");
    nfd
}

fn kdf() -> KdfParams {
    KdfParams::insecure_for_tests_only(1_000)
}

fn genp(n: usize) -> ItemData {
    ItemData::Genp(GenericPassword {
        service: format!("service-{n}"),
        password: format!("secret-{n}").into(),
        ..Default::default()
    })
}

/// A vault as one created before normalization from the NFD password,
/// with items in two key epochs. Returns the items' uuids, in order, and
/// the device's peer id.
fn legacy_vault(path: &Path) -> (Vec<Uuid>, PeerId) {
    let conn = schema::create_new(path, DEFAULT_BUSY_TIMEOUT).unwrap();
    let mut v = init_keys(conn, path, nfd().as_bytes(), kdf(), VaultOptions::default()).unwrap();
    let mut ids = vec![v.add(genp(0)).unwrap(), v.add(genp(1)).unwrap()];
    assert_eq!(v.rotate_vault_key().unwrap(), 2);
    ids.push(v.add(genp(2)).unwrap());
    (ids, v.identity.peer_id())
}

fn stored_header(path: &Path) -> Header {
    Header::read(&Connection::open(path).unwrap())
        .unwrap()
        .unwrap()
}

/// The database file and its WAL, byte for byte.
fn file_bytes(path: &Path) -> Vec<Vec<u8>> {
    ["", "-wal"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::fs::read(PathBuf::from(p)).unwrap_or_default()
        })
        .collect()
}

fn unlock(path: &Path, password: &str) -> Result<UnlockedVault, UnlockError> {
    Vault::open(path).unwrap().unlock(password)
}

fn unlock_counting(path: &Path, password: &str) -> (Result<UnlockedVault, UnlockError>, u32) {
    let locked = Vault::open(path).unwrap();
    let before = kdf_runs();
    let out = locked.unlock(password);
    (out, kdf_runs() - before)
}

fn assert_items(v: &mut UnlockedVault, ids: &[Uuid]) {
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(v.get(*id).unwrap().data, genp(n), "item {n}");
    }
}

#[test]
fn a_legacy_vault_opens_with_its_raw_form_once_then_with_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vault");
    let (ids, peer) = legacy_vault(&path);
    let legacy = stored_header(&path);

    // Before the re-wrap, the NFC form cannot know the raw bytes: refused,
    // nothing written, one KDF.
    let before = file_bytes(&path);
    let (out, runs) = unlock_counting(&path, NFC);
    assert!(matches!(out, Err(UnlockError::WrongPassword)), "{out:?}");
    assert_eq!(runs, 1);
    assert_eq!(file_bytes(&path), before);

    // The raw form opens: NFC first (fails), raw (opens), the new wrap.
    let (out, runs) = unlock_counting(&path, &nfd());
    let mut v = out.unwrap();
    assert_eq!(runs, 3);
    assert_items(&mut v, &ids);
    let session = v.session_key();
    drop(v);

    let rewrapped = stored_header(&path);
    assert_ne!(rewrapped.salt, legacy.salt);
    assert_ne!(rewrapped.wrapped_dk, legacy.wrapped_dk);
    assert_eq!(rewrapped.iterations, legacy.iterations);
    assert_eq!(rewrapped.vault_id, legacy.vault_id);
    assert_eq!(rewrapped.current_epoch, 2);

    // Now both forms open it with one KDF each, and the handle that
    // re-wrapped held the new key already.
    for form in [NFC.to_owned(), nfd()] {
        let (out, runs) = unlock_counting(&path, &form);
        let mut v = out.unwrap();
        assert_eq!(runs, 1);
        assert_items(&mut v, &ids);
        assert_eq!(v.identity.peer_id(), peer, "the identity is kept");
        assert_eq!(*v.session_key().to_bytes(), *session.to_bytes());
        assert_eq!(v.key_epoch(), 2);
    }
    // Every epoch's key was re-wrapped: a new epoch re-wraps every item
    // from epochs 1 and 2, and a fresh unlock reads them all.
    let mut v = unlock(&path, NFC).unwrap();
    assert_eq!(v.rotate_vault_key().unwrap(), 3);
    drop(v);
    assert_items(&mut unlock(&path, NFC).unwrap(), &ids);
    assert_eq!(stored_header(&path).salt, rewrapped.salt, "re-wrapped once");
}

#[test]
fn the_second_kdf_runs_only_for_a_password_nfc_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vault");
    legacy_vault(&path);
    let before = file_bytes(&path);
    let (out, runs) = unlock_counting(&path, "wrong, and ASCII");
    assert!(matches!(out, Err(UnlockError::WrongPassword)), "{out:?}");
    assert_eq!(runs, 1);
    let wrong_nfd: String = "Wröng".nfd().collect();
    let (out, runs) = unlock_counting(&path, &wrong_nfd);
    assert!(matches!(out, Err(UnlockError::WrongPassword)), "{out:?}");
    assert_eq!(runs, 2);
    assert_eq!(file_bytes(&path), before, "a wrong password writes nothing");
}

#[test]
fn a_busy_file_still_unlocks_and_a_later_unlock_rewraps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vault");
    let (ids, _) = legacy_vault(&path);
    let legacy = stored_header(&path);
    let quick = VaultOptions {
        busy_timeout: Duration::from_millis(50),
        ..VaultOptions::default()
    };

    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut v = Vault::open_with(&path, quick.clone())
        .unwrap()
        .unlock(&nfd())
        .unwrap();
    assert_items(&mut v, &ids);
    drop(v);
    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(stored_header(&path).wrapped_dk, legacy.wrapped_dk);
    assert!(matches!(
        unlock(&path, NFC),
        Err(UnlockError::WrongPassword)
    ));

    let mut v = Vault::open_with(&path, quick)
        .unwrap()
        .unlock(&nfd())
        .unwrap();
    assert_items(&mut v, &ids);
    drop(v);
    assert_ne!(stored_header(&path).wrapped_dk, legacy.wrapped_dk);
    assert_items(&mut unlock(&path, NFC).unwrap(), &ids);
}

#[test]
fn a_handle_that_lost_the_race_takes_up_the_other_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vault");
    let (mut ids, _) = legacy_vault(&path);

    // Handle A unlocks with the raw form but cannot write yet.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut a = Vault::open_with(
        &path,
        VaultOptions {
            busy_timeout: Duration::from_millis(50),
            ..VaultOptions::default()
        },
    )
    .unwrap()
    .unlock(&nfd())
    .unwrap();
    blocker.execute_batch("ROLLBACK").unwrap();
    // Handle B unlocks the same way and re-wraps.
    let b = unlock(&path, &nfd()).unwrap();
    let rewrapped = stored_header(&path);

    // A now retries: the header moved under it, so it follows B's wrap
    // (one KDF) instead of writing its own.
    let before = kdf_runs();
    a.adopt_normalized_password(NFC);
    assert_eq!(kdf_runs() - before, 1);
    let after = stored_header(&path);
    assert_eq!(after.salt, rewrapped.salt);
    assert_eq!(after.wrapped_dk, rewrapped.wrapped_dk);
    assert_eq!(*a.session_key().to_bytes(), *b.session_key().to_bytes());
    drop(b);

    // What A writes under its key now opens for everyone.
    assert_eq!(a.rotate_vault_key().unwrap(), 3);
    ids.push(a.add(genp(3)).unwrap());
    drop(a);
    assert_items(&mut unlock(&path, NFC).unwrap(), &ids);
}

#[test]
fn change_password_takes_the_raw_current_form_of_a_legacy_vault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vault");
    let conn = schema::create_new(&path, DEFAULT_BUSY_TIMEOUT).unwrap();
    let mut v = init_keys(
        conn,
        &path,
        nfd().as_bytes(),
        kdf(),
        VaultOptions::default(),
    )
    .unwrap();
    let id = v.add(genp(0)).unwrap();
    let before = file_bytes(&path);
    assert!(matches!(
        v.change_password(NFC, "new", kdf()),
        Err(KeyChangeError::WrongPassword)
    ));
    assert_eq!(file_bytes(&path), before);
    v.change_password(&nfd(), "new", kdf()).unwrap();
    drop(v);
    assert_items(&mut unlock(&path, "new").unwrap(), &[id]);
    assert!(matches!(
        unlock(&path, &nfd()),
        Err(UnlockError::WrongPassword)
    ));
}
