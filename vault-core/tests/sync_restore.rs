//! A server restored from a backup (DESIGN.md section 9): every zone moves
//! to a new epoch, the devices read it anew, push back every version they
//! hold that the server lacks or holds older, and converge; a device
//! joining afterwards gets the same vault. A server that only claims a
//! restore makes devices re-upload, never accept an older version.
#![allow(clippy::unwrap_used)]

mod sync_support;

use std::collections::BTreeMap;
use sync_support::Circle;
use uuid::Uuid;
use vault_core::item::{InternetPassword, ItemData};
use vault_core::sync::RecordError;

fn inet(server: &str, password: &str) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: server.into(),
        account: "alice".into(),
        password: password.into(),
        ..Default::default()
    })
}

fn items(c: &mut Circle, i: usize) -> BTreeMap<Uuid, (u64, ItemData)> {
    let uuids: Vec<Uuid> = c.v(i).list(None).unwrap().iter().map(|s| s.uuid).collect();
    uuids
        .into_iter()
        .map(|u| {
            let item = c.v(i).get(u).unwrap();
            (u, (item.gencount, item.data))
        })
        .collect()
}

/// The server's database as a backup holds it.
#[derive(Clone)]
struct Backup {
    records: BTreeMap<Uuid, vault_core::sync::TaggedRecord>,
    manifests: BTreeMap<vault_core::circle::PeerId, vault_core::sync::SignedManifest>,
}

fn backup(c: &Circle) -> Backup {
    let s = c.server.borrow();
    Backup {
        records: s.records.clone(),
        manifests: s.manifests.clone(),
    }
}

/// What `vault-server restore` does: the backup's records and manifests,
/// the sequence kept, every zone at a new epoch.
fn restore(c: &Circle, b: &Backup) {
    let mut s = c.server.borrow_mut();
    s.records = b.records.clone();
    s.manifests = b.manifests.clone();
    s.epoch += 1;
}

#[test]
fn devices_heal_a_restored_server_and_lose_nothing() {
    let mut c = Circle::new(2);
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            c.v(i % 2)
                .add(inet(&format!("s{i}.example"), "p0"))
                .unwrap(),
        );
    }
    c.settle();
    let saved = backup(&c);
    // After the backup: edits, deletes and creates on both devices.
    for (n, id) in ids.iter().enumerate().take(6) {
        c.v(n % 2)
            .update(*id, inet(&format!("s{n}.example"), "p1"))
            .unwrap();
    }
    c.v(0).delete(ids[8]).unwrap();
    c.v(1).delete(ids[9]).unwrap();
    for i in 0..4 {
        c.v(i % 2)
            .add(inet(&format!("new{i}.example"), "n"))
            .unwrap();
    }
    c.settle();
    let before = items(&mut c, 0);
    assert_eq!(before, items(&mut c, 1));

    restore(&c, &saved);
    let r0 = c.sync(0).unwrap();
    let restored = r0.restored.expect("the restore is reported");
    assert!(restored.to_epoch > restored.from_epoch);
    assert!(restored.reuploaded > 0, "{r0:?}");
    assert!(r0.quarantined.is_empty(), "{:?}", r0.quarantined);
    assert!(
        r0.rolled_back
            .iter()
            .all(|q| matches!(q.reason, RecordError::Rollback { .. }))
    );
    let r1 = c.sync(1).unwrap();
    assert!(r1.restored.is_some());
    assert!(r1.quarantined.is_empty(), "{:?}", r1.quarantined);
    c.settle();
    assert_eq!(items(&mut c, 0), before, "device 0 lost or changed an edit");
    assert_eq!(items(&mut c, 1), before, "device 1 lost or changed an edit");
    // The server holds every edit again; a device joining now gets them.
    let d = c.add_device();
    let rd = c.sync(d).unwrap();
    assert!(rd.quarantined.is_empty() && rd.restored.is_none());
    assert_eq!(items(&mut c, d), before);
    // And the next round is quiet.
    let again = c.sync(0).unwrap();
    assert!(again.restored.is_none() && again.rolled_back.is_empty());
}

#[test]
fn a_faked_restore_never_makes_a_device_take_an_older_version() {
    let mut c = Circle::new(2);
    let x = c.v(0).add(inet("x.example", "old")).unwrap();
    c.settle();
    let old = c.server.borrow().records[&x].clone();
    c.v(0).update(x, inet("x.example", "new")).unwrap();
    c.settle();
    // The server puts the older (genuinely signed) version back and
    // claims a restore.
    {
        let mut s = c.server.borrow_mut();
        s.records.insert(x, old);
        s.epoch += 1;
    }
    let r = c.sync(1).unwrap();
    assert_eq!(r.rolled_back.len(), 1, "{r:?}");
    assert_eq!(r.rolled_back[0].uuid, x);
    assert!(matches!(
        r.rolled_back[0].reason,
        RecordError::Rollback { .. }
    ));
    match c.v(1).get(x).unwrap().data {
        ItemData::Inet(i) => assert_eq!(i.password.expose(), "new"),
        other => panic!("{other:?}"),
    }
    // The device put its version back on the server.
    c.settle();
    let served = c.server.borrow().records[&x].record.gencount();
    assert_eq!(served, c.v(0).get(x).unwrap().gencount);
    match c.v(0).get(x).unwrap().data {
        ItemData::Inet(i) => assert_eq!(i.password.expose(), "new"),
        other => panic!("{other:?}"),
    }
}
