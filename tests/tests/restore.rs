//! A server restored from its backup, through real `vault` and
//! `vault-server` processes: the devices heal it and lose nothing, a
//! device joining afterwards gets the same vault, and a server that fakes
//! a restore to serve an older version of an item is refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, ServerProc, circle_at, pair, settle};
use serde_json::Value;

/// Runs `vault --json sync` and returns its JSON and standard error.
fn sync(d: &Device) -> (Value, String) {
    let (code, out, err) = d.run(&["--json", "sync"]);
    assert_eq!(code, 0, "{} sync failed: {err}", d.name);
    (serde_json::from_str(&out).unwrap(), err)
}

#[test]
fn devices_heal_a_restored_server_and_lose_no_edit() {
    let mut server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let mut ids = Vec::new();
    for i in 0..20 {
        let d = if i % 2 == 0 { a } else { b };
        ids.push(d.add_inet(&format!("s{i}.example"), "alice", "p0"));
    }
    settle(&[a, b]);
    let backup = server.backup();

    // 50 changes after the backup, on both devices: 20 edits, 10 deletes,
    // 20 creates.
    for (n, id) in ids.iter().enumerate().take(20) {
        let d = if n % 2 == 0 { a } else { b };
        d.set_password(id, &format!("edited-{n}"));
    }
    // (A delete racing an edit it has not seen keeps the edit.)
    settle(&[a, b]);
    for (n, id) in ids.iter().enumerate().skip(10).take(10) {
        let d = if n % 2 == 0 { b } else { a };
        d.ok(&["rm", id]);
    }
    for i in 0..20 {
        let d = if i % 2 == 0 { b } else { a };
        d.add_inet(&format!("new{i}.example"), "bob", "n");
    }
    settle(&[a, b]);
    let before = a.items();
    assert_eq!(b.items(), before);
    assert_eq!(before.len(), 30);

    server.restore(&backup);
    for d in [a, b] {
        let (r, err) = sync(d);
        assert!(r["restored"].is_object(), "{}: {r}", d.name);
        assert!(
            err.contains("the server was restored from a backup"),
            "{}: {err}",
            d.name
        );
        assert_eq!(r["quarantined"], 0, "{}: {r}", d.name);
    }
    assert!(sync(a).0["restored"].is_null(), "the notice is given once");
    settle(&[a, b]);
    assert_eq!(a.items(), before, "alpha lost or changed an edit");
    assert_eq!(b.items(), before, "beta lost or changed an edit");
    // A device joining afterwards gets the same vault.
    let d = Device::init("delta");
    pair(a, &d);
    let (r, _) = sync(&d);
    assert_eq!(r["quarantined"], 0, "{r}");
    assert_eq!(d.items(), before);
}

#[test]
fn a_faked_restore_serving_an_older_version_is_refused() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let x = a.add_inet("x.example", "alice", "x1");
    settle(&[a, b]);
    let backup = server.backup();
    a.set_password(&x, "x2");
    settle(&[a, b]);

    // The server's database gets the older copy of X back (validly signed
    // by A, from the backup), and every zone a new epoch, as a restore
    // would: but nothing else went back.
    let uuid = uuid::Uuid::parse_str(&x).unwrap();
    let db = server.sql();
    db.execute("ATTACH ?1 AS old", [backup.to_str().unwrap()])
        .unwrap();
    let moved = db
        .execute_batch(&format!(
            "BEGIN;
             DELETE FROM main.records WHERE uuid = x'{hex}';
             INSERT INTO main.records (zone_id, uuid, seq, gencount, epoch, tomb, circle_pos,
                                       writer, wrappedkey, encitem, signature, content)
                 SELECT zone_id, uuid, seq, gencount, epoch, tomb, circle_pos,
                        writer, wrappedkey, encitem, signature, content
                 FROM old.records WHERE uuid = x'{hex}';
             UPDATE main.zones SET epoch = epoch + 1, root = NULL;
             UPDATE main.zone_buckets SET hash = NULL;
             COMMIT;",
            hex = hex(uuid.as_bytes())
        ))
        .is_ok();
    assert!(moved);
    db.execute("DETACH old", []).unwrap();

    let (r, err) = sync(b);
    let rolled = r["rolled_back"].as_array().unwrap();
    assert_eq!(rolled.len(), 1, "{r}");
    assert_eq!(rolled[0]["uuid"], x.as_str());
    assert_eq!(
        rolled[0]["reason"],
        "gencount 1 rolls back the version 2 this device holds"
    );
    assert!(err.contains("served an older version"), "{err}");
    assert_eq!(b.ok(&["get", &x]).trim(), "x2");
    // The device's version went back up; A never sees the older one.
    settle(&[a, b]);
    assert_eq!(a.ok(&["get", &x]).trim(), "x2");
    let served: i64 = server
        .sql()
        .query_row(
            "SELECT gencount FROM records WHERE uuid = ?1",
            [uuid.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(served, 2);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_restored_server_gets_the_log_it_lost_back_from_the_devices() {
    let mut server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta", "gamma"]);
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);
    let early = c.add_inet("early.example", "carol", "e1");
    settle(&[a, b, c]);
    let backup = server.backup();
    // After the backup, the log grows: gamma is removed.
    let removed = a.json(&["peer", "rm", &c.peer_id()]);
    let epoch = removed["key_epoch"].as_u64().unwrap();
    b.add_inet("after.example", "bob", "a1");
    settle(&[a, b]);
    let before = a.items();

    server.restore(&backup);
    for d in [a, b] {
        let (r, err) = sync(d);
        assert_eq!(r["quarantined"], 0, "{}: {r} {err}", d.name);
    }
    settle(&[a, b]);
    assert_eq!(a.items(), before);
    assert_eq!(b.items(), before);
    // The removal is back on the server: gamma is refused again.
    let (code, _, err) = c.sync_fails();
    assert_eq!(code, 6, "{err}");
    // A device joining afterwards verifies the whole log, gets the epoch
    // and every item, gamma's early one included.
    let d = Device::init("delta");
    pair(a, &d);
    let ls = d.json(&["peer", "ls"]);
    assert_eq!(ls["peers"].as_array().unwrap().len(), 3, "{ls}");
    assert_eq!(ls["key_epoch"].as_u64().unwrap(), epoch);
    let (r, _) = sync(&d);
    assert_eq!(r["quarantined"], 0, "{r}");
    assert_eq!(d.ok(&["get", &early]).trim(), "e1");
    assert_eq!(d.items(), before);
}
