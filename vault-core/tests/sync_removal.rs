//! Removing a peer at a cut (DESIGN.md section 9): the removed peer's
//! records up to the cut are accepted by every device, including one that
//! joins later; a record of it past the cut is dropped once, with a
//! notice, and keeps nobody from signing; a cut the zone moved past is
//! not appended.
#![allow(clippy::unwrap_used)]

mod sync_support;

use sync_support::Circle;
use vault_core::circle::PeerId;
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

/// Syncs device `i` with a stale circle log (as a removed device that has
/// not heard of its removal does), through a server that takes its push.
fn sync_stale(c: &mut Circle, i: usize) {
    let mut conn = c.conn(i);
    conn.members.push(c.devices[i].vault.peer_id());
    c.v(i).sync(&mut conn).unwrap();
}

#[test]
fn the_removed_peers_work_up_to_the_cut_is_kept_everywhere() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let x = c.v(removed).add(inet("x.example", "x1")).unwrap();
    let y = c.v(removed).add(inet("y.example", "y1")).unwrap();
    c.sync(removed).unwrap();
    c.v(removed).delete(y).unwrap();
    c.sync(removed).unwrap();
    // A has not pulled any of it; the removal syncs first.
    c.remove_at_cut(a, removed).expect("the zone is at the cut");
    assert!(c.v(a).get(x).is_ok());
    let r = c.sync(b).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert!(c.v(b).get(x).is_ok());
    let d = c.add_device();
    let r = c.sync(d).unwrap();
    assert!(r.quarantined.is_empty() && r.dropped.is_empty());
    assert!(c.v(d).get(x).is_ok());
    assert!(c.v(d).get(y).is_err(), "the removed peer's delete holds");
    assert_eq!(c.v(d).sync_status().unwrap().quarantined, 0);
}

#[test]
fn a_merge_the_removed_peer_pushed_before_its_removal_survives() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let x = c.v(a).add(inet("x.example", "x1")).unwrap();
    c.settle();
    // A and the removed device edit different fields; the removed device
    // syncs last and pushes the merge, which A never pulls before removing.
    c.v(a).update(x, inet("x-a.example", "x1")).unwrap();
    c.sync(a).unwrap();
    c.v(removed)
        .update(x, inet("x.example", "x-removed"))
        .unwrap();
    let r = c.sync(removed).unwrap();
    assert_eq!(r.merged, 1, "{r:?}");
    let merged = c.server.borrow().records[&x].record.writer();
    assert_eq!(merged, c.devices[removed].vault.peer_id());
    c.remove_at_cut(a, removed).unwrap();
    let d = c.add_device();
    for i in [a, b, d] {
        let r = c.sync(i).unwrap();
        assert!(r.quarantined.is_empty() && r.dropped.is_empty(), "{r:?}");
        match c.v(i).get(x).unwrap().data {
            ItemData::Inet(item) => {
                assert_eq!(item.server, "x-a.example", "device {i}");
                assert_eq!(item.password.expose(), "x-removed", "device {i}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_record_past_the_cut_is_dropped_once_and_blocks_nothing() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let x = c.v(removed).add(inet("x.example", "x1")).unwrap();
    c.sync(removed).unwrap();
    c.sync(b).unwrap();
    c.remove_at_cut(a, removed).unwrap();
    // The removed device, not knowing, edits and a lying server takes it.
    c.v(removed)
        .update(x, inet("x.example", "after-removal"))
        .unwrap();
    sync_stale(&mut c, removed);
    let r = c.sync(b).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert_eq!(r.dropped.len(), 1);
    let peer: PeerId = c.devices[removed].vault.peer_id();
    assert_eq!(r.dropped[0].reason, RecordError::AfterRemoval(peer));
    match c.v(b).get(x).unwrap().data {
        ItemData::Inet(i) => assert_eq!(i.password.expose(), "x1"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.v(b).sync_status().unwrap().quarantined, 0);
    let again = c.sync(b).unwrap();
    assert!(again.dropped.is_empty(), "the notice is given once");
    // Not stuck: B signed a manifest at the server's head.
    let head = c.server.borrow().seq;
    let signed = c.server.borrow().manifests[&c.devices[b].vault.peer_id()].token;
    assert_eq!(signed.seq, head);
}

#[test]
fn a_removed_peers_records_wait_for_the_cut_list() {
    let mut c = Circle::new(3);
    let (a, b, removed) = (0, 1, 2);
    let x = c.v(removed).add(inet("x.example", "x1")).unwrap();
    c.sync(removed).unwrap();
    c.server.borrow_mut().withhold_cuts = true;
    c.remove_at_cut(a, removed).unwrap();
    let lists = c.server.borrow().cuts.clone();
    // The server withholds the list: B keeps the record aside.
    let r = c.sync(b).unwrap();
    assert_eq!(r.quarantined.len(), 1);
    assert!(matches!(
        r.quarantined[0].reason,
        RecordError::CutListMissing(_)
    ));
    assert!(c.v(b).get(x).is_err());
    // A list that is not the one the entry names is refused.
    let ((seq, _), list) = lists.iter().next().unwrap();
    let mut forged = list.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(c.v(b).store_cut_list(*seq, &forged).is_err());
    c.server.borrow_mut().withhold_cuts = false;
    let r = c.sync(b).unwrap();
    assert!(r.quarantined.is_empty(), "{:?}", r.quarantined);
    assert!(c.v(b).get(x).is_ok());
}

#[test]
fn a_push_after_the_cut_was_taken_stops_the_removal() {
    let mut c = Circle::new(3);
    let (a, removed) = (0, 2);
    c.sync(a).unwrap();
    // Prepared at A's token; the removed device pushes before it lands.
    let peer = c.devices[removed].vault.peer_id();
    let mut conn = c.conn(a);
    let prepared = c.v(a).prepare_removal(&peer, &mut conn).unwrap();
    c.v(removed).add(inet("late.example", "l")).unwrap();
    c.sync(removed).unwrap();
    let vault_core::circle::EntryBody::Removal { cuts, .. } = &prepared.entry.entry().body else {
        panic!("not a removal");
    };
    assert!(
        cuts[0].token_seq < c.server.borrow().seq,
        "the zone moved past the cut"
    );
    // The harness's remover syncs again first, so its cut includes it.
    c.remove_at_cut(a, removed).unwrap();
    let r = c.sync(1).unwrap();
    assert!(r.quarantined.is_empty() && r.dropped.is_empty());
    assert_eq!(c.v(1).list(None).unwrap().len(), 1);
}

#[test]
fn a_legacy_removal_without_its_epoch_is_seen_as_unfinished() {
    let mut c = Circle::new(3);
    let peer = c.devices[2].vault.peer_id();
    assert!(!c.v(1).removal_lacks_epoch().unwrap());
    // An older client appended a removal without a cut, then stopped.
    let rm = c.v(0).prepare_remove_peer(&peer).unwrap();
    c.server.borrow_mut().log.push(rm);
    c.refresh(1);
    assert!(c.v(1).removal_lacks_epoch().unwrap());
    // Any member finishes it with a new epoch.
    let (entry, _pending) = c.v(1).prepare_new_epoch().unwrap();
    c.server.borrow_mut().log.push(entry);
    c.refresh(1);
    assert!(!c.v(1).removal_lacks_epoch().unwrap());
    // A removal at a cut carries its epoch: nothing to finish.
    c.remove_at_cut(0, 1).unwrap();
    assert!(!c.v(0).removal_lacks_epoch().unwrap());
}
