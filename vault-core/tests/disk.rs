//! Nothing that identifies a credential reaches the disk in plaintext: the
//! raw bytes of the database file and its write-ahead log hold none of the
//! attribute values or secrets written.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use memchr::memmem;
use vault_core::item::{CryptoKey, CustomField, GenericPassword, InternetPassword, ItemData};

fn distinctive() -> (Vec<ItemData>, Vec<String>) {
    let s = |name: &str| format!("Zq{name}Xv9");
    let values: Vec<String> = [
        "server",
        "account",
        "protocol",
        "path",
        "label",
        "notes",
        "password",
        "totp",
        "uri",
        "fieldname",
        "fieldvalue",
        "service",
        "gaccount",
        "glabel",
        "gnotes",
        "gpassword",
        "klabel",
        "keytype",
        "apptag",
        "privatekey",
        "rpid",
        "credid",
        "userhandle",
        "username",
        "history-password",
        "ifolder",
        "gfolder",
        "kfolder",
    ]
    .iter()
    .map(|n| s(n))
    .collect();
    let v = |i: usize| values[i].clone();
    let items = vec![
        ItemData::Inet(InternetPassword {
            server: v(0),
            account: v(1),
            protocol: v(2),
            port: Some(4242),
            path: v(3),
            label: v(4),
            notes: v(5).into(),
            password: v(6).into(),
            totp: v(7).into(),
            uris: vec![v(8)],
            custom_fields: vec![CustomField {
                name: v(9),
                value: v(10).into(),
                hidden: false,
            }],
            folder: v(25),
        }),
        ItemData::Genp(GenericPassword {
            service: v(11),
            account: v(12),
            label: v(13),
            notes: v(14).into(),
            password: v(15).into(),
            custom_fields: vec![],
            folder: v(26),
        }),
        ItemData::Key(CryptoKey {
            label: v(16),
            key_type: v(17),
            application_tag: v(18).into_bytes(),
            private_key: v(19).into_bytes().into(),
            rp_id: v(20),
            credential_id: v(21).into_bytes(),
            user_handle: v(22).into_bytes(),
            user_name: v(23),
            folder: v(27),
        }),
    ];
    (items, values)
}

fn assert_absent(bytes: &[u8], values: &[String], when: &str) {
    assert!(bytes.len() > 4096, "{when}: read nothing");
    for value in values {
        for form in [value.clone(), value.to_lowercase()] {
            assert!(
                memmem::find(bytes, form.as_bytes()).is_none(),
                "{when}: {form} found on disk"
            );
        }
    }
}

#[test]
fn no_attribute_or_secret_in_the_file_or_its_wal() {
    let (_d, path, mut v) = new_vault();
    let (items, values) = distinctive();
    let ids = v.add_batch(items).unwrap();
    // A version that goes to history, and a search that builds the cache.
    let mut changed = v.get(ids[1]).unwrap().data;
    if let ItemData::Genp(g) = &mut changed {
        g.password = values[24].clone().into();
    }
    v.update(ids[1], changed).unwrap();
    let again = v.get(ids[1]).unwrap().data;
    v.update(ids[1], again).unwrap();
    assert_eq!(v.search("zqserverxv9").unwrap().len(), 1);

    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0,
        "the WAL should hold the writes"
    );
    assert_absent(&file_bytes(&path), &values, "while open");
    drop(v);
    assert_absent(&file_bytes(&path), &values, "after close");
}
