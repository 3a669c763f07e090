//! Helpers shared by vault-core's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use vault_core::item::{CryptoKey, CustomField, GenericPassword, InternetPassword, ItemData};
use vault_core::{KdfParams, UnlockedVault, Vault};

pub const PASSWORD: &str = "correct horse battery staple";

/// A cheap KDF: these tests create many vaults.
pub fn fast_kdf() -> KdfParams {
    KdfParams::insecure_for_tests_only(1_000)
}

pub fn new_vault() -> (tempfile::TempDir, PathBuf, UnlockedVault) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.vault");
    let v = Vault::create(&path, PASSWORD, fast_kdf()).unwrap();
    (dir, path, v)
}

pub fn reopen(path: &Path) -> UnlockedVault {
    Vault::open(path).unwrap().unlock(PASSWORD).unwrap()
}

/// Every attribute of every class set, with Unicode.
pub fn full_inet(tag: &str) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: format!("{tag}.exämple.com"),
        account: format!("ålice-{tag}@example.com"),
        protocol: "https".into(),
        port: Some(8443),
        path: "/lögin".into(),
        label: format!("Bank 🏦 {tag}"),
        notes: "recovery codes: 1111 2222 — ünïcode".into(),
        password: format!("pässwörd-{tag}-🔐").into(),
        totp: "otpauth://totp/Bank:alice?secret=JBSWY3DPEHPK3PXP".into(),
        uris: vec!["https://bank.example/".into(), "android://com.bank".into()],
        custom_fields: vec![
            CustomField {
                name: "PIN".into(),
                value: "4321".into(),
                hidden: true,
            },
            CustomField {
                name: "branch".into(),
                value: "Zürich".into(),
                hidden: false,
            },
        ],
        folder: "Finance/Bänken".into(),
    })
}

pub fn full_genp(tag: &str) -> ItemData {
    ItemData::Genp(GenericPassword {
        service: format!("com.example.{tag}"),
        account: format!("bøb-{tag}"),
        label: "Wi-Fi «home»".into(),
        notes: "日本語のメモ".into(),
        password: format!("wifi-{tag}-secret").into(),
        custom_fields: vec![CustomField {
            name: "ssid".into(),
            value: "home-net".into(),
            hidden: false,
        }],
        folder: "Home/Network".into(),
    })
}

pub fn full_key(tag: &str) -> ItemData {
    ItemData::Key(CryptoKey {
        label: format!("passkey {tag}"),
        key_type: "p256".into(),
        application_tag: vec![0, 1, 2, 255],
        private_key: vec![0xde, 0xad, 0xbe, 0xef, 0, 7].into(),
        rp_id: format!("{tag}.webauthn.io"),
        credential_id: vec![9; 32],
        user_handle: vec![1, 2, 3],
        user_name: format!("carol-{tag}"),
        folder: "Passkeys".into(),
    })
}

pub fn empty_of_each() -> Vec<ItemData> {
    vec![
        ItemData::Inet(InternetPassword::default()),
        ItemData::Genp(GenericPassword::default()),
        ItemData::Key(CryptoKey::default()),
    ]
}

/// The raw bytes of the vault file and its WAL, if any.
pub fn file_bytes(path: &Path) -> Vec<u8> {
    let mut out = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(wal) {
        out.extend_from_slice(&w);
    }
    out
}

/// A raw SQLite connection to tamper with a vault behind the library's back.
pub fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}
