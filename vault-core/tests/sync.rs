//! The sync engine against an in-memory server with the real server's
//! rules: convergence, per-field merge, deletes racing edits, duplicates,
//! incremental transfer and resuming after lost replies.
//! (Just over 500 lines: one suite of convergence stories sharing its
//! helpers; removal, restore and quarantine have files of their own.)
#![allow(clippy::unwrap_used)]

mod sync_support;

use sync_support::Circle;
use uuid::Uuid;
use vault_core::item::{GenericPassword, InternetPassword, ItemData};
use vault_core::secret::SecretString;

fn inet(server: &str, account: &str, password: &str) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: server.into(),
        account: account.into(),
        password: password.into(),
        ..Default::default()
    })
}

fn inet_of(c: &mut Circle, i: usize, uuid: Uuid) -> InternetPassword {
    match c.v(i).get(uuid).unwrap().data {
        ItemData::Inet(x) => x,
        other => panic!("not inet: {other:?}"),
    }
}

/// Every device's live items, decrypted, in uuid order.
fn snapshot(c: &mut Circle, i: usize) -> Vec<(Uuid, u64, ItemData)> {
    let mut out: Vec<_> = c
        .v(i)
        .list(None)
        .unwrap()
        .iter()
        .map(|s| s.uuid)
        .collect::<Vec<_>>()
        .into_iter()
        .map(|u| {
            let item = c.v(i).get(u).unwrap();
            (u, item.gencount, item.data)
        })
        .collect();
    out.sort_by_key(|x| x.0);
    out
}

fn assert_converged(c: &mut Circle) {
    let first = snapshot(c, 0);
    for i in 1..c.devices.len() {
        assert_eq!(snapshot(c, i), first, "device {i} differs from device 0");
    }
}

#[test]
fn two_devices_sync_in_both_directions() {
    let mut c = Circle::new(2);
    let a = c.v(0).add(inet("a.example", "alice", "pa")).unwrap();
    let r = c.sync(0).unwrap();
    assert_eq!((r.pushed, r.pulled), (1, 0));
    let r = c.sync(1).unwrap();
    assert_eq!((r.pulled, r.pushed), (1, 0));
    assert_eq!(inet_of(&mut c, 1, a).password.expose(), "pa");

    let b = c.v(1).add(inet("b.example", "bob", "pb")).unwrap();
    c.v(1).update(a, inet("a.example", "alice", "pa2")).unwrap();
    let r = c.sync(1).unwrap();
    assert_eq!(r.pushed, 2);
    let r = c.sync(0).unwrap();
    assert_eq!(r.pulled, 2);
    assert_eq!(inet_of(&mut c, 0, a).password.expose(), "pa2");
    assert_eq!(inet_of(&mut c, 0, b).account, "bob");
    // The replaced version is in device 0's history.
    let h = c.v(0).history(a).unwrap();
    assert_eq!(h[0].data.password().unwrap().expose(), "pa");
    c.settle();
    assert_converged(&mut c);
    assert_eq!(c.v(0).sync_status().unwrap().pending, 0);
}

#[test]
fn edits_to_different_fields_both_survive() {
    let mut c = Circle::new(2);
    let id = c.v(0).add(inet("site.example", "alice", "old")).unwrap();
    c.settle();
    let mut x = inet_of(&mut c, 0, id);
    x.password = "new-from-0".into();
    c.v(0).update(id, ItemData::Inet(x)).unwrap();
    let mut y = inet_of(&mut c, 1, id);
    y.notes = "note-from-1".into();
    c.v(1).update(id, ItemData::Inet(y)).unwrap();
    c.sync(0).unwrap();
    let r = c.sync(1).unwrap();
    assert_eq!((r.merged, r.conflicts), (1, 0));
    c.settle();
    for i in 0..2 {
        let got = inet_of(&mut c, i, id);
        assert_eq!(got.password.expose(), "new-from-0", "device {i}");
        assert_eq!(got.notes.expose(), "note-from-1", "device {i}");
    }
    assert_converged(&mut c);
}

#[test]
fn the_same_field_goes_to_the_later_edit_and_the_other_to_history() {
    let mut c = Circle::new(2);
    let id = c.v(0).add(inet("site.example", "alice", "old")).unwrap();
    c.settle();
    c.v(0)
        .update(id, inet("site.example", "alice", "earlier"))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    c.v(1)
        .update(id, inet("site.example", "alice", "later"))
        .unwrap();
    // The earlier edit reaches the server first; the later one still wins.
    c.sync(0).unwrap();
    let r = c.sync(1).unwrap();
    assert_eq!(r.conflicts, 1);
    c.settle();
    for i in 0..2 {
        assert_eq!(
            inet_of(&mut c, i, id).password.expose(),
            "later",
            "device {i}"
        );
        let history: Vec<String> = c
            .v(i)
            .history(id)
            .unwrap()
            .iter()
            .filter_map(|h| h.data.password().map(|p| p.expose().to_owned()))
            .collect();
        assert!(
            history.contains(&"earlier".to_owned()),
            "device {i}: {history:?}"
        );
    }
    assert_converged(&mut c);
}

#[test]
fn a_delete_racing_an_edit_keeps_the_edit_both_ways() {
    let mut c = Circle::new(2);
    let x = c.v(0).add(inet("x.example", "alice", "x")).unwrap();
    let y = c.v(0).add(inet("y.example", "alice", "y")).unwrap();
    c.settle();
    // x: device 0 deletes first, device 1 edits after. y: the reverse order.
    c.v(0).delete(x).unwrap();
    c.v(1)
        .update(x, inet("x.example", "alice", "x-edited"))
        .unwrap();
    c.v(1).delete(y).unwrap();
    c.v(0)
        .update(y, inet("y.example", "alice", "y-edited"))
        .unwrap();
    c.sync(0).unwrap();
    c.sync(1).unwrap();
    c.settle();
    for i in 0..2 {
        assert_eq!(
            inet_of(&mut c, i, x).password.expose(),
            "x-edited",
            "device {i}"
        );
        assert_eq!(
            inet_of(&mut c, i, y).password.expose(),
            "y-edited",
            "device {i}"
        );
    }
    // The losing delete is recorded in the history of the device that made it.
    assert!(c.v(0).history(x).unwrap().iter().any(|h| h.deleted));
    assert!(
        c.v(1).history(y).unwrap().iter().any(|h| h.deleted)
            || c.v(0).history(y).unwrap().iter().any(|h| h.deleted)
    );
    assert_converged(&mut c);
}

#[test]
fn items_created_offline_for_the_same_account_are_kept_and_flagged() {
    let mut c = Circle::new(2);
    let a = c.v(0).add(inet("Shop.example", "alice", "one")).unwrap();
    let b = c.v(1).add(inet("shop.example", "alice", "two")).unwrap();
    let other = c
        .v(1)
        .add(ItemData::Genp(GenericPassword {
            service: "shop.example".into(),
            account: "alice".into(),
            ..Default::default()
        }))
        .unwrap();
    c.sync(0).unwrap();
    let r = c.sync(1).unwrap();
    let pair = if a < b { (a, b) } else { (b, a) };
    assert_eq!(r.duplicates, vec![pair]);
    c.settle();
    for i in 0..2 {
        assert_eq!(c.v(i).list(None).unwrap().len(), 3, "device {i} keeps both");
    }
    assert_eq!(c.v(1).possible_duplicates().unwrap(), vec![pair]);
    assert!(
        !c.v(1)
            .possible_duplicates()
            .unwrap()
            .iter()
            .any(|p| p.0 == other || p.1 == other)
    );
}

#[test]
fn a_batch_sent_again_after_a_lost_answer_counts_as_saved() {
    let mut c = Circle::new(2);
    let items: Vec<ItemData> = (0..3)
        .map(|n| inet(&format!("twice{n}.example"), "u", "p"))
        .collect();
    let ids = c.v(0).add_batch(items).unwrap();
    c.server.borrow_mut().push_twice = true;
    let r = c.sync(0).unwrap();
    // The second answer is three conflicts carrying A's own records: they
    // are A's writes, saved once, not merged or pushed again.
    assert_eq!((r.pushed, r.conflicts, r.merged), (3, 0, 0), "{r:?}");
    assert_eq!(c.server.borrow().seq, 3);
    for id in &ids {
        assert_eq!(c.server.borrow().records[id].record.gencount(), 1);
    }
    assert_eq!(c.sync(1).unwrap().pulled, 3);
    assert_converged(&mut c);
}

#[test]
fn one_change_in_a_large_zone_transfers_one_record() {
    let mut c = Circle::new(2);
    let items: Vec<ItemData> = (0..2000)
        .map(|n| inet(&format!("s{n}.example"), "u", "p"))
        .collect();
    let ids = c.v(0).add_batch(items).unwrap();
    c.settle();
    c.v(0)
        .update(ids[7], inet("s7.example", "u", "changed"))
        .unwrap();
    c.sync(0).unwrap();
    c.server.borrow_mut().records_sent = 0;
    let r = c.sync(1).unwrap();
    assert_eq!(r.pulled, 1);
    assert_eq!(r.records_received, 1);
    assert_eq!(c.server.borrow().records_sent, 1);
    // Nothing changed: one request, no record.
    c.sync(0).unwrap();
    c.server.borrow_mut().records_sent = 0;
    let r = c.sync(1).unwrap();
    assert_eq!((r.requests, r.records_received), (1, 0));
}

#[test]
fn lost_replies_and_dropped_calls_resume_with_nothing_lost_or_duplicated() {
    for call in 0..8 {
        for lose_reply in [false, true] {
            let mut c = Circle::new(2);
            let base = c.v(1).add(inet("base.example", "b", "b")).unwrap();
            c.settle();
            let ids = c
                .v(0)
                .add_batch((0..5).map(|n| inet(&format!("n{n}.example"), "a", "a")))
                .unwrap();
            c.v(1)
                .update(base, inet("base.example", "b", "b2"))
                .unwrap();
            {
                let mut s = c.server.borrow_mut();
                s.fail_in = Some(call);
                s.lose_reply = lose_reply;
            }
            let _ = c.sync(0);
            c.server.borrow_mut().fail_in = None;
            c.settle();
            assert_converged(&mut c);
            assert_eq!(
                c.v(1).list(None).unwrap().len(),
                6,
                "call {call} lose {lose_reply}"
            );
            for id in &ids {
                assert_eq!(
                    c.v(1).get(*id).unwrap().gencount,
                    1,
                    "no version was duplicated"
                );
            }
            assert_eq!(c.server.borrow().records.len(), 6);
        }
    }
}

#[test]
fn secrets_in_merged_items_stay_secret_in_debug() {
    let s = SecretString::from("hunter2");
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn writes_after_a_removal_use_the_new_epoch_and_old_items_still_open() {
    let mut c = Circle::new(3);
    let old = c.v(0).add(inet("old.example", "a", "o")).unwrap();
    c.settle();
    c.remove(0, 2);
    let new = c.v(1).add(inet("new.example", "b", "n")).unwrap();
    c.v(0).update(old, inet("old.example", "a", "o2")).unwrap();
    c.sync(0).unwrap();
    c.sync(1).unwrap();
    c.sync(0).unwrap();
    let epochs: Vec<(Uuid, u32)> = c
        .server
        .borrow()
        .records
        .values()
        .map(|t| (t.record.uuid(), t.record.epoch()))
        .collect();
    assert!(epochs.contains(&(new, 2)), "{epochs:?}");
    assert!(
        epochs.contains(&(old, 2)),
        "rewritten under the new epoch: {epochs:?}"
    );
    assert_eq!(inet_of(&mut c, 0, new).password.expose(), "n");
    assert_eq!(inet_of(&mut c, 1, old).password.expose(), "o2");
    // The removed device holds no key of epoch 2: it cannot open either.
    assert!(c.v(2).circle().unwrap().unwrap().missing_epochs.is_empty());
    assert_eq!(c.v(2).key_epoch(), 1);
}

#[test]
fn one_round_pushes_an_outbox_larger_than_sixteen_batches() {
    let mut c = Circle::new(2);
    let n = 16 * 500 + 1;
    c.v(0)
        .add_batch((0..n).map(|i| inet(&format!("h{i}.example"), "alice", "pw")))
        .unwrap();
    let r = c.sync(0).unwrap();
    assert_eq!(r.pushed, n);
    assert_eq!(c.v(0).sync_status().unwrap().pending, 0);
    let r = c.sync(1).unwrap();
    assert_eq!(r.pulled, n);
}

#[test]
fn a_device_joining_after_tombstones_were_collected_reads_the_whole_zone() {
    let mut c = Circle::new(2);
    let ids = c
        .v(0)
        .add_batch((0..1500).map(|i| inet(&format!("g{i}.example"), "alice", "pw")))
        .unwrap();
    c.settle();
    c.v(0).delete(ids[3]).unwrap();
    c.settle();
    c.settle();
    // Every member's manifest passed the tombstone: it is collected.
    assert!(c.server.borrow().gc_seq > 1000);
    assert!(!c.server.borrow().records.contains_key(&ids[3]));
    // A new device pages from the start, past the collection point.
    let d = c.add_device();
    let r = c.sync(d).unwrap();
    assert_eq!(r.pulled, 1499);
    assert_eq!(c.v(d).list(None).unwrap().len(), 1499);
}

/// Edits the item through a second handle on the same file while the
/// push that carries its previous version is in flight.
struct EditDuringPush {
    inner: sync_support::Conn,
    other: vault_core::UnlockedVault,
    item: Uuid,
    done: bool,
}

impl vault_core::sync::Transport for EditDuringPush {
    fn changes(
        &mut self,
        z: &str,
        s: vault_core::sync::Token,
        a: u64,
        l: u32,
    ) -> Result<vault_core::sync::ChangesPage, vault_core::sync::TransportError> {
        self.inner.changes(z, s, a, l)
    }
    fn push(
        &mut self,
        z: &str,
        r: &[vault_core::sync::TaggedRecord],
    ) -> Result<vault_core::sync::PushReply, vault_core::sync::TransportError> {
        // The first push carries the old version; the edit's own push
        // then fails, so it waits for the next round.
        if std::mem::replace(&mut self.done, true) {
            return Err(vault_core::sync::TransportError::Unreachable(
                "connection dropped".into(),
            ));
        }
        {
            let mut x = match self.other.get(self.item).unwrap().data {
                ItemData::Inet(x) => x,
                _ => unreachable!(),
            };
            x.notes = "notes-while-pushing".into();
            self.other.update(self.item, ItemData::Inet(x)).unwrap();
        }
        self.inner.push(z, r)
    }
    fn manifest(
        &mut self,
        z: &str,
        b: bool,
    ) -> Result<vault_core::sync::ServerManifest, vault_core::sync::TransportError> {
        self.inner.manifest(z, b)
    }
    fn buckets(
        &mut self,
        z: &str,
        ids: &[u8],
    ) -> Result<Vec<vault_core::sync::TaggedRecord>, vault_core::sync::TransportError> {
        self.inner.buckets(z, ids)
    }
    fn peer_manifests(
        &mut self,
        z: &str,
    ) -> Result<Vec<vault_core::sync::SignedManifest>, vault_core::sync::TransportError> {
        self.inner.peer_manifests(z)
    }
    fn put_manifest(
        &mut self,
        z: &str,
        m: &vault_core::sync::SignedManifest,
    ) -> Result<bool, vault_core::sync::TransportError> {
        self.inner.put_manifest(z, m)
    }
}

#[test]
fn an_edit_made_during_its_push_merges_against_the_version_sent() {
    let mut c = Circle::new(2);
    let id = c.v(0).add(inet("site.example", "alice", "old")).unwrap();
    let other = vault_core::Vault::open(&c.devices[0].path)
        .unwrap()
        .unlock("pw")
        .unwrap();
    let mut t = EditDuringPush {
        inner: c.conn(0),
        other,
        item: id,
        done: false,
    };
    c.devices[0].vault.sync(&mut t).unwrap_err();
    drop(t);
    assert_eq!(c.v(0).sync_status().unwrap().pending, 1);
    // Device 1 changes the password of the version that was sent.
    c.sync(1).unwrap();
    c.v(1)
        .update(id, inet("site.example", "alice", "from-1"))
        .unwrap();
    c.sync(1).unwrap();
    // Against the right base, the two edits touch different fields.
    let r = c.sync(0).unwrap();
    assert_eq!((r.merged, r.conflicts), (1, 0));
    c.sync(1).unwrap();
    for i in 0..2 {
        let x = inet_of(&mut c, i, id);
        assert_eq!(x.password.expose(), "from-1", "device {i}");
        assert_eq!(x.notes.expose(), "notes-while-pushing", "device {i}");
    }
}

#[test]
fn a_record_under_an_epoch_whose_key_is_late_waits_in_quarantine_then_applies() {
    let mut c = Circle::new(2);
    c.settle();
    // Device 0 starts epoch 2 and writes under it; device 1's share is
    // held back.
    c.refresh(0);
    let (entry, pending) = c.v(0).prepare_new_epoch().unwrap();
    let peer = c.v(1).peer_id();
    let share = c
        .v(0)
        .seal_share(&peer, vault_core::ShareEpochs::Pending(&pending))
        .unwrap();
    c.server.borrow_mut().log.push(entry);
    c.refresh(0);
    let id = c.v(0).add(inet("late.example", "alice", "l")).unwrap();
    c.sync(0).unwrap();
    let r = c.sync(1).unwrap();
    assert_eq!(r.quarantined.len(), 1);
    assert_eq!(
        r.quarantined[0].reason,
        vault_core::sync::RecordError::UnknownEpoch(2)
    );
    assert!(c.v(1).get(id).is_err());
    // Device 0 is not told of a mismatch by device 1 in the meantime.
    c.sync(0).unwrap();
    // The share arrives: the next round applies the record.
    c.v(1).install_shares(&[share]).unwrap();
    let r = c.sync(1).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert_eq!(r.pulled, 1);
    assert_eq!(inet_of(&mut c, 1, id).password.expose(), "l");
    assert_eq!(c.v(1).sync_status().unwrap().quarantined, 0);
    c.settle();
}
