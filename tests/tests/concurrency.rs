//! Two handles, and two processes, writing one vault at once: every write
//! lands, no update is lost, and the only error a caller can see is a
//! typed `Busy` after the timeout.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;
use vault_core::error::{ItemError, StorageError};
use vault_core::item::{GenericPassword, ItemData};
use vault_core::{Vault, VaultOptions};
use vault_tests::{TEST_PASSWORD, test_kdf};

fn genp(s: &str) -> ItemData {
    ItemData::Genp(GenericPassword {
        service: s.into(),
        password: "x".into(),
        ..Default::default()
    })
}

#[test]
fn two_handles_in_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.vault");
    let mut v = Vault::create(&path, TEST_PASSWORD, test_kdf()).unwrap();
    let shared = v.add(genp("shared")).unwrap();
    drop(v);
    let per = 150;
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut v = Vault::open(&path).unwrap().unlock(TEST_PASSWORD).unwrap();
                let mut ids = Vec::new();
                for n in 0..per {
                    ids.push(v.add(genp(&format!("t{t}-{n}"))).unwrap());
                    v.update(shared, genp(&format!("t{t}-{n}"))).unwrap();
                }
                ids
            })
        })
        .collect();
    let ids: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut v = Vault::open(&path).unwrap().unlock(TEST_PASSWORD).unwrap();
    for id in &ids {
        v.get(*id).unwrap();
    }
    assert_eq!(v.list(None).unwrap().len(), 2 * per + 1);
    assert_eq!(
        v.get(shared).unwrap().gencount,
        1 + 2 * per as u64,
        "an update was lost"
    );
}

#[test]
fn two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.vault");
    let mut v = Vault::create(&path, TEST_PASSWORD, test_kdf()).unwrap();
    let shared = v.add(genp("shared")).unwrap();
    drop(v);
    let per = 100;
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_vault-writer"))
                .args([
                    "batch",
                    path.to_str().unwrap(),
                    &per.to_string(),
                    &shared.to_string(),
                ])
                .output()
        })
        .collect();
    let mut added = Vec::new();
    for out in children {
        let out = out.unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            if let Some(id) = line.strip_prefix("add ") {
                added.push(id.parse::<uuid::Uuid>().unwrap());
            }
        }
    }
    assert_eq!(added.len(), 2 * per);
    let mut v = Vault::open(&path).unwrap().unlock(TEST_PASSWORD).unwrap();
    for id in &added {
        v.get(*id).unwrap();
    }
    assert_eq!(v.get(shared).unwrap().gencount, 1 + 2 * per as u64);
}

#[test]
fn a_writer_held_past_the_timeout_is_a_typed_busy_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.vault");
    drop(Vault::create(&path, TEST_PASSWORD, test_kdf()).unwrap());
    let options = VaultOptions {
        busy_timeout: Duration::from_millis(200),
        ..VaultOptions::default()
    };
    let mut v = Vault::open_with(&path, options)
        .unwrap()
        .unlock(TEST_PASSWORD)
        .unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let err = v.add(genp("blocked")).unwrap_err();
    assert!(
        matches!(err, ItemError::Storage(StorageError::Busy)),
        "{err:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "gave up before the timeout"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(v.list(None).unwrap().len(), 0);
    v.add(genp("after")).unwrap();
}
