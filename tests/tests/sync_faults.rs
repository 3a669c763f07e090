//! Sync through faults, end to end: the server SIGKILLed and restarted in
//! the middle of a push and of a pull, and connections cut by a proxy in
//! the middle of a push's body, before a push's answer and before a
//! page's answer. Each time the sync fails, the retry completes, and
//! nothing is lost or saved twice: the server holds each record once (its
//! seq counts every save), and every device holds every item at
//! gencount 1. A pull cut short keeps its pages staged (verify, then
//! apply: nothing pulled is visible before the round's checks pass), and
//! the retry fetches only the rest.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{Cut, Proxy};
use common::{Device, ServerProc, circle_at};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The server's record count, the largest gencount and the zone's seq.
fn server_state(server: &ServerProc) -> (i64, i64, i64) {
    server
        .sql()
        .query_row(
            "SELECT (SELECT count(*) FROM records), (SELECT max(gencount) FROM records),
                    (SELECT coalesce(max(seq), 0) FROM zones)",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    r.get(2)?,
                ))
            },
        )
        .unwrap()
}

fn server_records(server: &ServerProc) -> i64 {
    server
        .sql()
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap()
}

/// A device's live items: (count, smallest gencount, largest gencount,
/// distinct uuids), read from its vault file.
fn local_state(d: &Device) -> (i64, i64, i64, i64) {
    d.vault_sql()
        .query_row(
            "SELECT count(*), coalesce(min(gencount), 0), coalesce(max(gencount), 0),
                    count(DISTINCT uuid) FROM inet WHERE tomb = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

/// Records pulled and staged, not yet applied.
fn staged_count(d: &Device) -> i64 {
    d.vault_sql()
        .query_row(
            "SELECT coalesce(sum(records), 0) FROM sync_staged_pages",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

fn local_count(d: &Device) -> i64 {
    d.vault_sql()
        .query_row("SELECT count(*) FROM inet", [], |r| r.get(0))
        .unwrap_or(0)
}

/// `vault --json sync` started in the background.
fn spawn_sync(d: &Device) -> Child {
    d.cmd()
        .args(["--json", "sync"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child; returns (exit code, stdout, stderr).
fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `progress` until it is strictly between 0 and `total`, then
/// SIGKILLs the server and restarts it after 200 ms. Returns the progress
/// seen, or `None` if the sync ended first.
fn kill_when_partial(
    server: &mut ServerProc,
    child: &mut Child,
    total: i64,
    progress: impl Fn(&ServerProc) -> i64,
) -> Option<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        let n = progress(server);
        if n > 0 && n < total {
            server.kill9_and_restart_after(Duration::from_millis(200));
            return Some(n);
        }
        assert!(Instant::now() < deadline, "the sync made no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
}

const N: i64 = 3000;
/// Tries at killing the server while a sync is between its first and last
/// batch (should the sync not notice, say it finished in the 200 ms the
/// server is down, the invariants are checked and it is tried again).
const ATTEMPTS: usize = 5;

#[test]
fn a_server_killed_in_the_middle_of_a_push_loses_and_doubles_nothing() {
    let mut server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let mut total = 0;
    for attempt in 0..ATTEMPTS {
        let prefix = format!("push{attempt}x");
        a.import_generated(&prefix, N as usize);
        let base = total;
        total += N;
        let mut child = spawn_sync(a);
        let seen = kill_when_partial(&mut server, &mut child, N, |s| server_records(s) - base);
        let (code, out, err) = finish(child);
        if code == 0 {
            // The sync ended before the kill, or did not notice it.
            eprintln!("attempt {attempt}: the push went through (kill after {seen:?}): {out}");
            let r: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(r["pushed"], N, "{r}");
            assert_eq!(server_state(&server), (total, 1, total));
            continue;
        }
        let seen = seen.expect("the sync failed without a kill");
        // --json: the error as one object, nothing else.
        let e: Value = serde_json::from_str(&out).unwrap();
        assert!(e["error"]["message"].is_string(), "{out}");
        // What the server committed survived the kill; the rest waits on A.
        let (saved, max_gen, seq) = server_state(&server);
        assert!(
            saved >= base + seen && saved < total,
            "{saved} of {total} saved ({seen} of this push seen)"
        );
        assert_eq!((max_gen, seq), (1, saved));
        let pending = a.json(&["status"])["sync"]["pending"].as_i64().unwrap();
        eprintln!(
            "attempt {attempt}: killed after {seen} of {N} records \
             ({} committed, {pending} waiting on A): {err}",
            saved - base
        );
        assert!(pending >= total - saved, "{pending} waiting, {saved} saved");

        // The retry pushes exactly what the server lacks.
        let r = a.sync();
        assert_eq!(r["pushed"], total - saved, "{r}");
        assert_eq!(r["quarantined"], 0, "{r}");
        assert_eq!(a.json(&["status"])["sync"]["pending"], 0);
        assert_eq!(server_state(&server), (total, 1, total));

        let r = b.sync();
        assert_eq!(r["pulled"], total, "{r}");
        assert_eq!(r["quarantined"], 0, "{r}");
        for d in [a, b] {
            assert_eq!(local_state(d), (total, 1, 1, total), "{}", d.name);
        }
        assert_eq!(a.manifest_root(), b.manifest_root());
        let last = format!("{prefix}1234.example");
        assert_eq!(b.ok(&["get", &last]).trim(), format!("{prefix}-pw1234"));
        return;
    }
    panic!("no kill in {ATTEMPTS} attempts cut a push in its middle");
}

#[test]
fn a_server_killed_in_the_middle_of_a_pull_loses_and_doubles_nothing() {
    let mut server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let mut total = 0;
    for attempt in 0..ATTEMPTS {
        let prefix = format!("pull{attempt}x");
        a.import_generated(&prefix, N as usize);
        assert_eq!(a.sync()["pushed"], N);
        let base = total;
        total += N;
        let mut child = spawn_sync(b);
        let seen = kill_when_partial(&mut server, &mut child, N, |_| staged_count(b));
        let (code, out, err) = finish(child);
        if code == 0 {
            eprintln!("attempt {attempt}: the pull went through (kill after {seen:?}): {out}");
            let r: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(r["pulled"], N, "{r}");
            assert_eq!(local_state(b), (total, 1, 1, total));
            continue;
        }
        let seen = seen.expect("the sync failed without a kill");
        let held = staged_count(b);
        eprintln!(
            "attempt {attempt}: killed after B staged {seen} of {N} new items ({held} at exit): {err}"
        );
        assert!(held >= seen && held < N, "{held}");
        // Nothing staged is visible before the round's checks pass.
        assert_eq!(local_count(b), base);

        // The retry fetches exactly the rest, from where the last page
        // stopped, and applies all of them.
        let r = b.sync();
        assert_eq!(r["records_received"], N - held, "{r}");
        assert_eq!(r["pulled"], N, "{r}");
        assert_eq!(r["pushed"], 0, "{r}");
        assert_eq!(r["quarantined"], 0, "{r}");
        assert_eq!(server_state(&server), (total, 1, total));
        for d in [a, b] {
            assert_eq!(local_state(d), (total, 1, 1, total), "{}", d.name);
        }
        assert_eq!(a.manifest_root(), b.manifest_root());
        let last = format!("{prefix}2999.example");
        assert_eq!(b.ok(&["get", &last]).trim(), format!("{prefix}-pw2999"));
        return;
    }
    panic!("no kill in {ATTEMPTS} attempts cut a pull in its middle");
}

/// A sync that fails because the proxy cut it: (exit code, stderr).
fn cut_sync(d: &Device) -> (i32, String) {
    let (code, out, err) = d.run(&["--json", "sync"]);
    assert_ne!(code, 0, "{}: the sync survived the cut: {out}", d.name);
    (code, err)
}

#[test]
fn connections_cut_mid_batch_or_before_the_answer_lose_and_double_nothing() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);

    // 1200 items push in batches of 500, 500 and 200; the second batch's
    // body is cut after 50,000 bytes, and so is the client's one retry of
    // it on a new connection.
    a.import_generated("cut", 1200);
    proxy.cut_times("/records", 1, Cut::Body(50_000), 2);
    let (code, err) = cut_sync(a);
    assert_eq!(proxy.cuts(), 2);
    let (length, sent) = proxy.cut_log()[0];
    assert!(sent == 50_000 && length > sent, "{length} {sent}");
    eprintln!("push cut after {sent} of {length} body bytes: exit {code}: {err}");
    // The first batch is saved, nothing of the cut one.
    assert_eq!(server_state(&server), (500, 1, 500));
    let r = a.sync();
    assert_eq!(r["pushed"], 700, "{r}");
    assert_eq!(server_state(&server), (1200, 1, 1200));

    // The server saves a batch but its answer is lost: the retry finds
    // A's own records there and saves nothing twice.
    for i in 0..10 {
        a.add_inet(&format!("late{i}.example"), "alice", &format!("late-pw{i}"));
    }
    proxy.cut_times("/records", 0, Cut::Response, 2);
    cut_sync(a);
    assert_eq!(proxy.cuts(), 4);
    assert_eq!(server_state(&server), (1210, 1, 1210));
    assert_eq!(a.json(&["status"])["sync"]["pending"], 10);
    let r = a.sync();
    assert_eq!(r["pushed"], 0, "{r}");
    assert_eq!(r["quarantined"], 0, "{r}");
    assert_eq!(a.json(&["status"])["sync"]["pending"], 0);
    assert_eq!(server_state(&server), (1210, 1, 1210));

    // B's second page of changes is lost on the way (twice): the first
    // (1000 records) stays staged, unapplied; the retry fetches the other
    // 210.
    proxy.cut_times("/changes", 1, Cut::Response, 2);
    cut_sync(b);
    assert_eq!(proxy.cuts(), 6);
    assert_eq!(staged_count(b), 1000);
    assert_eq!(local_count(b), 0);
    let r = b.sync();
    assert_eq!(r["records_received"], 210, "{r}");
    assert_eq!(r["pulled"], 1210, "{r}");
    assert_eq!(staged_count(b), 0);
    assert_eq!(r["quarantined"], 0, "{r}");

    for d in [a, b] {
        assert_eq!(local_state(d), (1210, 1, 1, 1210), "{}", d.name);
        let quiet: Value = d.sync();
        assert_eq!(quiet["requests"], 1, "{}: {quiet}", d.name);
    }
    assert_eq!(a.manifest_root(), b.manifest_root());
    assert_eq!(b.ok(&["get", "late7.example"]).trim(), "late-pw7");
    assert_eq!(b.ok(&["get", "cut777.example"]).trim(), "cut-pw777");
}

#[test]
fn a_connection_cut_once_is_retried_within_the_sync() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);

    // The second batch's body is cut once: the batch goes again on a new
    // connection and the one sync pushes everything, each record once.
    a.import_generated("once", 1200);
    proxy.cut("/records", 1, Cut::Body(50_000));
    let r = a.sync();
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(r["pushed"], 1200, "{r}");
    assert_eq!(server_state(&server), (1200, 1, 1200));

    // A batch saved whose answer is lost: the retry gets the records the
    // server holds, which are A's own, and counts them saved.
    for i in 0..10 {
        a.add_inet(
            &format!("again{i}.example"),
            "alice",
            &format!("again-pw{i}"),
        );
    }
    proxy.cut("/records", 0, Cut::Response);
    let r = a.sync();
    assert_eq!(proxy.cuts(), 2);
    assert_eq!(r["pushed"], 10, "{r}");
    assert_eq!(r["quarantined"], 0, "{r}");
    assert_eq!(a.json(&["status"])["sync"]["pending"], 0);
    assert_eq!(server_state(&server), (1210, 1, 1210));

    // A page lost once is fetched again.
    proxy.cut("/changes", 1, Cut::Response);
    let r = b.sync();
    assert_eq!(proxy.cuts(), 3);
    assert_eq!(r["pulled"], 1210, "{r}");
    assert_eq!(r["quarantined"], 0, "{r}");
    for d in [a, b] {
        assert_eq!(local_state(d), (1210, 1, 1, 1210), "{}", d.name);
    }
    assert_eq!(a.manifest_root(), b.manifest_root());
}
