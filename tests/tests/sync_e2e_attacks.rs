//! The malicious sync server, end to end: a real `vault-server` whose
//! database the test edits behind its back (records swapped, rolled back,
//! deleted, withheld, injected, forged by a removed peer; signed manifests
//! replaced or withheld), keeping its own caches consistent the way the
//! server would (a new seq per re-served record, the bucket marked dirty,
//! the cached root cleared). Every attack ends in vault-core's typed
//! error, as a quarantine reason in `vault --json sync` or as exit 7 with
//! the zone error on stderr, and the victim's item tables stay exactly as
//! they were. The attacks run on a server on SQLite and on one on
//! PostgreSQL, the edits made in its database (`common::serverdb`), and
//! are detected the same way.
#![allow(clippy::unwrap_used)]

mod common;

use common::instances::Deployment;
use common::proxy::Proxy;
use common::serverdb::Rec;
use common::{Device, ServerProc, circle_at, pair, settle};
use serde_json::Value;

fn uuid_bytes(uuid: &str) -> Vec<u8> {
    uuid::Uuid::parse_str(uuid).unwrap().as_bytes().to_vec()
}

/// The server's record of an item (hyphenated uuid).
fn rec(server: &ServerProc, uuid: &str) -> Rec {
    server.db().rec(&uuid_bytes(uuid)).unwrap()
}

/// The server serves `r` as a new change: at the zone's next seq.
fn reserve(server: &ServerProc, r: Rec) {
    server.db().reserve(r);
}

/// The server drops an item's record, without a change.
fn delete(server: &ServerProc, uuid: &str) {
    server.db().delete(&uuid_bytes(uuid));
}

/// A circle of two with three synced items; returns their uuids.
fn setup(server: &ServerProc) -> (Vec<Device>, [String; 3]) {
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let a = &devs[0];
    let x = a.add_inet("x.example", "alice", "x1");
    let y = a.add_inet("y.example", "alice", "y1");
    let z = a.add_inet("z.example", "alice", "z1");
    settle(&[&devs[0], &devs[1]]);
    (devs, [x, y, z])
}

/// What must not change on the victim: its item rows on disk and every
/// item as `get --json` shows it.
type Snapshot = (
    Vec<(&'static str, Vec<rusqlite::types::Value>)>,
    std::collections::BTreeMap<String, Value>,
);

fn snapshot(d: &Device) -> Snapshot {
    (d.item_rows(), d.items())
}

/// A sync that succeeds but quarantines: the quarantine entries.
fn quarantined(d: &Device) -> Vec<Value> {
    let r = d.sync();
    let list = r["quarantine"].as_array().unwrap().clone();
    assert_eq!(r["quarantined"], list.len(), "{r}");
    list
}

/// A sync refused with exit 7: its stderr.
fn refused(d: &Device) -> String {
    let (code, out, err) = d.sync_fails();
    assert_eq!(code, 7, "{}: {err}", d.name);
    // --json: the error as one object on stdout, nothing else.
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["error"]["code"], "server_failed_verification", "{out}");
    assert!(err.contains("the sync server failed verification"), "{err}");
    err
}

const BAD_SIGNATURE: &str = "the record's signature does not verify";

fn swap(server: &ServerProc, column: &str) {
    let (devs, [x, y, _]) = setup(server);
    let (a, b) = (&devs[0], &devs[1]);
    a.set_password(&x, "x2");
    a.sync();
    let before = snapshot(b);
    let mut rx = rec(server, &x);
    let ry = rec(server, &y);
    match column {
        "encitem" => rx.encitem = ry.encitem,
        _ => rx.wrappedkey = ry.wrappedkey,
    }
    reserve(server, rx);
    let q = quarantined(b);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["uuid"], x.as_str());
    assert_eq!(q[0]["gencount"], 2);
    assert_eq!(q[0]["writer"], a.peer_id());
    assert_eq!(q[0]["reason"], BAD_SIGNATURE);
    assert_eq!(snapshot(b), before, "B's items changed");
    assert_eq!(b.json(&["status"])["sync"]["quarantined"], 1);
    assert_eq!(b.ok(&["get", &x]).trim(), "x1");
}

fn an_encitem_swapped_between_records_is_quarantined(server: &ServerProc) {
    swap(server, "encitem");
}

fn a_wrappedkey_swapped_between_records_is_quarantined(server: &ServerProc) {
    swap(server, "wrappedkey");
}

fn a_record_rolled_back_to_an_older_version_is_quarantined(server: &ServerProc) {
    let (devs, [x, ..]) = setup(server);
    let (a, b) = (&devs[0], &devs[1]);
    let old = rec(server, &x);
    a.set_password(&x, "x2");
    a.sync();
    b.sync();
    assert_eq!(b.ok(&["get", &x]).trim(), "x2");
    let before = snapshot(b);
    // The old version, validly signed by A, re-served as a new change.
    reserve(server, old);
    let q = quarantined(b);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["uuid"], x.as_str());
    assert_eq!(q[0]["gencount"], 1);
    assert_eq!(
        q[0]["reason"],
        "gencount 1 rolls back the version 2 this device holds"
    );
    assert_eq!(snapshot(b), before, "B's items changed");
    assert_eq!(b.ok(&["get", &x]).trim(), "x2");
}

fn a_record_deleted_behind_a_devices_back_stops_its_sync(server: &ServerProc) {
    let (devs, [x, ..]) = setup(server);
    let b = &devs[1];
    let before = snapshot(b);
    delete(server, &x);
    let err = refused(b);
    assert!(
        err.contains(
            "the server's zone changed without a change: 1 record(s) missing, 0 unexpected"
        ),
        "{err}"
    );
    assert_eq!(snapshot(b), before, "B's items changed");
    // It stays refused, and nothing was quarantined or lost meanwhile.
    refused(b);
    assert_eq!(b.json(&["status"])["sync"]["quarantined"], 0);
    assert_eq!(b.ok(&["get", &x]).trim(), "x1");
}

fn a_record_withheld_from_a_new_device_stops_its_sync(server: &ServerProc) {
    let (devs, [x, y, z]) = setup(server);
    let a = &devs[0];
    let peers = [a.peer_id(), devs[1].peer_id()];
    let honest = rec(server, &x);
    let (_, head) = server.db().zone();
    delete(server, &x);
    // A third device joins and reads the zone from the start: what it
    // gets disagrees with the root A and B signed at the same token.
    let c = Device::init("gamma");
    pair(a, &c);
    c.unlock();
    let err = refused(&c);
    let named = peers.iter().any(|p| {
        err.contains(&format!(
            "the zone differs from the manifest {p} signed at the same token"
        ))
    });
    assert!(named, "{err}");
    // Verify, then apply: C holds nothing of what was served (before
    // issue 12 it held the served records `y` and `z`); it stays refused.
    let _ = (y, z);
    assert_eq!(c.json(&["ls"]).as_array().unwrap().len(), 0);
    let before = snapshot(&c);
    refused(&c);
    assert_eq!(snapshot(&c), before);
    // The honest record put back: C's next sync goes through and
    // converges with A and B.
    let seq = honest.seq;
    server.db().put(&honest, head);
    assert_eq!(rec(server, &x).seq, seq);
    let r = c.sync();
    assert_eq!(r["pulled"], 3, "{r}");
    assert_eq!(c.json(&["ls"]).as_array().unwrap().len(), 3);
    assert_eq!(c.manifest_root(), a.manifest_root());
}

fn records_injected_by_the_server_are_quarantined(server: &ServerProc) {
    let (devs, [x, ..]) = setup(server);
    let (a, b) = (&devs[0], &devs[1]);
    let before = snapshot(b);
    // A copy of A's real record under a new uuid: the signature covers
    // the uuid.
    let mut copy = rec(server, &x);
    let copy_id = uuid::Uuid::new_v4();
    copy.uuid = copy_id.as_bytes().to_vec();
    reserve(server, copy.clone());
    // And one claiming a writer that never was a member.
    let stranger_id = uuid::Uuid::new_v4();
    copy.uuid = stranger_id.as_bytes().to_vec();
    copy.writer = vec![7; 32];
    reserve(server, copy);
    let q = quarantined(b);
    assert_eq!(q.len(), 2, "{q:?}");
    let reason = |id: uuid::Uuid| {
        q.iter()
            .find(|e| e["uuid"] == id.to_string().as_str())
            .unwrap_or_else(|| panic!("{id} not quarantined: {q:?}"))["reason"]
            .clone()
    };
    assert_eq!(reason(copy_id), BAD_SIGNATURE);
    assert_eq!(
        reason(stranger_id),
        format!(
            "written by {}, which is not a member of the circle",
            "07".repeat(32)
        )
        .as_str()
    );
    assert_eq!(snapshot(b), before, "B's items changed");
    assert_eq!(b.json(&["status"])["sync"]["quarantined"], 2);
    // The writer's own device refuses them too.
    let qa = quarantined(a);
    assert_eq!(qa.len(), 2, "{qa:?}");
    assert_eq!(a.json(&["ls"]).as_array().unwrap().len(), 3);
}

#[test]
fn a_removed_peers_work_up_to_the_cut_is_kept_and_its_later_writes_dropped() {
    let server = ServerProc::start_unthrottled();
    // The devices talk to the server through a proxy, so that the
    // removed device can be shown a fork of the circle.
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta", "gamma"]);
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);
    let c_id = c.peer_id();

    // C writes while a member; neither A nor B has pulled it when A
    // removes C (the removal syncs first and lists C's records).
    let early = c.add_inet("early.example", "carol", "e1");
    c.sync();
    // The server keeps a fork in which C is still a member.
    let fork = server.fork();
    let removed = a.json(&["peer", "rm", &c_id]);
    assert_eq!(removed["removed"], c_id.as_str());
    assert_eq!(a.ok(&["get", &early]).trim(), "e1");

    // B gets C's record: on the removal's cut list.
    let r = b.sync();
    assert_eq!(r["quarantined"], 0, "{r}");
    assert_eq!(r["pulled"], 1, "{r}");
    assert_eq!(b.ok(&["get", &early]).trim(), "e1");
    // So does a device that joins after the removal.
    let d = Device::init("delta");
    pair(a, &d);
    let r = d.sync();
    assert_eq!(r["quarantined"], 0, "{r}");
    assert_eq!(d.ok(&["get", &early]).trim(), "e1");
    // The real server refuses C now.
    let (code, _, err) = c.sync_fails();
    assert_eq!(code, 6, "{err}");

    // C, not told, edits the early item and adds another; the fork takes
    // them, and the server copies C's signed records into the circle.
    c.set_password(&early, "after-removal");
    let late = c.add_inet("late.example", "carol", "l1");
    proxy.set_upstream(&fork.url);
    let rc = c.sync();
    assert_eq!(rc["pushed"], 2, "{rc}");
    proxy.set_upstream(&server.url);
    let forged = [rec(&fork, &early), rec(&fork, &late)];
    assert_eq!(forged[0].gencount, 2);
    let before = [snapshot(a), snapshot(b), snapshot(&d)];
    for r in forged {
        reserve(&server, r);
    }

    // Every device drops both, once, with a notice, and holds nothing aside.
    let reason = format!("written by {c_id} after its removal from the circle");
    for (dev, before) in [a, b, &d].into_iter().zip(&before) {
        let (code, out, err) = dev.run(&["--json", "sync"]);
        assert_eq!(code, 0, "{}: {err}", dev.name);
        let r: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["quarantined"], 0, "{}: {r}", dev.name);
        let dropped = r["dropped"].as_array().unwrap();
        assert_eq!(dropped.len(), 2, "{}: {r}", dev.name);
        for e in dropped {
            assert_eq!(e["reason"], reason.as_str(), "{}: {r}", dev.name);
        }
        assert!(
            err.contains("notice: dropped record"),
            "{}: {err}",
            dev.name
        );
        assert_eq!(&snapshot(dev), before, "{}'s items changed", dev.name);
        assert_eq!(dev.ok(&["get", &early]).trim(), "e1");
        let (code, _) = dev.fails(&["get", "late.example"]);
        assert_eq!(code, 4);
        assert_eq!(dev.json(&["status"])["sync"]["quarantined"], 0);
        // The notice is given once.
        let again = dev.sync();
        assert_eq!(again["dropped"].as_array().unwrap().len(), 0, "{again}");
    }
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn a_stale_or_missing_manifest_stops_the_sync(server: &ServerProc) {
    let (devs, [x, ..]) = setup(server);
    let (a, b) = (&devs[0], &devs[1]);
    let a_id = a.peer_id();
    let old = server.db().manifest(&decode_hex(&a_id)).unwrap();
    let old_counter = old.counter;
    a.set_password(&x, "x2");
    a.sync();
    b.sync();
    let new_counter = server.db().manifest(&decode_hex(&a_id)).unwrap().counter;
    assert!(new_counter > old_counter);
    let before = snapshot(b);
    assert_eq!(b.sync()["requests"], 1);

    // The server serves A's older signed manifest.
    server.db().set_manifest(&decode_hex(&a_id), Some(&old));
    let err = refused(b);
    assert!(
        err.contains(&format!(
            "the server served an older manifest of {a_id} (counter {old_counter} < {new_counter})"
        )),
        "{err}"
    );
    assert_eq!(snapshot(b), before, "B's items changed");

    // Or none at all.
    server.db().set_manifest(&decode_hex(&a_id), None);
    let err = refused(b);
    assert!(
        err.contains(&format!(
            "the server served an older manifest of {a_id} (counter 0 < {new_counter})"
        )),
        "{err}"
    );
    assert_eq!(snapshot(b), before, "B's items changed");
}

fn a_change_withheld_after_a_peer_signed_it_stops_the_sync(server: &ServerProc) {
    let (devs, [x, ..]) = setup(server);
    let (a, b) = (&devs[0], &devs[1]);
    let old = rec(server, &x);
    let (_, seq) = server.db().zone();
    a.set_password(&x, "x2");
    assert_eq!(a.sync()["token"], format!("1.{}", seq + 1).as_str());
    let before = snapshot(b);
    // The server hides A's change from B: the zone as it was before it.
    server.db().put(&old, seq);
    let err = refused(b);
    assert!(
        err.contains(&format!(
            "{} signed the zone at seq {}, but the server stops at {seq}",
            a.peer_id(),
            seq + 1
        )),
        "{err}"
    );
    assert_eq!(snapshot(b), before, "B's items changed");
    assert_eq!(b.ok(&["get", &x]).trim(), "x1");
}

#[test]
fn a_device_paired_after_a_silent_rollback_refuses_it_and_so_does_its_inviter() {
    let mut server = ServerProc::start_unthrottled();
    let (devs, [x, ..]) = setup(&server);
    let (a, b) = (&devs[0], &devs[1]);
    // A copy of the server's database as it is now.
    let old = server.db.with_extension("old");
    server
        .sql()
        .execute("VACUUM INTO ?1", [old.to_str().unwrap()])
        .unwrap();
    // A changes x's password; A and B sign the newer zone.
    a.set_password(&x, "x2");
    settle(&[a, b]);
    // The server silently swaps in the old copy: no epoch change, and
    // everything in it (records, buckets, roots, older signed manifests)
    // is self-consistent.
    let _ = server.child.kill();
    let _ = server.child.wait();
    for suffix in ["-wal", "-shm"] {
        let mut p = server.db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
    std::fs::copy(&old, &server.db).unwrap();
    server.kill9_and_restart();

    // C joins through A, which hands over its newest signed manifest:
    // C refuses the rolled-back zone and applies nothing of it.
    let c = Device::init("gamma");
    pair(a, &c);
    c.unlock();
    let err = refused(&c);
    assert!(err.contains("the server served an older manifest"), "{err}");
    assert_eq!(c.json(&["ls"]).as_array().unwrap().len(), 0);
    // A, which holds the newer state, reports it too at its next sync.
    let before = snapshot(a);
    let err = refused(a);
    assert!(err.contains("the server served an older manifest"), "{err}");
    assert_eq!(snapshot(a), before);
    assert_eq!(a.ok(&["get", &x]).trim(), "x2");
}

/// Each attack on a server on SQLite (`sqlite::NAME`) and on PostgreSQL
/// (`postgres::NAME`, its edits made in PostgreSQL; skipped, saying so,
/// without a cluster, and a failure in CI). The removed peer's fork and
/// the silent rollback copy the SQLite file itself, and run on SQLite.
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $case() {
                super::$case(&super::ServerProc::start_unthrottled());
            })*
        }
        mod postgres {
            $(#[test]
            fn $case() {
                if let Some(dep) = super::Deployment::start("attack", 1) {
                    super::$case(&dep.instances[0]);
                }
            })*
        }
    };
}

on_both! {
    an_encitem_swapped_between_records_is_quarantined,
    a_wrappedkey_swapped_between_records_is_quarantined,
    a_record_rolled_back_to_an_older_version_is_quarantined,
    a_record_deleted_behind_a_devices_back_stops_its_sync,
    a_record_withheld_from_a_new_device_stops_its_sync,
    records_injected_by_the_server_are_quarantined,
    a_stale_or_missing_manifest_stops_the_sync,
    a_change_withheld_after_a_peer_signed_it_stops_the_sync,
}
