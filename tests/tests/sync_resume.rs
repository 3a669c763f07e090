//! A first pull killed and resumed, end to end: a new device's first sync
//! of 20,000 records is SIGKILLed at three random points while it pulls;
//! each retry goes on from the last page it staged, so the pages
//! requested across all tries are at most the pull's own plus one per
//! kill, and the device ends holding every record once.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::Proxy;
use common::{Device, ServerProc, circle_at};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const N: i64 = 20_000;
/// The engine's page: records per changes request.
const PAGE: i64 = 1_000;

/// Records pulled and staged, not yet applied.
fn staged(d: &Device) -> i64 {
    d.vault_sql()
        .query_row(
            "SELECT coalesce(sum(records), 0) FROM sync_staged_pages",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

/// The device's live items: (count, distinct uuids, largest gencount).
fn held(d: &Device) -> (i64, i64, i64) {
    d.vault_sql()
        .query_row(
            "SELECT count(*), count(DISTINCT uuid), coalesce(max(gencount), 0)
             FROM inet WHERE tomb = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

fn spawn_sync(d: &Device) -> Child {
    d.cmd()
        .args(["--json", "sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until `d` has staged at least `target` records, then SIGKILLs
/// its sync. `false` if the sync ended first.
fn kill_at(d: &Device, child: &mut Child, target: i64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if staged(d) >= target {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(Instant::now() < deadline, "the pull made no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The changes requests the proxy saw.
fn changes_requests(proxy: &Proxy) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|l| l.contains("/changes"))
        .count()
}

#[test]
fn a_first_pull_killed_three_times_resumes_from_its_last_page() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.import_generated("resume", N as usize);
    assert_eq!(a.sync()["pushed"], N);

    // Three kill points, one in each third of the pull, at random.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as i64;
    let third = N / 3;
    let targets: Vec<i64> = (0..3)
        .map(|i| i * third + PAGE + (seed >> (8 * i)).rem_euclid(third - 2 * PAGE))
        .collect();
    eprintln!("kill points (records staged): {targets:?} (seed {seed})");
    let before = changes_requests(&proxy);
    let mut kills = 0;
    for target in &targets {
        let mut child = spawn_sync(b);
        if kill_at(b, &mut child, *target) {
            kills += 1;
            // Nothing pulled is visible before the round's checks pass.
            assert_eq!(held(b).0, 0);
        }
    }
    assert!(kills >= 2, "only {kills} kills landed inside the pull");
    let r = b.sync();
    assert_eq!(r["pulled"], N, "{r}");
    assert_eq!(r["quarantined"], 0, "{r}");
    // The last try fetched only what the killed ones had not staged.
    assert!(r["records_received"].as_i64().unwrap() < N, "{r}");
    let pages = changes_requests(&proxy) - before;
    let own = (N / PAGE) as usize;
    assert!(
        pages <= own + kills,
        "{pages} changes requests for {own} pages and {kills} kills"
    );
    assert_eq!(held(b), (N, N, 1));
    assert_eq!(staged(b), 0);
    assert_eq!(a.manifest_root(), b.manifest_root());
}
