//! Sync end to end with the real client: the `vault-server` release binary
//! on 127.0.0.1 (its default SQLite storage, rate limits off unless
//! `--default-limits`) and the `vault` release binary, over the real HTTP
//! transport. Prints one JSON object per figure:
//!
//! - `import_items`: device A's vault filled by `vault import` of a
//!   generated Chrome CSV (`--items` realistic logins);
//! - `push_initial`: A founds a circle and `vault sync`s everything up;
//!   records/s from `elapsed_ms` (the engine's round: building and signing
//!   the records, the pushes, A's catch-up pull and its signed manifest);
//! - `initial_sync`: a new device B joins (`vault peer invite` / `vault
//!   peer join`) and runs its first `vault --json sync`; `elapsed_ms`,
//!   `records_received`, `bytes_received` and the ratio of the bytes to the
//!   ciphertext A holds (`wrappedkey` + `encitem`). `--runs` fresh devices
//!   (goal: at most 2.5 s, ratio at most 1.4);
//! - `no_change_sync`: the last device's `vault --json sync` with nothing
//!   new, `--checks` times: `elapsed_ms` median and p99, and every one
//!   must take one request (goal: at most 5 ms).
//!
//! `elapsed_ms` is measured in the `vault` process around
//! `UnlockedVault::sync`: the unlock (PBKDF2, 600,000 iterations) and the
//! authentication round trips are not in it; `wall_ms` is the process.
//!
//! The new devices join before A's first sync; `--join-after-push` joins
//! them after it instead, which fails with 410 token_expired on the second
//! changes page (see the comment in `main`). `--default-limits` keeps the
//! server's default rate limits (20 requests/s per device): the devices
//! are answered 429 and wait as `Retry-After` says, so the push and the
//! first syncs complete, slower.
//!
//! The whole scenario runs twice in one run, on a fresh server each time:
//! over plain http on loopback and over TLS (a CA made for the run; A
//! trusts it by `--ca-file`, the joiners by the invite's pin), and a last
//! `tls_overhead` line compares the two (goal: TLS initial sync at most
//! 1.15 x plain, no-change sync at most 5 ms). `--transport http|https`
//! runs one.
//!
//! `--wrap "CMD ARGS"` runs the first new device's initial sync under a
//! profiler, e.g. `--wrap "perf record -g -o /tmp/sync.perf --"` (the
//! `vault` command line follows the words given).
//!
//! `scripts/sync-e2e-bench [--items N] [--runs N] [--checks N] [--transport http|https|both] [--default-limits] [--join-after-push] [--wrap CMD]`
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod logins;
mod procs;
#[path = "../../tests/common/testca.rs"]
#[allow(dead_code, reason = "the tests' CA helper; the bench uses part of it")]
mod testca;

use logins::write_csv;
use procs::{Device, Server};
use testca::TestCa;

const PASSWORD: &str = "bench master password";

struct Args {
    vault_bin: PathBuf,
    server_bin: PathBuf,
    items: usize,
    runs: usize,
    checks: usize,
    default_limits: bool,
    join_after_push: bool,
    /// A command line the first initial sync runs under (a profiler).
    wrap: Vec<String>,
    transports: Vec<Transport>,
}

/// How the devices reach the server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Plain http on loopback.
    Http,
    /// TLS with a certificate of a CA made for the run (rcgen): device A
    /// trusts it by `--ca-file`, the joiners by the invite's pin.
    Https,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
        }
    }
}

fn args() -> Args {
    let release = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_owned();
    let mut a = Args {
        vault_bin: release.join("vault"),
        server_bin: release.join("vault-server"),
        items: 100_000,
        runs: 3,
        checks: 100,
        default_limits: false,
        join_after_push: false,
        wrap: Vec::new(),
        transports: vec![Transport::Http, Transport::Https],
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        match flag.as_str() {
            "--default-limits" => a.default_limits = true,
            "--join-after-push" => a.join_after_push = true,
            _ => {
                let v = argv.next().expect("a value");
                match flag.as_str() {
                    "--vault-bin" => a.vault_bin = PathBuf::from(v),
                    "--server-bin" => a.server_bin = PathBuf::from(v),
                    "--items" => a.items = v.parse().unwrap(),
                    "--runs" => a.runs = v.parse().unwrap(),
                    "--checks" => a.checks = v.parse().unwrap(),
                    "--wrap" => a.wrap = v.split_whitespace().map(str::to_owned).collect(),
                    "--transport" => {
                        a.transports = match v.as_str() {
                            "http" => vec![Transport::Http],
                            "https" => vec![Transport::Https],
                            "both" => vec![Transport::Http, Transport::Https],
                            other => panic!("--transport http|https|both, not {other}"),
                        }
                    }
                    other => panic!("unknown flag {other}"),
                }
            }
        }
    }
    a
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Nearest rank on a sorted list.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The ciphertext bytes a vault holds for its live items.
fn ciphertext_bytes(vault: &Path) -> u64 {
    let conn = rusqlite::Connection::open_with_flags(
        vault,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    ["inet", "genp", "keys"]
        .iter()
        .map(|t| {
            conn.query_row(
                &format!("SELECT coalesce(sum(length(wrappedkey) + length(encitem)), 0) FROM {t} WHERE tomb = 0"),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap() as u64
        })
        .sum()
}

fn main() {
    let a = args();
    let vault_bin = std::fs::canonicalize(&a.vault_bin).expect("build the release vault first");
    let server_bin =
        std::fs::canonicalize(&a.server_bin).expect("build the release vault-server first");
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("logins.csv");
    write_csv(&csv, a.items);
    let mut figures = Vec::new();
    for &transport in &a.transports {
        let root = tmp.path().join(transport.name());
        std::fs::create_dir_all(&root).unwrap();
        figures.push((
            transport,
            scenario(&a, transport, &vault_bin, &server_bin, &root, &csv),
        ));
    }
    // TLS against plain loopback, same run, same machine.
    if let [(Transport::Http, plain), (Transport::Https, tls)] = figures.as_slice() {
        let ratio = tls.initial_ms / plain.initial_ms;
        println!(
            "{}",
            json!({
                "op": "tls_overhead",
                "n": a.items,
                "initial_sync_http_ms": plain.initial_ms,
                "initial_sync_https_ms": tls.initial_ms,
                "ratio": (ratio * 1000.0).round() / 1000.0,
                "no_change_http_ms": plain.no_change_ms,
                "no_change_https_ms": tls.no_change_ms,
                "goal_ratio": 1.15,
                "goal_no_change_ms": 5,
                "met": ratio <= 1.15 && tls.no_change_ms <= 5.0,
            })
        );
    }
}

/// One transport's medians.
struct Figures {
    initial_ms: f64,
    no_change_ms: f64,
}

/// The whole scenario on a fresh server and fresh devices.
fn scenario(
    a: &Args,
    transport: Transport,
    vault_bin: &Path,
    server_bin: &Path,
    root: &Path,
    csv: &Path,
) -> Figures {
    let pw_file = root.join("pw");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).unwrap();
    let tls_files = (transport == Transport::Https).then(|| {
        let ca = TestCa::new("bench CA");
        let (cert, key) = ca.issue(&["localhost"], false);
        [("ca.pem", ca.pem()), ("cert.pem", cert), ("key.pem", key)].map(|(name, text)| {
            let path = root.join(name);
            std::fs::write(&path, text).unwrap();
            path
        })
    });
    let server = Server::start(
        server_bin,
        &root.join("server.db"),
        a.default_limits,
        tls_files
            .as_ref()
            .map(|[_, cert, key]| (cert.as_path(), key.as_path())),
    );
    let limits = if a.default_limits { "default" } else { "off" };
    let net = transport.name();
    // A: the big vault, by one import.
    let dev_a = Device::init(vault_bin, root, &pw_file, "a");
    let (out, took) = dev_a.timed(&[
        "-q",
        "import",
        "--format",
        "chrome-csv",
        csv.to_str().unwrap(),
    ]);
    assert!(
        out.contains(&format!("imported {} items", a.items)),
        "{out}"
    );
    println!(
        "{}",
        json!({"op": "import_items", "transport": net, "n": a.items, "wall_ms": ms(took)})
    );

    // A founds the circle. The new devices join before A's first sync
    // (unless --join-after-push), so that the server collects no
    // tombstones while they have signed nothing: once every member has
    // signed a manifest the server raises the zone's gc_seq to the lowest
    // signed seq, and a device that joins after that gets 410
    // token_expired on its second changes page (a token between 0 and
    // gc_seq), restarts from 0 once and fails. Joining first measures the
    // same thing: an empty device pulling every record.
    let mut create = vec!["circle", "create", "--server", &server.url, "--name", "a"];
    if let Some([ca, _, _]) = &tls_files {
        create.extend(["--ca-file", ca.to_str().unwrap()]);
    }
    dev_a.ok(&create);
    let devices: Vec<Device> = (0..a.runs.max(1))
        .map(|run| Device::init(vault_bin, root, &pw_file, &format!("b{run}")))
        .collect();
    if !a.join_after_push {
        for dev in &devices {
            dev.join(&dev_a);
        }
    }
    let (push, wall) = dev_a.sync();
    assert_eq!(push["pushed"].as_u64(), Some(a.items as u64), "{push}");
    let push_ms = f(&push, "elapsed_ms");
    println!(
        "{}",
        json!({
            "op": "push_initial",
            "transport": net,
            "n": a.items,
            "elapsed_ms": push_ms,
            "records_per_sec": (a.items as f64 / (push_ms / 1e3)).round(),
            "requests": push["requests"],
            "wall_ms": ms(wall),
            "rate_limits": limits,
            "goal_records_per_sec": 20_000,
            "met": a.items as f64 / (push_ms / 1e3) >= 20_000.0,
        })
    );
    let cipher = ciphertext_bytes(&dev_a.vault);

    // Each new device syncs everything down.
    let mut samples = Vec::new();
    for (run, dev) in devices.iter().enumerate() {
        if a.join_after_push {
            dev.join(&dev_a);
        }
        let wrap: &[String] = if run == 0 { &a.wrap } else { &[] };
        let (v, wall) = dev.sync_under(wrap);
        assert_eq!(v["pulled"].as_u64(), Some(a.items as u64), "{v}");
        assert_eq!(v["quarantined"].as_u64(), Some(0), "{v}");
        let bytes = f(&v, "bytes_received");
        let elapsed = f(&v, "elapsed_ms");
        println!(
            "{}",
            json!({
                "op": "initial_sync_run",
                "transport": net,
                "run": run,
                "elapsed_ms": elapsed,
                "records_received": v["records_received"],
                "bytes_received": v["bytes_received"],
                "requests": v["requests"],
                "ratio": (bytes / cipher as f64 * 1000.0).round() / 1000.0,
                "wall_ms": ms(wall),
            })
        );
        samples.push((elapsed, v));
    }
    let mut times: Vec<f64> = samples.iter().map(|(t, _)| *t).collect();
    times.sort_by(f64::total_cmp);
    let med = median(&times);
    let (_, first) = &samples[0];
    let bytes = f(first, "bytes_received");
    let ratio = (bytes / cipher as f64 * 1000.0).round() / 1000.0;
    println!(
        "{}",
        json!({
            "op": "initial_sync",
            "transport": net,
            "n": a.items,
            "runs": times.len(),
            "median_ms": (med * 1000.0).round() / 1000.0,
            "samples_ms": times,
            "records_received": first["records_received"],
            "bytes_received": first["bytes_received"],
            "ciphertext_bytes": cipher,
            "payload_ratio": ratio,
            "requests": first["requests"],
            "rate_limits": limits,
            "goal_ms": 2500,
            "goal_ratio": 1.4,
            "met": med <= 2500.0 && ratio <= 1.4,
        })
    );

    // The no-change check on the last device.
    let dev = devices.last().unwrap();
    let mut checks = Vec::new();
    let mut walls = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..a.checks.max(1) {
        let (v, wall) = dev.sync();
        assert_eq!(v["pulled"].as_u64(), Some(0), "{v}");
        checks.push(f(&v, "elapsed_ms"));
        walls.push(ms(wall));
        requests.push(v["requests"].as_u64().unwrap());
    }
    checks.sort_by(f64::total_cmp);
    walls.sort_by(f64::total_cmp);
    let one_trip = requests.iter().all(|r| *r == 1);
    println!(
        "{}",
        json!({
            "op": "no_change_sync",
            "transport": net,
            "n": a.items,
            "runs": checks.len(),
            "median_ms": (median(&checks) * 1000.0).round() / 1000.0,
            "p99_ms": percentile(&checks, 0.99),
            "max_ms": checks[checks.len() - 1],
            "requests_each": if one_trip { json!(1) } else { json!(requests) },
            "wall_median_ms": median(&walls),
            "goal_ms": 5,
            "met": one_trip && percentile(&checks, 0.99) <= 5.0,
        })
    );
    drop(server);
    Figures {
        initial_ms: med,
        no_change_ms: median(&checks),
    }
}
