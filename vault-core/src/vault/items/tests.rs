//! Tests of item operations that need the crate's insides: fields a newer
//! version wrote, planted in a stored row.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::item::GenericPassword;
use crate::{KdfParams, Vault};

/// Rewrites `uuid`'s current row as a newer device would have written it:
/// the same attributes plus a field this version does not know.
fn plant_unknown(v: &mut UnlockedVault, uuid: Uuid, field: (u8, Vec<u8>)) {
    let mut item = v.get(uuid).unwrap();
    item.unknown.push(field);
    let sealed = rows::seal(&v.keys, &mut v.rng, &v.zone, &item, false).unwrap();
    let row = NewRow {
        uuid,
        gencount: item.gencount,
        tomb: false,
        parent_key_uuid: v.keys.current().key_uuid(),
        sealed: &sealed,
        blind: blind_of(&v.keys, &item.data),
    };
    put_row(&v.conn, item.class(), &row).unwrap();
    v.search = None;
}

#[test]
fn an_edit_keeps_the_fields_a_newer_device_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let kdf = KdfParams::insecure_for_tests_only(1_000);
    let mut v = Vault::create(dir.path().join("v.vault"), "pw", kdf).unwrap();
    let data = |password: &str| {
        ItemData::Genp(GenericPassword {
            service: "wifi".into(),
            password: password.into(),
            folder: "Home".into(),
            ..Default::default()
        })
    };
    let uuid = v.add(data("old")).unwrap();
    let future = (14u8, b"a newer device's field".to_vec());
    plant_unknown(&mut v, uuid, future.clone());
    // This device knows nothing of tag 14; a user edits the password.
    v.update(uuid, data("new")).unwrap();
    let item = v.get(uuid).unwrap();
    assert_eq!(item.data, data("new"));
    assert_eq!(item.unknown, vec![future], "the edit dropped the field");
    // The list (from the search cache) reads the folder past it.
    let listed = v.list(None).unwrap();
    assert_eq!(listed[0].folder, "Home");
}
