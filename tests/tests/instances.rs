//! Several servers for one circle, end to end: a device's list of its
//! circle's servers (`vault circle servers`), failing over past one that
//! does not answer; and two `vault-server` instances on one PostgreSQL
//! database, devices of one circle on different instances (pairing,
//! sync both ways, a watcher's hint within a second, a removal closing
//! the removed device's socket on the other instance).
#![allow(clippy::unwrap_used)]

mod common;

use common::instances::{Deployment, OwnCluster};
use common::watcher::Watcher;
use common::{Device, Invite, ServerProc, circle_at};
use std::time::{Duration, Instant};

/// A URL on 127.0.0.1 where nothing listens.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn servers(d: &Device) -> Vec<String> {
    let j = d.json(&["circle", "servers", "ls"]);
    j["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn servers_are_tried_in_order_and_one_that_does_not_answer_is_passed() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha"]);
    let a = &devs[0];
    assert_eq!(servers(a), vec![server.url.clone()]);
    let dead = dead_url();
    a.json(&["circle", "servers", "add", &dead, "--first"]);
    assert_eq!(servers(a), [dead.clone(), server.url.clone()]);
    let status = a.json(&["status"]);
    assert_eq!(status["circle"]["servers"][0], dead.as_str());
    // Listed twice, not a URL, or the last one: refused, nothing changed.
    assert_eq!(a.fails(&["circle", "servers", "add", &dead]).0, 2);
    assert_eq!(a.fails(&["circle", "servers", "add", "ftp://x"]).0, 2);
    assert_eq!(
        a.fails(&["circle", "servers", "rm", "http://127.0.0.1:9"])
            .0,
        2
    );
    assert_eq!(servers(a), [dead.clone(), server.url.clone()]);
    // The first does not answer: the sync goes to the second.
    a.add_inet("one.example", "alice", "pw-one");
    assert_eq!(a.sync()["pushed"], 1);
    // Only the dead one left: the sync fails, saying it cannot reach it.
    a.json(&["circle", "servers", "rm", &server.url]);
    let (code, _, err) = a.sync_fails();
    assert!(err.contains("cannot reach"), "{err}");
    assert_eq!(code, 8, "{err}");
    assert_eq!(a.fails(&["circle", "servers", "rm", &dead]).0, 2);
    a.json(&["circle", "servers", "add", &server.url]);
    a.json(&["circle", "servers", "rm", &dead]);
    assert_eq!(servers(a), vec![server.url.clone()]);
    assert_eq!(a.sync()["pushed"], 0);
}

#[test]
fn two_instances_on_one_database_serve_one_circle() {
    let Some(dep) = Deployment::start("instances", 2) else {
        return;
    };
    let (one, two) = (dep.url(0).to_owned(), dep.url(1).to_owned());
    let a = Device::init("alpha");
    a.json(&["circle", "create", "--server", &one, "--name", "alpha"]);
    // Invited through instance 1, joined through instance 2.
    let b = Device::init("beta");
    let invite = Invite::start(&a, &[]);
    let joined = b.json(&[
        "peer",
        "join",
        &invite.code,
        "--name",
        "beta",
        "--server",
        &two,
    ]);
    assert_eq!(joined["server"], two.as_str());
    let (code, _, err) = invite.finish();
    assert_eq!(code, 0, "{err}");
    assert_eq!(servers(&b), [two.clone(), one.clone()]);
    a.unlock();
    b.unlock();

    // A syncs through 1, B through 2, both ways.
    let id = a.add_inet("shared.example", "alice", "pw-a");
    assert_eq!(a.sync()["pushed"], 1);
    assert_eq!(b.sync()["pulled"], 1);
    b.set_password(&id, "pw-b");
    assert_eq!(b.sync()["pushed"], 1);
    assert_eq!(a.sync()["pulled"], 1);
    assert_eq!(common::password(&a, &id), "pw-b");

    // A watcher on 2 hears of A's push to 1 within a second.
    let watcher = Watcher::start(&b);
    let _ = watcher.until(Duration::from_secs(10), |_| true);
    for i in 0..3 {
        a.add_inet(&format!("w{i}.example"), "alice", "pw");
        let pushed = a.sync();
        let exited = Instant::now();
        assert_eq!(pushed["pushed"], 1);
        let (at, line) = watcher.until(Duration::from_secs(5), |v| v["pulled"] == 1);
        let late = at.saturating_duration_since(exited);
        assert!(
            late < Duration::from_secs(1),
            "round {i}: {late:?} ({line})"
        );
    }

    // A removes B through 1: B's socket on 2 closes, and its watcher
    // stops, no longer a member.
    let removed_at = Instant::now();
    a.json(&["peer", "rm", &b.peer_id()]);
    let (at, code, err) = watcher.exits_within(Duration::from_secs(10));
    assert_eq!(code, 6, "{err}");
    assert!(
        at.duration_since(removed_at) < Duration::from_secs(5),
        "{:?}",
        at.duration_since(removed_at)
    );
    let (code, _, _) = b.sync_fails();
    assert_eq!(code, 6);
}

/// Rows of the deployment's `records` table: (count, distinct seqs,
/// distinct uuids, live).
fn table(dep: &Deployment) -> (i64, i64, i64, i64) {
    let v = dep.db.ints(
        "SELECT count(*) FROM records UNION ALL SELECT count(DISTINCT seq) FROM records
         UNION ALL SELECT count(DISTINCT uuid) FROM records
         UNION ALL SELECT count(*) FROM records WHERE NOT tomb",
    );
    (v[0], v[1], v[2], v[3])
}

#[test]
fn an_instance_killed_during_a_push_hands_the_sync_to_the_other() {
    let Some(mut dep) = Deployment::start("killpush", 2) else {
        return;
    };
    let (one, two) = (dep.url(0).to_owned(), dep.url(1).to_owned());
    let devs = circle_at(&one, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.json(&["circle", "servers", "add", &two]);
    b.json(&["circle", "servers", "add", &two, "--first"]);
    const N: usize = 6_000;
    a.import_generated("k", N);
    let sync = a
        .cmd()
        .args(["--json", "sync"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first batches are in, instance 1 dies mid-push.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (stored, ..) = table(&dep);
        if stored > 0 {
            eprintln!("killing instance 1 with {stored} of {N} records stored");
            assert!(
                (stored as usize) < N,
                "the push finished before the kill: raise N"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the push never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = dep.instances[0].child.kill();
    let _ = dep.instances[0].child.wait();
    let out = sync.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every item stored once, each at a seq of its own.
    let n = N as i64;
    assert_eq!(table(&dep), (n, n, n, n));
    assert_eq!(a.sync()["pushed"], 0, "nothing left to push");
    let pulled = b.sync();
    assert_eq!(pulled["pulled"], N, "{pulled}");
    assert_eq!(pulled["quarantined"], 0);
    assert_eq!(b.json(&["ls"]).as_array().unwrap().len(), N);
}

#[test]
fn postgres_restarted_while_devices_sync_and_watch_loses_nothing() {
    let Some(cluster) = OwnCluster::start() else {
        return;
    };
    let dep = Deployment::start_on(&cluster, "restart", 2);
    let (one, two) = (dep.url(0).to_owned(), dep.url(1).to_owned());
    let a = Device::init("alpha");
    a.json(&["circle", "create", "--server", &one, "--name", "alpha"]);
    let b = Device::init("beta");
    let invite = Invite::start(&a, &[]);
    b.json(&[
        "peer",
        "join",
        &invite.code,
        "--name",
        "beta",
        "--server",
        &two,
    ]);
    assert_eq!(invite.finish().0, 0);
    a.unlock();
    b.unlock();
    a.add_inet("before.example", "alice", "pw");
    assert_eq!(a.sync()["pushed"], 1);
    let watcher = Watcher::start(&b);
    let (_, first) = watcher.until(Duration::from_secs(10), |_| true);
    assert_eq!(first["pulled"], 1, "{first}");

    // The database restarts: every instance's connections are cut. The
    // listeners come back and tell their sockets to resync, so B's
    // watcher runs a round though nothing changed.
    cluster.restart();
    let (_, resynced) = watcher.until(Duration::from_secs(15), |_| true);
    assert_eq!(resynced["pulled"], 0, "{resynced}");

    // A goes on syncing through 1 (a sync cut by the restart is run
    // again, as a user would); every change reaches B's watcher.
    for i in 0..5 {
        a.add_inet(&format!("after{i}.example"), "alice", "pw");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (code, out, err) = a.run(&["--json", "sync"]);
            if code == 0 {
                let r: serde_json::Value = serde_json::from_str(&out).unwrap();
                assert_eq!(r["pushed"], 1, "{r}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "A cannot sync after the restart: {err}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        watcher.until(Duration::from_secs(5), |v| v["pulled"] == 1);
    }
    assert_eq!(b.json(&["ls"]).as_array().unwrap().len(), 6);
    assert_eq!(a.sync()["pulled"], 0);
    let (code, err) = watcher.stop();
    assert_eq!(code, 0, "{err}");
}
