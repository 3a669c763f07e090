//! Two devices syncing at the same moment through an honest server: the
//! races must converge and never be reported as a malicious server
//! (regression tests for two false exit-7 reports found while building).
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{Cut, Proxy};
use common::{Device, ServerProc, circle_at, counts, history_passwords, password, settle};
use serde_json::Value;
use std::collections::BTreeSet;

/// Both devices edit the same item and sync at the same moment, thirty
/// times: one push meets the other's record on the server (a conflict the
/// server decides) or merges on pull; either way both converge, and no
/// value is lost. Before the two fixes pinned below, about one round in
/// ten ended in a false exit 7.
#[test]
fn simultaneous_syncs_of_the_same_item_converge() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let x = a.add_inet("race.example", "alice", "r0");
    a.sync();
    b.sync();
    let mut written = vec!["r0".to_owned()];
    let (mut merged, mut conflicts) = (0, 0);
    const ROUNDS: usize = 30;
    for i in 0..ROUNDS {
        let (va, vb) = (format!("a{i}"), format!("b{i}"));
        a.set_password(&x, &va);
        if i % 2 == 0 {
            b.set_password(&x, &vb);
        } else {
            b.ok(&["edit", &x, "--notes", &vb]);
        }
        written.extend([va, vb]);
        let (ca, cb) = (spawn_sync(a), spawn_sync(b));
        for (d, c) in [(a, ca), (b, cb)] {
            let out = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: round {i}: {err}", d.name);
            let r: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(r["quarantined"], 0, "{r}");
            merged += r["merged"].as_u64().unwrap();
            conflicts += r["conflicts"].as_u64().unwrap();
        }
    }
    settle(&[a, b]);
    eprintln!("{ROUNDS} races: {merged} merges, {conflicts} conflicting fields");
    assert!(merged > 0);
    assert_eq!(a.json(&["get", &x]), b.json(&["get", &x]));
    assert_eq!(a.manifest_root(), b.manifest_root());
    // B's last notes (odd rounds edit them) and nobody else's.
    let last = (0..ROUNDS).rev().find(|i| i % 2 == 1).unwrap();
    assert_eq!(
        b.ok(&["get", &x, "--field", "notes"]).trim(),
        format!("b{last}")
    );
    // Every password and note of the last three rounds is current or in
    // a history (a history keeps the 20 newest versions of an item, so
    // the first rounds' values are gone by now).
    let recent = &written[written.len() - 6..];
    let mut have = BTreeSet::new();
    for d in [a, b] {
        for v in d
            .json(&["history", &x, "--show-secrets"])
            .as_array()
            .unwrap()
            .iter()
            .map(|v| &v["item"])
            .chain([&d.json(&["get", &x])])
        {
            for k in ["password", "notes"] {
                if let Some(s) = v[k].as_str() {
                    have.insert(s.to_owned());
                }
            }
        }
    }
    for v in recent {
        assert!(have.contains(v), "{v} was lost: {have:?}");
    }
}

/// Waits for a background `vault` run: (exit code, stdout, stderr).
fn finish(child: std::process::Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vault --json sync` started in the background.
fn spawn_sync(d: &Device) -> std::process::Child {
    d.cmd()
        .args(["--json", "sync"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// An honest server, two devices, one race: B's push lands between A's
/// pull and A's push, so A's push of the same item conflicts and A merges
/// the server's record from the conflict answer. That record sits past
/// A's token, so A must pull again after any push (not only after one
/// that saved something) before checking the peers' manifests, or it
/// blames the server ("B signed the zone at seq 2, but the server stops
/// at 1", or a manifest mismatch at the same token).
#[test]
fn a_push_that_loses_a_race_is_not_reported_as_a_malicious_server() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let x = a.add_inet("race.example", "alice", "r0");
    a.sync();
    b.sync();
    a.set_password(&x, "from-a");
    std::thread::sleep(std::time::Duration::from_millis(20));
    b.set_password(&x, "from-b");

    // A's push waits at the proxy while B syncs.
    proxy.cut("/records", 0, Cut::Hold);
    let child = spawn_sync(a);
    proxy.wait_held(std::time::Duration::from_secs(10));
    assert_eq!(counts(&b.sync()), (0, 1, 0, 0, 0));
    proxy.release();
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "A's sync failed after losing the race: {err}");
    let ra: Value = serde_json::from_str(&out).unwrap();
    // Merged, B's (later) password kept, A's in its history, nothing to
    // push.
    let (_, pushed, merged, conflicts, quarantined) = counts(&ra);
    assert_eq!(
        (pushed, merged, conflicts, quarantined),
        (0, 1, 1, 0),
        "{ra}"
    );
    for d in [a, b] {
        assert_eq!(password(d, &x), "from-b", "{}", d.name);
    }
    assert!(history_passwords(a, &x).contains(&"from-a".to_owned()));
}

/// An honest server, two devices: B pushes and signs a newer manifest
/// while A is between its last pull and its check of the peers'
/// manifests. A manifest ahead of A's token is caught up with (A pulls
/// again) before it counts as withholding; without that, exit 7 "B signed
/// the zone at seq 3, but the server stops at 2".
#[test]
fn a_peer_that_signs_during_my_sync_is_not_reported_as_withholding() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.add_inet("one.example", "alice", "1");
    a.sync();
    b.sync();
    a.add_inet("two.example", "alice", "2");
    b.add_inet("three.example", "bob", "3");

    // A's read of the peers' manifests waits at the proxy while B syncs.
    proxy.cut("/manifests HTTP", 0, Cut::Hold);
    let child = spawn_sync(a);
    proxy.wait_held(std::time::Duration::from_secs(10));
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 1, 0, 0, 0), "{rb}");
    proxy.release();
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "A's sync failed while B synced: {err}");
    let ra: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ra["pushed"], 1, "{ra}");
    settle(&[a, b]);
    assert_eq!(a.ok(&["get", "three.example"]).trim(), "3");
    assert_eq!(b.ok(&["get", "two.example"]).trim(), "2");
    assert_eq!(a.manifest_root(), b.manifest_root());
}

#[test]
fn a_removal_racing_the_removed_devices_pushes_loses_nothing_silently() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta", "gamma"]);
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);
    let c_id = c.peer_id();
    // C adds and syncs in a loop while A removes it: each of C's records
    // is either before the cut (kept everywhere) or refused by the server.
    let synced: Vec<(String, bool)> = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut out = Vec::new();
            for i in 0..40 {
                let id = c.add_inet(&format!("race{i}.example"), "carol", "r");
                let (code, _, _) = c.run(&["--json", "sync"]);
                out.push((id, code == 0));
                if code != 0 {
                    break;
                }
            }
            out
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let removed = a.json(&["peer", "rm", &c_id]);
        assert_eq!(removed["removed"], c_id.as_str());
        writer.join().unwrap()
    });
    assert!(
        synced.iter().any(|(_, ok)| !ok),
        "the removed device kept syncing: {synced:?}"
    );
    for d in [a, b] {
        let r = d.sync();
        assert_eq!(r["quarantined"], 0, "{}: {r}", d.name);
    }
    let on = |d: &Device, id: &str| d.run(&["get", id]).0 == 0;
    for (id, ok) in &synced {
        assert_eq!(on(a, id), on(b, id), "{id} is on one device only");
        if *ok {
            assert!(on(a, id), "{id} was synced before the removal but is lost");
        }
    }
    assert_eq!(b.json(&["status"])["sync"]["quarantined"], 0);
}
