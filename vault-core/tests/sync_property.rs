//! Property: three devices making random offline creates, edits and
//! deletes, syncing in random order, converge to the same items and the
//! same manifest root, and every value ever written is still on some
//! device, current or in history.
#![allow(clippy::unwrap_used)]

mod sync_support;

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use sync_support::Circle;
use uuid::Uuid;
use vault_core::item::{InternetPassword, ItemData};

#[derive(Debug, Clone)]
enum Op {
    Add { dev: usize, site: u8 },
    Edit { dev: usize, item: usize, field: u8 },
    Delete { dev: usize, item: usize },
    Sync { dev: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3usize, 0..4u8).prop_map(|(dev, site)| Op::Add { dev, site }),
        4 => (0..3usize, 0..8usize, 0..3u8).prop_map(|(dev, item, field)| Op::Edit { dev, item, field }),
        1 => (0..3usize, 0..8usize).prop_map(|(dev, item)| Op::Delete { dev, item }),
        3 => (0..3usize).prop_map(|dev| Op::Sync { dev }),
    ]
}

fn root(c: &Circle, i: usize) -> Vec<u8> {
    let conn = rusqlite::Connection::open(&c.devices[i].path).unwrap();
    conn.query_row("SELECT root FROM ckmanifest WHERE peer_id = x''", [], |r| {
        r.get(0)
    })
    .unwrap()
}

/// Every value of every field an item has on any device, now or in history.
fn all_values(c: &mut Circle, id: Uuid) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for i in 0..3 {
        let mut versions = c.v(i).history(id).unwrap_or_default();
        if let Ok(item) = c.v(i).get(id) {
            versions.push(item);
        }
        for v in versions {
            if let ItemData::Inet(x) = v.data {
                out.insert(x.password.expose().to_owned());
                out.insert(x.notes.expose().to_owned());
                out.insert(x.label);
            }
        }
    }
    out
}

fn run(ops: Vec<Op>) {
    let mut c = Circle::new(3);
    // Items each device knows of, and every value written to each.
    let mut known: Vec<Vec<Uuid>> = vec![Vec::new(); 3];
    let mut written: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for (n, op) in ops.into_iter().enumerate() {
        match op {
            Op::Add { dev, site } => {
                let value = format!("add-{n}");
                let id = c
                    .v(dev)
                    .add(ItemData::Inet(InternetPassword {
                        server: format!("site{site}.example"),
                        account: format!("acct{n}"),
                        password: value.clone().into(),
                        ..Default::default()
                    }))
                    .unwrap();
                known[dev].push(id);
                written.entry(id).or_default().push(value);
            }
            Op::Edit { dev, item, field } => {
                let Some(&id) = known[dev].get(item % known[dev].len().max(1)) else {
                    continue;
                };
                let Ok(current) = c.v(dev).get(id) else {
                    continue;
                };
                let ItemData::Inet(mut x) = current.data else {
                    unreachable!()
                };
                let value = format!("edit-{n}");
                match field {
                    0 => x.password = value.clone().into(),
                    1 => x.notes = value.clone().into(),
                    _ => x.label = value.clone(),
                }
                c.v(dev).update(id, ItemData::Inet(x)).unwrap();
                written.entry(id).or_default().push(value);
            }
            Op::Delete { dev, item } => {
                let Some(&id) = known[dev].get(item % known[dev].len().max(1)) else {
                    continue;
                };
                let _ = c.v(dev).delete(id);
            }
            Op::Sync { dev } => {
                let r = c.sync(dev).unwrap();
                assert!(r.quarantined.is_empty());
                known[dev] = c
                    .v(dev)
                    .list(None)
                    .unwrap()
                    .iter()
                    .map(|s| s.uuid)
                    .collect();
            }
        }
    }
    c.settle();
    let snapshot = |c: &mut Circle, i: usize| {
        let ids: Vec<Uuid> = c.v(i).list(None).unwrap().iter().map(|s| s.uuid).collect();
        let mut items: Vec<_> = ids
            .into_iter()
            .map(|u| {
                let it = c.v(i).get(u).unwrap();
                (u, it.gencount, it.data)
            })
            .collect();
        items.sort_by_key(|x| x.0);
        items
    };
    let first = snapshot(&mut c, 0);
    for i in 1..3 {
        assert_eq!(snapshot(&mut c, i), first, "device {i} differs");
        assert_eq!(
            root(&c, i),
            root(&c, 0),
            "device {i}'s manifest root differs"
        );
    }
    for (id, values) in written {
        let have = all_values(&mut c, id);
        for v in values {
            assert!(have.contains(&v), "{v} on item {id} was lost");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn three_devices_converge_and_lose_no_edit(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
