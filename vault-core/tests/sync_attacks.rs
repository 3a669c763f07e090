//! A malicious server against the sync engine: swapped ciphertext, rolled
//! back versions, deleted, withheld and injected records, records of a
//! removed peer and stale manifests. Each ends in a typed error and leaves
//! every local item as it was.
#![allow(clippy::unwrap_used)]

mod sync_support;

use sync_support::Circle;
use uuid::Uuid;
use vault_core::item::{InternetPassword, ItemData};
use vault_core::sync::{
    RecordError, RecordParts, SealedRecord, SyncError, TaggedRecord, ZoneError,
};

fn inet(server: &str, password: &str) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: server.into(),
        account: "alice".into(),
        password: password.into(),
        ..Default::default()
    })
}

fn items(c: &mut Circle, i: usize) -> Vec<(Uuid, u64, ItemData)> {
    let ids: Vec<Uuid> = c.v(i).list(None).unwrap().iter().map(|s| s.uuid).collect();
    let mut out: Vec<_> = ids
        .into_iter()
        .map(|u| {
            let it = c.v(i).get(u).unwrap();
            (u, it.gencount, it.data)
        })
        .collect();
    out.sort_by_key(|x| x.0);
    out
}

/// Three synced items on two devices.
fn setup() -> (Circle, [Uuid; 3]) {
    let mut c = Circle::new(2);
    let ids = c
        .v(0)
        .add_batch([
            inet("x.example", "x"),
            inet("y.example", "y"),
            inet("z.example", "z"),
        ])
        .unwrap();
    c.settle();
    (c, [ids[0], ids[1], ids[2]])
}

/// The server re-serves `rec` as a new change.
fn reserve(c: &Circle, mut rec: TaggedRecord) {
    let mut s = c.server.borrow_mut();
    s.seq += 1;
    rec.tag = s.seq;
    s.records.insert(rec.record.uuid(), rec);
}

/// Alters a record's parts as a malicious server would.
fn tamper(rec: &mut TaggedRecord, f: impl FnOnce(&mut RecordParts)) {
    let mut parts = rec.record.clone().into_parts();
    f(&mut parts);
    rec.record = SealedRecord::from_parts(parts).unwrap();
}

fn record(c: &Circle, id: Uuid) -> TaggedRecord {
    c.server.borrow().records[&id].clone()
}

#[test]
fn swapped_encitem_or_wrappedkey_is_refused_and_changes_nothing() {
    for swap_key in [false, true] {
        let (mut c, [x, y, _]) = setup();
        c.v(0).update(x, inet("x.example", "x2")).unwrap();
        c.sync(0).unwrap();
        let before = items(&mut c, 1);
        let mut rx = record(&c, x);
        let ry = record(&c, y);
        if swap_key {
            tamper(&mut rx, |p| p.wrappedkey = ry.record.wrappedkey().to_vec());
        } else {
            tamper(&mut rx, |p| p.encitem = ry.record.encitem().to_vec());
        }
        reserve(&c, rx);
        let r = c.sync(1).unwrap();
        assert_eq!(r.quarantined.len(), 1);
        assert_eq!(r.quarantined[0].uuid, x);
        assert_eq!(r.quarantined[0].reason, RecordError::BadSignature);
        assert_eq!(items(&mut c, 1), before, "nothing local was overwritten");
        assert_eq!(c.v(1).sync_status().unwrap().quarantined, 1);
    }
}

#[test]
fn a_rolled_back_version_is_refused() {
    let (mut c, [x, _, _]) = setup();
    let old = record(&c, x);
    c.v(0).update(x, inet("x.example", "x2")).unwrap();
    c.sync(0).unwrap();
    c.sync(1).unwrap();
    let before = items(&mut c, 1);
    reserve(&c, old);
    let r = c.sync(1).unwrap();
    assert_eq!(
        r.quarantined[0].reason,
        RecordError::Rollback { held: 2, got: 1 }
    );
    assert_eq!(items(&mut c, 1), before);
}

#[test]
fn a_record_injected_by_the_server_is_refused() {
    let (mut c, [x, _, _]) = setup();
    let before = items(&mut c, 1);
    // A copy of a real record under a new uuid: its signature no longer fits.
    let mut fake = record(&c, x);
    tamper(&mut fake, |p| p.uuid = Uuid::new_v4());
    reserve(&c, fake.clone());
    // And one claiming a writer that is no member at all.
    tamper(&mut fake, |p| {
        p.uuid = Uuid::new_v4();
        p.writer = vault_core::circle::PeerId::from_bytes([7; 32]);
    });
    reserve(&c, fake);
    let r = c.sync(1).unwrap();
    let reasons: Vec<_> = r.quarantined.iter().map(|q| q.reason.clone()).collect();
    assert!(reasons.contains(&RecordError::BadSignature), "{reasons:?}");
    assert!(
        reasons.contains(&RecordError::UnknownWriter(
            vault_core::circle::PeerId::from_bytes([7; 32])
        )),
        "{reasons:?}"
    );
    assert_eq!(items(&mut c, 1), before);
}

#[test]
fn each_record_is_judged_by_its_own_signature_when_a_read_restarts() {
    // Pages are checked on a worker while the pull goes on; the read that
    // restarts from seq 0 after its first page must not match the dropped
    // page's verdicts to the new pages' records.
    let (mut c, _) = setup();
    let ids = c
        .v(0)
        .add_batch((0..2500).map(|i| inet(&format!("h{i}.example"), "pw")))
        .unwrap();
    c.sync(0).unwrap();
    let forged = ids[1700];
    let mut rec = record(&c, forged);
    tamper(&mut rec, |p| p.signature[40] ^= 1);
    c.server.borrow_mut().records.insert(forged, rec);
    let sent_before = c.server.borrow().records_sent;
    // Device 1 reads from seq 3; after one page the server collects up to
    // seq 4, so the next page is refused and the read starts over.
    c.server.borrow_mut().collect_after_pages = Some((1, 4));
    let r = c.sync(1).unwrap();
    let sent = c.server.borrow().records_sent - sent_before;
    assert!(
        sent >= 1000 + 2503,
        "the read restarted: {sent} records sent"
    );
    let refused: Vec<_> = r
        .quarantined
        .iter()
        .map(|q| (q.uuid, q.reason.clone()))
        .collect();
    assert_eq!(refused, vec![(forged, RecordError::BadSignature)]);
    assert_eq!(r.pulled, 2499);
    assert_eq!(c.v(1).list(None).unwrap().len(), 3 + 2499);
}

#[test]
fn a_record_deleted_behind_a_devices_back_is_detected() {
    let (mut c, [x, _, _]) = setup();
    let before = items(&mut c, 1);
    c.server.borrow_mut().records.remove(&x);
    let err = c.sync(1).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Zone(ZoneError::Diverged {
                missing: 1,
                unexpected: 0
            })
        ),
        "{err:?}"
    );
    assert_eq!(items(&mut c, 1), before);
}

#[test]
fn a_record_withheld_from_a_new_device_is_detected() {
    let (mut c, [x, _, _]) = setup();
    c.server.borrow_mut().records.remove(&x);
    // A third device joins and reads the zone from the start.
    assert_eq!(c.add_device(), 2);
    let err = c.sync(2).unwrap_err();
    assert!(
        matches!(err, SyncError::Zone(ZoneError::ManifestMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn changes_withheld_after_a_peer_signed_them_are_detected() {
    let (mut c, [x, _, _]) = setup();
    let old = record(&c, x);
    c.v(0).update(x, inet("x.example", "x2")).unwrap();
    c.sync(0).unwrap();
    // The server hides the last change from device 1: it serves the zone
    // as it was before it.
    {
        let mut s = c.server.borrow_mut();
        s.seq -= 1;
        s.records.insert(x, old);
    }
    let before = items(&mut c, 1);
    let err = c.sync(1).unwrap_err();
    assert!(
        matches!(err, SyncError::Zone(ZoneError::Withheld { signed, served, .. }) if signed == served + 1),
        "{err:?}"
    );
    assert_eq!(items(&mut c, 1), before);
}

#[test]
fn a_stale_manifest_is_detected() {
    let (mut c, [x, _, _]) = setup();
    let a = c.v(0).peer_id();
    let old = c.server.borrow().manifests[&a].clone();
    c.v(0).update(x, inet("x.example", "x2")).unwrap();
    c.sync(0).unwrap();
    c.sync(1).unwrap();
    c.v(0).update(x, inet("x.example", "x3")).unwrap();
    c.sync(0).unwrap();
    c.server.borrow_mut().manifests.insert(a, old.clone());
    let err = c.sync(1).unwrap_err();
    assert!(
        matches!(err, SyncError::Zone(ZoneError::StaleManifest { signer, .. }) if signer == a),
        "{err:?}"
    );
    // Withholding the manifest altogether is the same.
    c.server.borrow_mut().manifests.remove(&a);
    let err = c.sync(1).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Zone(ZoneError::StaleManifest { served: 0, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn records_of_a_removed_peer_are_refused_after_its_removal_and_kept_before() {
    let mut c = Circle::new(3);
    // Device 2 writes an item while still a member; everyone syncs.
    let early = c.v(2).add(inet("early.example", "e")).unwrap();
    c.settle();
    c.remove(0, 2);
    // Device 2, not told, writes again; a colluding server stores it.
    c.v(2)
        .update(early, inet("early.example", "after-removal"))
        .unwrap();
    let late = c.v(2).add(inet("late.example", "l")).unwrap();
    let forged: Vec<TaggedRecord> = {
        // Sign the device's outbox as its engine would, via a throwaway
        // server that accepts anything, then copy the records over.
        let other = sync_support::Server::new();
        let mut conn = sync_support::Conn {
            server: other.clone(),
            me: c.v(2).peer_id(),
            members: vec![],
        };
        let _ = c.devices[2].vault.sync(&mut conn);
        other.borrow().records.values().cloned().collect()
    };
    for r in forged
        .into_iter()
        .filter(|r| r.record.uuid() == late || r.record.gencount() > 1)
    {
        reserve(&c, r);
    }
    let before = items(&mut c, 1);
    let r = c.sync(1).unwrap();
    let writer = c.v(2).peer_id();
    assert!(!r.quarantined.is_empty());
    assert!(
        r.quarantined
            .iter()
            .all(|q| q.reason == RecordError::RemovedWriter(writer)),
        "{:?}",
        r.quarantined
    );
    assert_eq!(items(&mut c, 1), before);
    assert_eq!(
        c.v(1).get(early).unwrap().data.password().unwrap().expose(),
        "e"
    );
}

#[test]
fn a_device_joining_after_a_removal_keeps_what_the_removed_peer_wrote_before() {
    let mut c = Circle::new(3);
    let early = c.v(2).add(inet("early.example", "e")).unwrap();
    c.settle();
    c.remove(0, 2);
    // A current member syncs after the removal and signs the zone.
    c.sync(0).unwrap();
    assert_eq!(c.add_device(), 3);
    let r = c.sync(3).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert_eq!(
        c.v(3).get(early).unwrap().data.password().unwrap().expose(),
        "e"
    );
    assert_eq!(c.v(3).sync_status().unwrap().quarantined, 0);
}

#[test]
fn a_changes_feed_that_never_ends_is_refused() {
    let (mut c, [x, _, _]) = setup();
    c.v(0).update(x, inet("x.example", "x2")).unwrap();
    c.sync(0).unwrap();
    let before = items(&mut c, 1);
    c.server.borrow_mut().endless = true;
    let err = c.sync(1).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Transport(vault_core::sync::TransportError::Malformed(_))
        ),
        "{err:?}"
    );
    assert!(c.server.borrow().requests < 100, "it gave up at once");
    assert_eq!(items(&mut c, 1), before);
}

#[test]
fn a_flood_of_refused_records_stops_the_round_and_keeps_none() {
    let (mut c, [x, _, _]) = setup();
    let before = items(&mut c, 1);
    // 1,001 copies of a real record under new uuids: each fails its
    // signature, and together they pass the cap on refusals per round.
    let real = record(&c, x);
    let mut junk = Vec::new();
    for _ in 0..1001 {
        let mut fake = real.clone();
        tamper(&mut fake, |p| p.uuid = Uuid::new_v4());
        junk.push(fake.record.uuid());
        reserve(&c, fake);
    }
    let err = c.sync(1).unwrap_err();
    assert!(
        matches!(err, SyncError::Zone(ZoneError::TooManyRefused(1000))),
        "{err:?}"
    );
    assert_eq!(c.v(1).sync_status().unwrap().quarantined, 0);
    assert_eq!(items(&mut c, 1), before);
    // The server drops its junk: the next round goes through.
    for u in junk {
        c.server.borrow_mut().records.remove(&u);
    }
    let r = c.sync(1).unwrap();
    assert!(r.quarantined.is_empty(), "{r:?}");
}
