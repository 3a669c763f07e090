//! Quarantine decisions (DESIGN.md section 9, "Quarantine is decided, not
//! parked"): the list says why and what a record would change, secrets
//! named only; accept re-signs a removed peer's record as this device's
//! version and every device converges on it; drop supersedes a record
//! with this device's version; accept is refused for a record that does
//! not verify or open; a decided record is not reported again, and a
//! device that decided signs manifests again, so tombstones are collected.
#![allow(clippy::unwrap_used)]

mod sync_support;

use sync_support::{Circle, ZONE};
use uuid::Uuid;
use vault_core::circle::PeerId;
use vault_core::item::diff::FieldChange;
use vault_core::item::{InternetPassword, ItemData};
use vault_core::sync::{
    Decision, Effect, QuarantineError, RecordError, SealedRecord, TaggedRecord, UnsignedRecord,
};

fn inet(server: &str, password: &str, label: &str) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: server.into(),
        account: "alice".into(),
        password: password.into(),
        label: label.into(),
        ..Default::default()
    })
}

fn inet_of(c: &mut Circle, i: usize, uuid: Uuid) -> InternetPassword {
    match c.v(i).get(uuid).unwrap().data {
        ItemData::Inet(x) => x,
        other => panic!("not inet: {other:?}"),
    }
}

fn password(c: &mut Circle, i: usize, uuid: Uuid) -> String {
    inet_of(c, i, uuid).password.expose().to_owned()
}

fn quarantined(c: &mut Circle, i: usize) -> u64 {
    c.v(i).sync_status().unwrap().quarantined
}

/// Whether device `i`'s signed manifest on the server is at the head.
fn signs_at_head(c: &Circle, i: usize) -> bool {
    let s = c.server.borrow();
    let me = c.devices[i].vault.peer_id();
    s.manifests.get(&me).is_some_and(|m| m.token.seq == s.seq)
}

/// The server serves `record` again, as a new change.
fn reserve(c: &Circle, record: SealedRecord) {
    let mut s = c.server.borrow_mut();
    s.seq += 1;
    let tag = s.seq;
    s.records
        .insert(record.uuid(), TaggedRecord { tag, record });
}

/// Syncs `devices` round-robin until a pass changes nothing, none of them
/// holding anything aside.
fn settle(c: &mut Circle, devices: &[usize]) {
    for _ in 0..6 {
        let mut quiet = true;
        for &i in devices {
            let r = c.sync(i).unwrap();
            assert!(r.quarantined.is_empty(), "device {i}: {:?}", r.quarantined);
            quiet &= r.pulled == 0 && r.pushed == 0;
        }
        if quiet {
            return;
        }
    }
    panic!("the devices did not settle");
}

#[test]
fn a_removed_peers_record_is_listed_accepted_and_taken_everywhere() {
    let mut c = Circle::new(4);
    let (a, b, removed, d) = (0, 1, 2, 3);
    let x = c.v(a).add(inet("x.example", "x1", "")).unwrap();
    let y = c.v(a).add(inet("y.example", "y1", "")).unwrap();
    c.settle();
    // The removed peer changes x while a member; A takes it (the removal
    // syncs first), but the server withholds the cut list from everyone.
    c.v(removed)
        .update(x, inet("x.example", "x-removed", "work"))
        .unwrap();
    c.sync(removed).unwrap();
    c.server.borrow_mut().withhold_cuts = true;
    c.remove_at_cut(a, removed).unwrap();
    let peer: PeerId = c.devices[removed].vault.peer_id();
    // A deletes y: its tombstone waits for every member's manifest.
    c.v(a).delete(y).unwrap();
    c.sync(a).unwrap();
    for i in [b, d] {
        let r = c.sync(i).unwrap();
        assert_eq!(r.quarantined.len(), 1, "device {i}");
        assert!(
            !signs_at_head(&c, i),
            "device {i} signed with a record aside"
        );
    }
    assert!(
        c.server.borrow().records.contains_key(&y),
        "collected early"
    );

    let list = c.v(b).quarantine_list().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let e = &list[0];
    assert_eq!((e.uuid, e.gencount, e.writer), (x, 2, peer));
    assert_eq!(e.faults, [RecordError::CutListMissing(peer)]);
    assert!(e.reason.contains("record list has not arrived"), "{e:?}");
    assert_eq!(e.decision, None);
    assert!(e.acceptable());
    let p = e.preview.as_ref().unwrap();
    assert_eq!(p.effect, Effect::Changes);
    assert_eq!(
        (p.name.as_str(), p.account.as_str()),
        ("x.example", "alice")
    );
    assert_eq!(
        p.changes,
        [
            FieldChange {
                field: "label",
                values: Some((String::new(), "work".into())),
            },
            FieldChange {
                field: "password",
                values: None,
            },
        ]
    );
    assert!(!format!("{list:?}").contains("x-removed"), "a secret shown");

    let done = c.v(b).quarantine_accept(x).unwrap();
    assert_eq!(
        (done.decision, done.gencount, done.tomb, done.records),
        (Decision::Accepted, 3, false, 1)
    );
    assert_eq!(quarantined(&mut c, b), 0);
    assert_eq!(password(&mut c, b, x), "x-removed");
    assert!(matches!(
        c.v(b).quarantine_drop(x),
        Err(QuarantineError::Decided {
            decision: Decision::Accepted,
            ..
        })
    ));
    let r = c.sync(b).unwrap();
    assert_eq!(r.pushed, 1);
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert!(signs_at_head(&c, b), "B signs again");
    // D takes B's version, which supersedes what it held aside.
    let r = c.sync(d).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    settle(&mut c, &[a, b, d]);
    for i in [a, b, d] {
        assert_eq!(password(&mut c, i, x), "x-removed", "device {i}");
        assert_eq!(inet_of(&mut c, i, x).label, "work");
        assert_eq!(c.v(i).get(x).unwrap().gencount, 3);
        assert_eq!(quarantined(&mut c, i), 0, "device {i}");
        assert!(signs_at_head(&c, i), "device {i}");
    }
    // Every member signed past y's tombstone: collected.
    assert!(!c.server.borrow().records.contains_key(&y));
    // The list keeps the decision.
    let all = c.v(b).quarantine_list().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].decision, Some(Decision::Accepted));
    assert!(!all[0].acceptable());
}

#[test]
fn accepting_merges_a_local_edit_that_waits() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let x = c.v(a).add(inet("x.example", "x1", "")).unwrap();
    c.settle();
    c.v(removed)
        .update(x, inet("x.example", "x-removed", ""))
        .unwrap();
    c.sync(removed).unwrap();
    c.server.borrow_mut().withhold_cuts = true;
    c.remove_at_cut(a, removed).unwrap();
    assert_eq!(c.sync(b).unwrap().quarantined.len(), 1);
    // B edits another field meanwhile.
    c.v(b).update(x, inet("x.example", "x1", "mine")).unwrap();
    let done = c.v(b).quarantine_accept(x).unwrap();
    assert_eq!(done.gencount, 3);
    let held = inet_of(&mut c, b, x);
    assert_eq!(
        (held.password.expose(), held.label.as_str()),
        ("x-removed", "mine")
    );
    settle(&mut c, &[a, b]);
    let at_a = inet_of(&mut c, a, x);
    assert_eq!(
        (at_a.password.expose(), at_a.label.as_str()),
        ("x-removed", "mine")
    );
}

#[test]
fn a_legacy_removal_s_record_can_be_accepted() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let n = c.v(removed).add(inet("n.example", "n1", "")).unwrap();
    c.sync(removed).unwrap();
    c.remove(a, removed);
    let peer = c.devices[removed].vault.peer_id();
    let r = c.sync(b).unwrap();
    assert_eq!(r.quarantined.len(), 1);
    assert_eq!(r.quarantined[0].reason, RecordError::RemovedWriter(peer));
    let e = &c.v(b).quarantine_list().unwrap()[0];
    assert_eq!(e.preview.as_ref().unwrap().effect, Effect::Adds);
    c.v(b).quarantine_accept(n).unwrap();
    // A holds it aside too until B's version arrives.
    c.sync(b).unwrap();
    settle(&mut c, &[a, b]);
    assert_eq!(password(&mut c, a, n), "n1");
    assert_eq!(quarantined(&mut c, a), 0);
}

#[test]
fn a_rolled_back_record_is_dropped_for_the_devices_version() {
    let mut c = Circle::new(2);
    let (a, b) = (0, 1);
    let x = c.v(a).add(inet("x.example", "x1", "")).unwrap();
    c.settle();
    let old = c.server.borrow().records[&x].record.clone();
    c.v(a).update(x, inet("x.example", "x2", "")).unwrap();
    c.settle();
    // The old version, validly signed by A, served again.
    reserve(&c, old.clone());
    for i in [a, b] {
        let r = c.sync(i).unwrap();
        assert_eq!(
            r.quarantined[0].reason,
            RecordError::Rollback { held: 2, got: 1 }
        );
    }
    let e = &c.v(b).quarantine_list().unwrap()[0];
    assert!(!e.acceptable());
    assert_eq!(
        e.refusal(),
        Some(&RecordError::Rollback { held: 2, got: 1 })
    );
    assert!(matches!(
        c.v(b).quarantine_accept(x),
        Err(QuarantineError::NotAcceptable {
            fault: RecordError::Rollback { .. },
            ..
        })
    ));
    let done = c.v(b).quarantine_drop(x).unwrap();
    assert_eq!(
        (done.decision, done.gencount, done.tomb),
        (Decision::Dropped, 3, false)
    );
    assert_eq!(quarantined(&mut c, b), 0);
    let r = c.sync(b).unwrap();
    assert_eq!(r.pushed, 1);
    assert!(signs_at_head(&c, b));
    // A's quarantine empties with B's version.
    let r = c.sync(a).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    settle(&mut c, &[a, b]);
    for i in [a, b] {
        assert_eq!(password(&mut c, i, x), "x2");
        assert_eq!(c.v(i).get(x).unwrap().gencount, 3);
        assert_eq!(quarantined(&mut c, i), 0);
    }

    // The same record served once more: B decided on it, and says
    // nothing; A never did, and holds it aside again.
    reserve(&c, old);
    let r = c.sync(b).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert_eq!(quarantined(&mut c, b), 0);
    assert!(signs_at_head(&c, b), "B is not kept from signing");
    // Nor on the slow path: the next round is one request.
    assert_eq!(c.sync(b).unwrap().requests, 1);
    assert_eq!(c.sync(a).unwrap().quarantined.len(), 1);
}

#[test]
fn accept_is_refused_for_a_record_that_does_not_verify_or_open() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let x = c.v(a).add(inet("x.example", "x1", "")).unwrap();
    let y = c.v(a).add(inet("y.example", "y1", "")).unwrap();
    c.settle();
    c.v(removed).update(x, inet("x.example", "x2", "")).unwrap();
    c.v(removed).update(y, inet("y.example", "y2", "")).unwrap();
    c.sync(removed).unwrap();
    c.remove(a, removed);
    let circle_id = c.v(a).circle().unwrap().unwrap().circle_id;
    // Before B reads them, the server breaks x's signature, and swaps
    // y's ciphertext for x's (signed by the removed peer's own key).
    {
        let mut s = c.server.borrow_mut();
        let rx = s.records[&x].record.clone();
        let ry = s.records[&y].record.clone();
        let mut px = rx.clone().into_parts();
        px.signature[0] ^= 1;
        s.records.get_mut(&x).unwrap().record = SealedRecord::from_parts(px).unwrap();
        let py = ry.into_parts();
        let forged = UnsignedRecord::new(
            y,
            py.gencount,
            py.epoch,
            py.tomb,
            py.circle_pos,
            py.wrappedkey,
            rx.encitem().to_vec(),
        )
        .unwrap()
        .sign(c.devices[removed].vault.device(), circle_id, ZONE);
        s.records.get_mut(&y).unwrap().record = forged;
    }
    let r = c.sync(b).unwrap();
    assert_eq!(r.quarantined.len(), 2);
    let list = c.v(b).quarantine_list().unwrap();
    let entry = |u: Uuid| list.iter().find(|e| e.uuid == u).unwrap().clone();
    let (ex, ey) = (entry(x), entry(y));
    assert_eq!(ex.refusal(), Some(&RecordError::BadSignature));
    assert!(ex.preview.is_some(), "x still opens");
    assert!(matches!(ey.refusal(), Some(RecordError::Decrypt(_))));
    assert!(ey.preview.is_none());
    for (u, bad) in [(x, "BadSignature"), (y, "Decrypt")] {
        match c.v(b).quarantine_accept(u) {
            Err(QuarantineError::NotAcceptable { uuid, fault }) => {
                assert_eq!(uuid, u);
                assert!(format!("{fault:?}").starts_with(bad), "{fault:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(quarantined(&mut c, b), 2, "a refusal changes nothing");
    assert_eq!(password(&mut c, b, x), "x1");
    // Both can be dropped; every device keeps its own version.
    c.v(b).quarantine_drop(x).unwrap();
    c.v(b).quarantine_drop(y).unwrap();
    assert!(matches!(
        c.v(b).quarantine_drop(Uuid::from_u128(7)),
        Err(QuarantineError::NotFound(_))
    ));
    settle(&mut c, &[b, a]);
    for i in [a, b] {
        assert_eq!(password(&mut c, i, x), "x1");
        assert_eq!(password(&mut c, i, y), "y1");
        assert_eq!(quarantined(&mut c, i), 0);
        assert!(signs_at_head(&c, i));
    }
}

#[test]
fn a_record_never_held_is_dropped_with_a_tombstone() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let n = c.v(removed).add(inet("n.example", "n1", "")).unwrap();
    c.sync(removed).unwrap();
    c.remove(a, removed);
    for i in [a, b] {
        assert_eq!(c.sync(i).unwrap().quarantined.len(), 1);
    }
    let done = c.v(a).quarantine_drop(n).unwrap();
    assert_eq!((done.gencount, done.tomb), (2, true));
    settle(&mut c, &[a, b]);
    for i in [a, b] {
        assert!(c.v(i).get(n).is_err(), "device {i} holds it");
        assert_eq!(quarantined(&mut c, i), 0);
    }
    // Every member signed past the tombstone: collected.
    assert!(!c.server.borrow().records.contains_key(&n));
}

#[test]
fn a_record_dropped_past_a_removal_s_cut_keeps_nobody_on_the_slow_path() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let x = c.v(removed).add(inet("x.example", "x1", "")).unwrap();
    c.sync(removed).unwrap();
    c.sync(b).unwrap();
    c.remove_at_cut(a, removed).unwrap();
    // The removed device, not knowing, edits; a lying server takes it.
    c.v(removed)
        .update(x, inet("x.example", "late", ""))
        .unwrap();
    let mut conn = c.conn(removed);
    conn.members.push(c.devices[removed].vault.peer_id());
    c.v(removed).sync(&mut conn).unwrap();
    let r = c.sync(b).unwrap();
    assert_eq!(r.dropped.len(), 1);
    assert!(signs_at_head(&c, b));
    // The server still holds the record B dropped; B's next round is one
    // request all the same.
    assert_eq!(c.sync(b).unwrap().requests, 1);
    assert_eq!(password(&mut c, b, x), "x1");
}

#[test]
fn two_devices_deciding_the_same_record_converge() {
    let mut c = Circle::new(4);
    let (a, b, removed, d) = (0, 1, 2, 3);
    let x = c.v(a).add(inet("x.example", "x1", "")).unwrap();
    c.settle();
    c.v(removed)
        .update(x, inet("x.example", "x-removed", ""))
        .unwrap();
    c.sync(removed).unwrap();
    c.server.borrow_mut().withhold_cuts = true;
    c.remove_at_cut(a, removed).unwrap();
    for i in [b, d] {
        assert_eq!(c.sync(i).unwrap().quarantined.len(), 1);
        c.v(i).quarantine_accept(x).unwrap();
    }
    // D's push meets B's version: merged, nothing left to push twice.
    c.sync(b).unwrap();
    let r = c.sync(d).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    settle(&mut c, &[a, b, d]);
    for i in [a, b, d] {
        assert_eq!(password(&mut c, i, x), "x-removed");
        assert_eq!(quarantined(&mut c, i), 0);
        assert!(signs_at_head(&c, i), "device {i}");
    }
}
