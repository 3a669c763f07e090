//! Session keys (what the CLI's agent holds), the locked header view and
//! uuid-prefix lookups.

mod common;

use common::*;
use vault_core::error::UnlockError;
use vault_core::item::ItemClass;
use vault_core::{SessionKey, Vault};

#[test]
fn a_session_key_unlocks_without_the_password() {
    let (_d, path, mut v) = new_vault();
    let id = v.add(full_inet("a")).unwrap();
    let bytes = v.session_key().to_bytes();
    drop(v);
    let key = SessionKey::from_bytes(&bytes);
    let mut v = Vault::open(&path)
        .unwrap()
        .unlock_with_session_key(&key)
        .unwrap();
    assert_eq!(v.get(id).unwrap().data, full_inet("a"));
    assert_eq!(format!("{key:?}"), "SessionKey(<redacted>)");
}

#[test]
fn a_session_key_is_refused_by_another_vault_and_after_a_password_change() {
    let (_d, path, mut v) = new_vault();
    let (_d2, other, v2) = new_vault();
    let key = v.session_key();
    drop(v2);
    let err = Vault::open(&other)
        .unwrap()
        .unlock_with_session_key(&key)
        .unwrap_err();
    assert!(matches!(err, UnlockError::WrongSessionKey), "{err:?}");

    // Same vault id, other key bytes.
    let mut forged = *key.to_bytes();
    forged[20] ^= 1;
    let err = Vault::open(&path)
        .unwrap()
        .unlock_with_session_key(&SessionKey::from_bytes(&forged))
        .unwrap_err();
    assert!(matches!(err, UnlockError::WrongSessionKey), "{err:?}");

    v.change_password(PASSWORD, "a new password", fast_kdf())
        .unwrap();
    drop(v);
    let err = Vault::open(&path)
        .unwrap()
        .unlock_with_session_key(&key)
        .unwrap_err();
    assert!(matches!(err, UnlockError::WrongSessionKey), "{err:?}");
}

#[test]
fn info_reads_the_header_and_counts_while_locked() {
    let (_d, path, mut v) = new_vault();
    v.add(full_inet("a")).unwrap();
    let b = v.add(full_inet("b")).unwrap();
    v.add(full_genp("c")).unwrap();
    v.delete(b).unwrap();
    v.rotate_vault_key().unwrap();
    let vault_id = v.vault_id();
    drop(v);
    let info = Vault::open(&path).unwrap().info().unwrap();
    assert_eq!(info.vault_id, vault_id);
    assert_eq!(info.kdf_iterations, 1_000);
    assert_eq!(info.key_epoch, 2);
    assert_eq!(info.counts, [1, 1, 0]);
    assert_eq!(ItemClass::ALL[1], ItemClass::Genp);
}

#[test]
fn uuid_prefixes_find_live_items_only() {
    let (_d, _path, mut v) = new_vault();
    let ids: Vec<_> = (0..40)
        .map(|i| v.add(full_inet(&i.to_string())).unwrap())
        .collect();
    let target = ids[7];
    let hex = target.simple().to_string();
    for len in [1, 3, 4, 8, 13, 32] {
        let hits = v.find_uuid_prefix(&hex[..len], 100).unwrap();
        assert!(hits.contains(&target), "prefix length {len}");
        assert!(
            hits.iter()
                .all(|u| u.simple().to_string().starts_with(&hex[..len])),
            "prefix length {len}"
        );
        let expected = ids
            .iter()
            .filter(|u| u.simple().to_string().starts_with(&hex[..len]))
            .count();
        assert_eq!(hits.len(), expected, "prefix length {len}");
    }
    // The hyphenated form and upper case work too.
    let hyphenated = target.hyphenated().to_string().to_uppercase();
    assert_eq!(
        v.find_uuid_prefix(&hyphenated[..13], 10).unwrap(),
        vec![target]
    );
    assert!(v.find_uuid_prefix("xyz", 10).unwrap().is_empty());
    assert!(v.find_uuid_prefix("", 10).unwrap().is_empty());
    // The limit holds across classes.
    v.add(full_genp("g")).unwrap();
    assert_eq!(v.find_uuid_prefix("-", 0).unwrap().len(), 0);
    let all: usize = "0123456789abcdef"
        .chars()
        .map(|c| v.find_uuid_prefix(&c.to_string(), 3).unwrap().len())
        .sum();
    assert!(all <= 16 * 3);
    v.delete(target).unwrap();
    assert!(v.find_uuid_prefix(&hex, 10).unwrap().is_empty());
}
