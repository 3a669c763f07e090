//! A server that rate-limits: the device waits as `Retry-After` says and
//! its sync completes; a server that keeps refusing past the wait limit
//! stops the sync with an error that names the wait.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{Answer, Proxy};
use common::{ServerProc, circle_at};
use std::time::{Duration, Instant};

/// The 429 answers the server counted in its metrics.
fn throttled(server: &ServerProc) -> u64 {
    let text = common::http_blocking()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("vault_http_requests_total") && l.contains("status=\"429\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_sync_against_tight_rate_limits_waits_and_completes() {
    // Five requests a second per device: a 20,000-record push takes 40.
    let server = ServerProc::start_with_config(
        "[limits]\nper_device_per_sec = 5\nper_device_burst = 5\nper_ip_per_sec = 0\n",
    );
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.import_generated("rl", 20_000);
    let start = Instant::now();
    let r = a.sync();
    assert_eq!(r["pushed"], 20_000, "{r}");
    let r = b.sync();
    assert_eq!(r["pulled"], 20_000, "{r}");
    assert!(throttled(&server) > 0, "the limits never applied");
    // Roughly 60 requests at 5 a second after a burst of 5.
    assert!(
        start.elapsed() >= Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(a.manifest_root(), b.manifest_root());
}

#[test]
fn a_server_that_keeps_refusing_stops_the_sync_at_the_wait_limit() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha"]);
    let a = &devs[0];
    a.add_inet("x.example", "alice", "pw");
    proxy.answer("/manifest", Answer::TooMany(1));
    let start = Instant::now();
    let (code, _, err) = a.run(&["--json", "sync", "--wait-limit", "3s"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("kept answering 429"), "{err}");
    assert!(
        err.contains("waited 2 s") || err.contains("waited 1 s"),
        "{err}"
    );
    // The waits followed Retry-After (1 s, plus up to a quarter): at
    // least two were waited out before the limit.
    assert!(proxy.answered() >= 3, "{}", proxy.answered());
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    proxy.clear_answer();
    assert_eq!(a.sync()["pushed"], 1);
}
