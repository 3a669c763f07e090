//! Vault-key rotation: a new epoch re-wraps every content key (items and
//! history) in one transaction and never touches an `encitem`.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::collections::BTreeMap;

type Blobs = BTreeMap<(String, i64), (Vec<u8>, Vec<u8>, Vec<u8>)>;

fn blobs(path: &std::path::Path) -> Blobs {
    let c = raw(path);
    let mut out = BTreeMap::new();
    for (table, id) in [
        ("inet", "rowid"),
        ("genp", "rowid"),
        ("keys", "rowid"),
        ("item_history", "id"),
    ] {
        let mut stmt = c
            .prepare(&format!(
                "SELECT {id}, parent_key_uuid, wrappedkey, encitem FROM {table}"
            ))
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })
            .unwrap();
        for row in rows {
            let (id, b) = row.unwrap();
            out.insert((table.to_string(), id), b);
        }
    }
    out
}

#[test]
fn rotation_rewraps_every_key_and_no_encitem() {
    let (_d, path, mut v) = new_vault();
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(v.add(full_inet(&i.to_string())).unwrap());
        ids.push(v.add(full_genp(&i.to_string())).unwrap());
        ids.push(v.add(full_key(&i.to_string())).unwrap());
    }
    v.update(ids[0], full_inet("changed")).unwrap();
    v.delete(ids[1]).unwrap();
    let before = blobs(&path);
    assert_eq!(v.key_epoch(), 1);

    assert_eq!(v.rotate_vault_key().unwrap(), 2);
    assert_eq!(v.key_epoch(), 2);
    let after = blobs(&path);
    assert_eq!(before.len(), after.len());
    assert!(
        before.keys().any(|(t, _)| t == "item_history"),
        "history rows must be covered"
    );
    let new_parent = &after.values().next().unwrap().0;
    for (key, (p0, w0, e0)) in &before {
        let (p1, w1, e1) = &after[key];
        assert_eq!(e0, e1, "{key:?}: encitem changed");
        assert_ne!(w0, w1, "{key:?}: wrappedkey not re-wrapped");
        assert_ne!(p0, p1, "{key:?}: still under the old epoch");
        assert_eq!(p1, new_parent, "{key:?}: not under the new epoch");
    }
    // Everything still reads, in this handle and after reopening.
    assert_eq!(v.get(ids[0]).unwrap().data, full_inet("changed"));
    assert_eq!(v.history(ids[1]).unwrap()[0].data, full_genp("0"));
    drop(v);
    let mut v = reopen(&path);
    assert_eq!(v.key_epoch(), 2);
    for (n, id) in ids.iter().enumerate().skip(2) {
        let i = (n / 3).to_string();
        let want = match n % 3 {
            0 => full_inet(&i),
            1 => full_genp(&i),
            _ => full_key(&i),
        };
        assert_eq!(v.get(*id).unwrap().data, want);
    }
    // New writes use the new epoch; another handle still open on epoch 1
    // picks the rotation up.
    let mut stale = reopen(&path);
    v.rotate_vault_key().unwrap();
    let id = stale.add(full_genp("after")).unwrap();
    assert_eq!(stale.key_epoch(), 3);
    assert_eq!(v.get(id).unwrap().data, full_genp("after"));
}
