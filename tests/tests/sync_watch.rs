//! `vault sync --watch` end to end: a watching device pulls another
//! device's change within a second of its sync, pushes a change another
//! `vault` process made to its own vault without being told, and stops
//! cleanly on SIGTERM.
#![allow(clippy::unwrap_used)]

mod common;

use common::watcher::Watcher;
use common::{ServerProc, circle_at};
use std::time::{Duration, Instant};

#[test]
fn a_watching_device_pulls_within_a_second_and_pushes_local_changes() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let watcher = Watcher::start(b);
    // The first round runs once the socket is up.
    let (_, first) = watcher.until(Duration::from_secs(10), |_| true);
    assert_eq!(first["pulled"], 0, "{first}");

    // A's change reaches B through the server's notification.
    // B's line often comes before A's `vault sync` has even exited (the
    // server notifies B once A's push commits, while A still signs its
    // manifest), so the time from A's exit is often zero; the time from
    // A's start bounds it from above.
    let (mut worst_exit, mut worst_start) = (Duration::ZERO, Duration::ZERO);
    for i in 0..3 {
        let id = a.add_inet(&format!("w{i}.example"), "alice", &format!("w-pw{i}"));
        let started = Instant::now();
        assert_eq!(a.sync()["pushed"], 1);
        let exited = Instant::now();
        let (at, line) = watcher.until(Duration::from_secs(5), |v| {
            v["pulled"].as_u64().unwrap() >= 1
        });
        let (from_exit, from_start) = (
            at.saturating_duration_since(exited),
            at.saturating_duration_since(started),
        );
        eprintln!(
            "change {i}: B printed its pull {from_exit:?} after A's sync exited \
             ({from_start:?} after it started; A's sync took {:?})",
            exited - started
        );
        worst_exit = worst_exit.max(from_exit);
        worst_start = worst_start.max(from_start);
        assert_eq!(line["pulled"], 1, "{line}");
        assert_eq!(line["records_received"], 1, "{line}");
        assert_eq!(b.ok(&["get", &id]).trim(), format!("w-pw{i}"));
    }
    eprintln!(
        "sync --watch latency: worst {worst_exit:?} from A's sync exit, \
         {worst_start:?} from its start"
    );
    assert!(
        worst_exit < Duration::from_secs(1),
        "B pulled {worst_exit:?} after A's sync exited"
    );
    assert!(
        worst_start < Duration::from_secs(1),
        "B pulled {worst_start:?} after A's sync started"
    );

    // Another process writes to B's vault: the watcher notices and
    // pushes it, no notification needed.
    let local = b.add_inet("local.example", "bob", "local-pw");
    let (_, line) = watcher.until(Duration::from_secs(5), |v| {
        v["pushed"].as_u64().unwrap() >= 1
    });
    assert_eq!(line["pushed"], 1, "{line}");
    let r = a.sync();
    assert_eq!(r["pulled"], 1, "{r}");
    assert_eq!(a.ok(&["get", &local]).trim(), "local-pw");
    assert_eq!(b.json(&["status"])["sync"]["pending"], 0);

    let (code, err) = watcher.stop();
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn a_watcher_reconnects_after_the_server_restarts() {
    let mut server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let watcher = Watcher::start(b);
    watcher.until(Duration::from_secs(10), |_| true);
    server.kill9_and_restart();
    let restarted = Instant::now();
    // The watcher finds the server again (its first round after the
    // reconnect), then A's change reaches it as before.
    let id = a.add_inet("after.example", "alice", "after-pw");
    assert_eq!(a.sync()["pushed"], 1);
    let (at, line) = watcher.until(Duration::from_secs(15), |v| {
        v["pulled"].as_u64().unwrap() >= 1
    });
    eprintln!(
        "after a server restart, B pulled A's change {:?} after the restart: {line}",
        at - restarted
    );
    assert_eq!(line["pulled"], 1, "{line}");
    assert_eq!(b.ok(&["get", &id]).trim(), "after-pw");
    let (code, err) = watcher.stop();
    assert_eq!(code, 0, "{err}");
}

/// Token answers (200) and 401 answers the server counted.
fn auth_counts(server: &ServerProc) -> (u64, u64) {
    let text = common::http_blocking()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let sum = |want: &dyn Fn(&str) -> bool| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("vault_http_requests_total") && want(l))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    (
        sum(&|l| l.contains("route=\"/v1/auth/token\"") && l.contains("status=\"200\"")),
        sum(&|l| l.contains("status=\"401\"")),
    )
}

#[test]
fn a_watcher_renews_its_token_before_it_expires() {
    // Tokens live 62 s and a session renews one with less than 60 s
    // left: two seconds in, the watcher's next round logs in first,
    // without waiting for a 401.
    let server = ServerProc::start_with_config(
        "token_ttl_secs = 62\n[limits]\nper_ip_per_sec = 0\nper_device_per_sec = 0\n",
    );
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let watcher = Watcher::start(b);
    watcher.until(Duration::from_secs(15), |_| true);
    let (before, _) = auth_counts(&server);
    std::thread::sleep(Duration::from_millis(2500));
    a.add_inet("renew.example", "alice", "renew-pw");
    a.sync();
    watcher.until(Duration::from_secs(15), |v| v["pulled"] == 1);
    let (after, unauthorized) = auth_counts(&server);
    // A's own login, and the watcher's renewal.
    assert!(after >= before + 2, "tokens issued: {before} then {after}");
    assert_eq!(unauthorized, 0, "a token was used past its renewal");
    let (code, err) = watcher.stop();
    assert_eq!(code, 0, "{err}");
}
