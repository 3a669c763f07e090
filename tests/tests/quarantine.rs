//! Quarantine decisions end to end (issue 14, build item 2), through the
//! `vault` binary and a real `vault-server`: a removed peer's record
//! whose removal's record list the server withholds is listed with what
//! it would change, accepted, and every device converges on it, holds
//! nothing aside, signs manifests again, and the server collects
//! tombstones again; a record the server rolled back to an older version
//! is dropped for the device's own version.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{Answer, Proxy};
use common::{ServerProc, circle_at, password, settle};
use rusqlite::params;
use rusqlite::types::Value as Sql;
use serde_json::Value;

fn uuid_bytes(uuid: &str) -> Vec<u8> {
    uuid::Uuid::parse_str(uuid).unwrap().as_bytes().to_vec()
}

/// The tombstones the server holds.
fn tombstones(server: &ServerProc) -> i64 {
    server
        .sql()
        .query_row("SELECT count(*) FROM records WHERE tomb = 1", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Whether the server's newest manifest of `peer` (hex) is at the zone's
/// head.
fn signed_at_head(server: &ServerProc, peer: &str) -> bool {
    let peer: Vec<u8> = (0..peer.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&peer[i..i + 2], 16).unwrap())
        .collect();
    server
        .sql()
        .query_row(
            "SELECT m.token_seq = z.seq FROM zone_manifests m JOIN zones z USING (zone_id)
             WHERE m.peer_id = ?1",
            [peer],
            |r| r.get(0),
        )
        .unwrap()
}

const VERSION_COLS: &str =
    "gencount, epoch, tomb, circle_pos, writer, wrappedkey, encitem, signature, content";

/// The server's version of an item, as stored (its seq aside).
fn version(server: &ServerProc, uuid: &str) -> Vec<Sql> {
    server
        .sql()
        .query_row(
            &format!("SELECT {VERSION_COLS} FROM records WHERE uuid = ?1"),
            [uuid_bytes(uuid)],
            |r| (0..9).map(|i| r.get::<_, Sql>(i)).collect(),
        )
        .unwrap()
}

/// The server serves `old` as the item's record again, as a new change,
/// keeping its caches consistent as the server would (the bucket dirty,
/// the root cleared).
fn reserve(server: &ServerProc, uuid: &str, old: &[Sql]) {
    let mut c = server.sql();
    let tx = c.transaction().unwrap();
    let (zone_id, seq): (i64, i64) = tx
        .query_row("SELECT zone_id, seq FROM zones", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let mut values: Vec<Sql> = old.to_vec();
    values.push(Sql::Integer(seq + 1));
    values.push(Sql::Blob(uuid_bytes(uuid)));
    tx.execute(
        "UPDATE records SET gencount = ?1, epoch = ?2, tomb = ?3, circle_pos = ?4, writer = ?5,
             wrappedkey = ?6, encitem = ?7, signature = ?8, content = ?9, seq = ?10
         WHERE uuid = ?11",
        rusqlite::params_from_iter(values),
    )
    .unwrap();
    tx.execute(
        "UPDATE zones SET seq = ?2, root = NULL WHERE zone_id = ?1",
        params![zone_id, seq + 1],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO zone_buckets (zone_id, bucket, hash) VALUES (?1, ?2, NULL)
         ON CONFLICT (zone_id, bucket) DO UPDATE SET hash = NULL",
        params![zone_id, i64::from(uuid_bytes(uuid)[0])],
    )
    .unwrap();
    tx.commit().unwrap();
}

#[test]
fn a_removed_peers_record_is_accepted_and_every_device_converges() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta", "gamma"]);
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);
    let x = a.add_inet("x.example", "alice", "x1");
    let y = a.add_inet("y.example", "alice", "y1");
    settle(&[a, b, c]);
    // C changes x while a member; A takes it in the round its removal of
    // C starts with, B does not.
    c.set_password(&x, "x-from-gamma");
    c.sync();
    let c_id = c.peer_id();
    a.json(&["peer", "rm", &c_id]);
    // From now on the server withholds the removal's record list.
    proxy.answer("/cuts/", Answer::NotFound);
    // A deletes y: the tombstone waits for every member's manifest.
    a.ok(&["rm", &y]);
    a.sync();
    let r = b.sync();
    assert_eq!(r["quarantined"], 1, "{r}");
    assert_eq!(r["quarantine"][0]["uuid"], x.as_str());
    a.sync();
    b.sync();
    assert_eq!(b.json(&["status"])["sync"]["quarantined"], 1);
    assert!(
        !signed_at_head(&server, &b.peer_id()),
        "B signed with x aside"
    );
    assert_eq!(tombstones(&server), 1, "collected while B signs nothing");

    // The list: why, and what it would change (the password named only).
    let list = b.json(&["quarantine", "ls"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let e = &list[0];
    assert_eq!(e["uuid"], x.as_str());
    assert_eq!(e["gencount"], 2);
    assert_eq!(e["writer"], c_id.as_str());
    assert_eq!(
        e["reason"],
        format!(
            "written by {c_id}, removed from the circle; its removal's record list has not arrived"
        )
        .as_str()
    );
    assert_eq!(e["faults"][0]["code"], "cut_list_missing");
    assert_eq!(e["decision"], Value::Null);
    assert_eq!(e["acceptable"], true);
    assert!(e["at_ms"].as_i64().unwrap() > 0);
    let p = &e["preview"];
    assert_eq!(p["class"], "inet");
    assert_eq!(p["effect"], "changes");
    assert_eq!(p["name"], "x.example");
    assert_eq!(p["account"], "alice");
    assert_eq!(
        p["changes"],
        serde_json::json!([{ "field": "password", "shown": false }])
    );
    let human = b.ok(&["quarantine", "ls"]);
    assert!(
        human.contains("changes inet x.example (alice): password"),
        "{human}"
    );
    assert!(human.contains("can be accepted or dropped"), "{human}");
    assert!(!human.contains("x-from-gamma") && !list.to_string().contains("x-from-gamma"));

    // Nothing to decide on for another uuid: exit 4.
    let (code, _) = b.fails(&["quarantine", "accept", "0123abcd"]);
    assert_eq!(code, 4);
    // Accepted by a prefix of its uuid; a second decision is refused.
    let done = b.json(&["quarantine", "accept", &x[..8]]);
    assert_eq!(done["decision"], "accepted");
    assert_eq!(done["gencount"], 3);
    assert_eq!(done["pending"], true);
    let (code, err) = b.fails(&["quarantine", "drop", &x]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("accepted already"), "{err}");
    assert_eq!(b.json(&["status"])["sync"]["quarantined"], 0);
    assert_eq!(password(b, &x), "x-from-gamma");

    let r = b.sync();
    assert_eq!(
        (r["pushed"].as_u64(), r["quarantined"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
    settle(&[a, b]);
    for d in [a, b] {
        assert_eq!(password(d, &x), "x-from-gamma", "{}", d.name);
        assert_eq!(d.json(&["status"])["sync"]["quarantined"], 0, "{}", d.name);
        assert!(signed_at_head(&server, &d.peer_id()), "{}", d.name);
    }
    // B signs again: the server collected y's tombstone.
    assert_eq!(tombstones(&server), 0);
    // The decision stays listed with --all, and only there.
    assert_eq!(b.json(&["quarantine", "ls"]), serde_json::json!([]));
    let all = b.json(&["quarantine", "ls", "--all"]);
    assert_eq!(all[0]["decision"], "accepted", "{all}");
    assert_eq!(all[0]["acceptable"], false);
}

#[test]
fn a_rolled_back_record_is_dropped_for_the_devices_version() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let x = a.add_inet("x.example", "alice", "x1");
    settle(&[a, b]);
    let old = version(&server, &x);
    a.set_password(&x, "x2");
    settle(&[a, b]);
    // The old version, validly signed by A, served again as a new change.
    reserve(&server, &x, &old);
    for d in [a, b] {
        let r = d.sync();
        assert_eq!(r["quarantined"], 1, "{}: {r}", d.name);
        assert_eq!(
            r["quarantine"][0]["reason"],
            "gencount 1 rolls back the version 2 this device holds"
        );
    }

    let list = b.json(&["quarantine", "ls"]);
    let e = &list[0];
    assert_eq!(e["acceptable"], false, "{e}");
    assert_eq!(e["faults"][0]["code"], "rollback");
    assert_eq!(e["preview"]["effect"], "changes");
    assert_eq!(
        e["preview"]["changes"],
        serde_json::json!([{ "field": "password", "shown": false }])
    );
    assert!(
        b.ok(&["quarantine", "ls"])
            .contains("cannot be accepted (gencount 1 rolls back the version 2 this device holds)")
    );
    // Accepting an older version is refused (exit 2): it can be dropped.
    let (code, err) = b.fails(&["quarantine", "accept", &x]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot be accepted (it can be dropped)"),
        "{err}"
    );
    assert!(err.contains("rolls back"), "{err}");

    let (code, out, err) = b.run(&["quarantine", "drop", &x]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("dropped") && out.contains("pushed at the next `vault sync`"),
        "{out}"
    );
    assert_eq!(b.json(&["status"])["sync"]["quarantined"], 0);
    let r = b.sync();
    assert_eq!(r["pushed"], 1, "{r}");
    // A's copy of the old version is superseded by B's.
    let r = a.sync();
    assert_eq!(r["quarantined"], 0, "{r}");
    settle(&[a, b]);
    for d in [a, b] {
        assert_eq!(password(d, &x), "x2", "{}", d.name);
        assert_eq!(d.json(&["status"])["sync"]["quarantined"], 0, "{}", d.name);
        assert!(signed_at_head(&server, &d.peer_id()), "{}", d.name);
    }
    let now = version(&server, &x);
    assert_eq!(now[0], Sql::Integer(3));
    let b_id = b.peer_id();
    assert_eq!(
        now[4],
        Sql::Blob(
            (0..b_id.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&b_id[i..i + 2], 16).unwrap())
                .collect()
        )
    );
}
