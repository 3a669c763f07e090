//! One password on every platform: a password typed composed (NFC, as
//! Linux and Windows keyboards give it) or decomposed (NFD, as macOS and
//! iOS may) derives the same keys, for the vault and for export files.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;
use vault_core::error::{KeyChangeError, UnlockError};
use vault_core::export::{ExportError, open_export, seal_export};
use vault_core::{KdfParams, Vault};

const NFC: &str = "Café-Ångström-ñ";

/// The decomposed form, checked to differ in bytes.
fn nfd() -> String {
    let nfd: String = NFC.nfd().collect();
    assert_ne!(nfd.as_bytes(), NFC.as_bytes(), "the test needs two forms");
    assert_eq!(nfd.nfc().collect::<String>(), NFC);
    nfd
}

fn kdf() -> KdfParams {
    KdfParams::insecure_for_tests_only(1_000)
}

/// The header row (KDF parameters, salt, wrapped data key) as stored.
fn header_row(path: &Path) -> (i64, Vec<u8>, Vec<u8>) {
    raw(path)
        .query_row(
            "SELECT kdf_iterations, kdf_salt, wrapped_dk FROM vault_meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// The database file and its WAL, byte for byte.
fn file_bytes(path: &Path) -> Vec<Vec<u8>> {
    ["", "-wal"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::fs::read(Path::new(&p)).unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_vault_made_with_either_form_opens_with_the_other() {
    let nfd = nfd();
    for (made_with, opened_with) in [(nfd.as_str(), NFC), (NFC, nfd.as_str())] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.vault");
        let mut v = Vault::create(&path, made_with, kdf()).unwrap();
        let id = v.add(full_inet("a")).unwrap();
        drop(v);
        let before = header_row(&path);
        for form in [opened_with, made_with] {
            let mut v = Vault::open(&path).unwrap().unlock(form).unwrap();
            assert_eq!(v.get(id).unwrap().data, full_inet("a"));
        }
        assert_eq!(
            header_row(&path),
            before,
            "a vault made NFC is never re-wrapped"
        );
    }
}

#[test]
fn an_export_sealed_with_either_form_opens_with_the_other() {
    let nfd = nfd();
    for (sealed_with, opened_with) in [(nfd.as_str(), NFC), (NFC, nfd.as_str())] {
        let sealed = seal_export(sealed_with, kdf(), b"{\"items\":[1]}").unwrap();
        assert_eq!(
            &open_export(opened_with, &sealed).unwrap()[..],
            b"{\"items\":[1]}"
        );
        assert!(matches!(
            open_export("Cafe-Angstrom-n", &sealed),
            Err(ExportError::WrongPasswordOrTampered)
        ));
    }
}

#[test]
fn change_password_takes_the_current_password_in_either_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vault");
    let mut v = Vault::create(&path, NFC, kdf()).unwrap();
    let id = v.add(full_genp("a")).unwrap();
    let new_nfd: String = "Nöuvel-Mot-de-Passé".nfd().collect();
    v.change_password(&nfd(), &new_nfd, kdf()).unwrap();
    // And back, with the current one given composed this time.
    v.change_password("Nöuvel-Mot-de-Passé", "Zweites-Paßwört", kdf())
        .unwrap();
    drop(v);
    let mut v = Vault::open(&path)
        .unwrap()
        .unlock(&"Zweites-Paßwört".nfd().collect::<String>())
        .unwrap();
    assert_eq!(v.get(id).unwrap().data, full_genp("a"));
    drop(v);
    for old in [NFC.to_owned(), nfd(), new_nfd] {
        assert!(matches!(
            Vault::open(&path).unwrap().unlock(&old),
            Err(UnlockError::WrongPassword)
        ));
    }
}

#[test]
fn a_wrong_password_in_any_form_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.vault");
    let mut v = Vault::create(&path, NFC, kdf()).unwrap();
    v.add(full_inet("a")).unwrap();
    drop(v);
    let header = header_row(&path);
    let bytes = file_bytes(&path);
    let wrong_nfd: String = "Cafè-Ångström-ñ".nfd().collect();
    for wrong in ["Cafe-Angstrom-n", "Cafè-Ångström-ñ", wrong_nfd.as_str()] {
        let err = Vault::open(&path).unwrap().unlock(wrong).unwrap_err();
        assert!(matches!(err, UnlockError::WrongPassword), "{err:?}");
        let mut v = Vault::open(&path).unwrap().unlock(NFC).unwrap();
        let err = v.change_password(wrong, "x", kdf()).unwrap_err();
        assert!(matches!(err, KeyChangeError::WrongPassword), "{err:?}");
    }
    assert_eq!(header_row(&path), header);
    assert_eq!(file_bytes(&path), bytes);
}
