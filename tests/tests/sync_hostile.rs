//! A hostile server's transport tricks, end to end, through a proxy in
//! front of a real `vault-server`: a redirect to another host, an endless
//! answer, and a changes feed that says "more" forever. Each time the
//! device stops with a typed error within a stated bound, changes nothing
//! in its vault, and syncs again once the server is honest.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{Answer, Proxy};
use common::{Device, ServerProc, circle_at};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every row a user or a later sync could see: items, history, the
/// server's versions (mirror), the sync state (token) and the quarantine.
fn vault_rows(d: &Device) -> Vec<String> {
    d.rows(&[
        "inet",
        "genp",
        "keys",
        "item_history",
        "ckmirror",
        "sync_state",
        "sync_quarantine",
    ])
    .into_iter()
    .map(|(table, row)| format!("{table}: {row:?}"))
    .collect()
}

/// Fails with the rows that differ, if any.
fn assert_same_rows(before: &[String], after: &[String]) {
    let gone: Vec<&String> = before.iter().filter(|r| !after.contains(r)).collect();
    let new: Vec<&String> = after.iter().filter(|r| !before.contains(r)).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "a failed round changed the vault:\n gone: {gone:?}\n new: {new:?}"
    );
}

/// The vault file's size with its WAL.
fn vault_size(d: &Device) -> usize {
    d.file_bytes().len()
}

/// A circle of two through a proxy; A pushed a few items, B holds them.
fn setup() -> (ServerProc, Proxy, Vec<Device>) {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    for i in 0..5 {
        devs[0].add_inet(&format!("s{i}.example"), "alice", &format!("pw{i}"));
    }
    devs[0].sync();
    devs[1].sync();
    devs[0].add_inet("late.example", "alice", "late-pw");
    devs[0].sync();
    (server, proxy, devs)
}

#[test]
fn a_redirect_to_another_host_is_refused_and_not_followed() {
    let (_server, proxy, devs) = setup();
    let b = &devs[1];
    // The host the server redirects to counts who comes.
    let foreign = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = foreign.local_addr().unwrap().port();
    let visits = Arc::new(AtomicUsize::new(0));
    let v = visits.clone();
    std::thread::spawn(move || {
        for conn in foreign.incoming() {
            drop(conn);
            v.fetch_add(1, Ordering::SeqCst);
        }
    });
    let before = vault_rows(b);
    proxy.answer("/changes", Answer::Redirect(port));
    let (code, _, err) = b.sync_fails();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("redirect (307)"), "{err}");
    assert!(proxy.answered() >= 1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        visits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    assert_same_rows(&before, &vault_rows(b));

    proxy.clear_answer();
    let r = b.sync();
    assert_eq!(r["pulled"], 1, "{r}");
    assert_eq!(b.ok(&["get", "late.example"]).trim(), "late-pw");
}

#[test]
fn an_endless_answer_is_cut_off_at_its_cap() {
    let (_server, proxy, devs) = setup();
    let b = &devs[1];
    let before = vault_rows(b);
    let size = vault_size(b);
    // 1 GiB of body: the device reads at most its cap (40 MiB) of it.
    proxy.answer("/changes", Answer::Endless(1 << 30));
    let start = Instant::now();
    let (code, _, err) = b.sync_fails();
    let took = start.elapsed();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("longer than"), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_same_rows(&before, &vault_rows(b));
    assert!(vault_size(b) < size + (1 << 20), "the vault grew");

    proxy.clear_answer();
    assert_eq!(b.sync()["pulled"], 1);
}

#[test]
fn a_feed_that_never_ends_stops_at_the_announced_head() {
    let (_server, proxy, devs) = setup();
    let b = &devs[1];
    let before = vault_rows(b);
    let size = vault_size(b);
    proxy.answer("/changes", Answer::MoreForever);
    let (code, _, err) = b.sync_fails();
    // The zone's head is 6 and B holds 5: the first page past 6 is refused,
    // after one fresh look at the manifest.
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("past the head 6"), "{err}");
    assert!(proxy.answered() <= 2, "{} pages served", proxy.answered());
    assert!(vault_size(b) < size + (1 << 20), "the vault grew");
    // The junk page inside the head was staged, never applied: the round
    // failed, so items, mirror, token and quarantine are as they were.
    assert_same_rows(&before, &vault_rows(b));

    proxy.clear_answer();
    let r = b.sync();
    assert_eq!(r["pulled"], 1, "{r}");
    assert_eq!(r["quarantined"], 0, "{r}");
    assert_eq!(devs[0].manifest_root(), b.manifest_root());
}

/// The server reports this device's manifest divergent: `vault sync` says
/// what it means and what to do, `vault status` goes on saying it (and
/// `divergence_ms` in its JSON), until a manifest is stored without it.
#[test]
fn a_reported_divergence_is_shown_by_sync_and_status_until_cleared() {
    let server = ServerProc::start();
    let proxy = Proxy::start(&server.url);
    let a = &circle_at(&proxy.url, &["alpha"])[0];
    a.add_inet("one.example", "alice", "pw1");
    proxy.answer("/manifests/", Answer::Divergent);
    let (code, out, err) = a.run(&["--json", "sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(proxy.answered() >= 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["divergence"], true, "{report}");
    assert!(
        err.contains("the devices disagree") && err.contains("vault peer verify"),
        "{err}"
    );
    let (code, _, err) = a.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("the devices disagree"), "{err}");
    assert!(a.json(&["status"])["sync"]["divergence_ms"].is_i64());

    // The server stores the next manifest without the flag: cleared.
    proxy.clear_answer();
    a.add_inet("two.example", "alice", "pw2");
    let (code, _, err) = a.run(&["sync"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("disagree"), "{err}");
    let (_, _, err) = a.run(&["status"]);
    assert!(!err.contains("disagree"), "{err}");
    assert!(a.json(&["status"])["sync"]["divergence_ms"].is_null());
}
