//! Scale figures of `vault-server` on PostgreSQL, one and two instances
//! (real processes, the release binary) on one database of the cluster
//! `VAULT_BENCH_POSTGRES_URL` names (`scripts/scale-bench` starts one),
//! beside SQLite in the same run:
//! - push throughput: N records (default 60,000) in batches of 500 by C
//!   clients (default 4), each to a zone of its own, on SQLite, on one
//!   PostgreSQL instance, and on two (the clients alternating instances);
//!   goals: PostgreSQL at least 0.7 x SQLite and 20,000 records/s; two
//!   instances at least 1.3 x one;
//! - authentication: 64 clients over two instances doing challenge + token
//!   round trips (goal: at least 5,000/s), and the same on one instance,
//!   and on one SQLite instance (what the client and HTTP allow here);
//! - notification latency: W watchers (default 1,000) over two instances,
//!   one device pushing one record P times (default 50) through instance
//!   1; for each (push, watcher) the time from just before the push to the
//!   watcher reading the `zone` frame, when its pull starts (goal: p99 at
//!   most 100 ms), reported for the watchers of instance 2 too;
//! - memory: S idle sockets (default 10,000) over two instances, the sum
//!   of their RSS (goal: at most 128 MiB).
//!
//! Prints one JSON object. Medians over `--runs` for the push figures.
//!
//! `scripts/scale-bench [--records N] [--clients C] [--runs R] [--auth-secs S] [--watchers W] [--pushes P] [--sockets S]`
#![allow(clippy::print_stdout)]

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use vault_core::sync::encode_records;

mod support;
use support::bench::{arg, percentile, push, record};
use support::{circle, login};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Where an instance keeps its data.
enum Db<'a> {
    File(&'a Path),
    Url(&'a str),
}

/// A `vault-server` process; killed on drop.
struct Instance {
    child: Child,
    base: String,
    ws: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    fn start(bin: &Path, db: Db<'_>) -> anyhow::Result<Instance> {
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .env_remove("VAULT_SERVER_DB")
            .env("VAULT_SERVER_REGISTRATION", "open")
            .env("VAULT_SERVER_METRICS_LISTEN", "off")
            .env("VAULT_SERVER_METRICS_PUBLIC", "true")
            .env("VAULT_SERVER_PER_IP_PER_SEC", "0")
            .env("VAULT_SERVER_PER_DEVICE_PER_SEC", "0")
            .env("VAULT_SERVER_MAX_CONNECTIONS_PER_IP", "0")
            .env("VAULT_SERVER_MAX_CONNECTIONS", "0")
            .env("VAULT_SERVER_QUOTAS_MAX_DEVICES", "0")
            .env("VAULT_SERVER_QUOTAS_MAX_RECORDS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match db {
            Db::File(path) => cmd.arg("--db").arg(path),
            Db::Url(url) => cmd.env("VAULT_SERVER_DB", url),
        };
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let addr = loop {
            let line = lines.next().context("the server exited")??;
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim().to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Instance {
            child,
            base: format!("http://{addr}"),
            ws: format!("ws://{addr}/v1/ws"),
        })
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS")?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("VmRSS value")?
            .parse()?)
    }
}

/// A new database in the cluster whose `postgres` database `admin` names.
async fn new_database(admin: &str) -> anyhow::Result<String> {
    let name = format!("vault_bench_{:016x}", getrandom::u64()?);
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    drop(client);
    let _ = driver.await;
    let (base, _) = admin.rsplit_once('/').context("a URL with a database")?;
    Ok(format!("{base}/{name}"))
}

/// Records/s of `total` records pushed in batches of 500 by `clients`
/// clients, client c to zone `bench{c}` through instance `c % n`.
async fn push_rate(
    http: &reqwest::Client,
    instances: &[&Instance],
    total: u64,
    clients: u64,
) -> anyhow::Result<f64> {
    let (circle_id, devices, token) = circle(http, &instances[0].base, 1).await?;
    let writer = &devices[0];
    let per_client = total / clients;
    // Built before the clock starts: the figure is the server's.
    let batches: Vec<Vec<Vec<u8>>> = (0..clients)
        .map(|c| {
            (0..per_client.div_ceil(500))
                .map(|b| {
                    let n = (per_client - b * 500).min(500);
                    let records: Vec<_> = (0..n)
                        .map(|i| record(writer, c * 1_000_000 + b * 500 + i))
                        .collect();
                    encode_records(&records)
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = batches
        .into_iter()
        .enumerate()
        .map(|(c, bodies)| {
            let url = format!(
                "{}/v1/circles/{circle_id}/zones/bench{c}/records",
                instances[c % instances.len()].base
            );
            let (http, token) = (http.clone(), token.clone());
            tokio::spawn(async move {
                for body in bodies {
                    let r = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/vnd.vault.records")
                        .body(body)
                        .send()
                        .await?;
                    if !r.status().is_success() {
                        bail!("push: {}", r.status());
                    }
                    r.bytes().await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok((per_client * clients) as f64 / started.elapsed().as_secs_f64())
}

/// Challenge + token round trips of `clients` clients for `secs` seconds,
/// client i through instance `i % n`.
async fn auth_rate(
    http: &reqwest::Client,
    instances: &[&Instance],
    clients: usize,
    secs: u64,
) -> anyhow::Result<Value> {
    let (circle_id, devices, _) = circle(http, &instances[0].base, clients).await?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let base = instances[i % instances.len()].base.clone();
            let http = http.clone();
            tokio::spawn(async move {
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    login(&http, &base, circle_id, &d).await?;
                    times.push(t0.elapsed());
                }
                anyhow::Ok(times)
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort();
    Ok(json!({
        "clients": clients,
        "instances": instances.len(),
        "round_trips": times.len(),
        "round_trips_per_sec": (times.len() as f64 / elapsed).round(),
        "p50_ms": percentile(&times, 0.5),
        "p99_ms": percentile(&times, 0.99),
    }))
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(url: &str, token: &str) -> anyhow::Result<Ws> {
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
    ws.next().await.context("no hello")??;
    Ok(ws)
}

/// Watchers over the instances (watcher i on instance `i % n`), one
/// device pushing through instance 0; frame latencies.
async fn notify_latency(
    http: &reqwest::Client,
    instances: &[&Instance],
    watchers: usize,
    pushes: u64,
) -> anyhow::Result<Value> {
    let (circle_id, devices, token_a) = circle(http, &instances[0].base, watchers + 1).await?;
    let tokens: Vec<String> = stream::iter(&devices[1..])
        .enumerate()
        .map(|(i, d)| login(http, &instances[i % instances.len()].base, circle_id, d))
        .buffered(32)
        .try_collect()
        .await?;
    let sockets: Vec<Ws> = stream::iter(tokens.iter().enumerate())
        .map(|(i, t)| open_socket(&instances[i % instances.len()].ws, t))
        .buffered(128)
        .try_collect()
        .await?;
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                let mut frames = Vec::new();
                while let Some(m) = ws.next().await {
                    let Message::Text(t) = m? else { continue };
                    let at = Instant::now();
                    let v: Value = serde_json::from_str(&t)?;
                    if v["type"] != "zone" {
                        continue;
                    }
                    let seq = v["seq"].as_u64().context("seq")?;
                    frames.push((seq, at));
                    if seq >= pushes {
                        break;
                    }
                }
                anyhow::Ok((i % 2, frames))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!(
        "{}/v1/circles/{circle_id}/zones/keychain/records",
        instances[0].base
    );
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    for k in 0..pushes {
        let t0 = Instant::now();
        let reply = push(http, &url, &token_a, &[record(&devices[0], k)]).await?;
        let seq: u64 = reply["token"]
            .as_str()
            .and_then(|t| t.split_once('.'))
            .and_then(|(_, s)| s.parse().ok())
            .context("a bad token")?;
        sent_at.insert(seq, t0);
        tokio::time::sleep_until((t0 + Duration::from_millis(50)).into()).await;
    }
    let (mut all, mut other, mut missed) = (Vec::new(), Vec::new(), 0usize);
    for t in tasks {
        let (instance, frames) = match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(joined) => joined??,
            Err(_) => bail!("a watcher never saw the last push"),
        };
        missed += pushes as usize - frames.len();
        for (seq, at) in frames {
            let d = at.duration_since(*sent_at.get(&seq).context("a frame for no push")?);
            all.push(d);
            if instance == 1 {
                other.push(d);
            }
        }
    }
    all.sort();
    other.sort();
    Ok(json!({
        "watchers": watchers,
        "instances": instances.len(),
        "pushes": pushes,
        "frames_missed": missed,
        "notify_p50_ms": percentile(&all, 0.5),
        "notify_p99_ms": percentile(&all, 0.99),
        "other_instance_p50_ms": percentile(&other, 0.5),
        "other_instance_p99_ms": percentile(&other, 0.99),
        "other_instance_max_ms": percentile(&other, 1.0),
    }))
}

/// `sockets` idle sockets over the instances; their RSS.
async fn idle_sockets(
    http: &reqwest::Client,
    instances: &[&Instance],
    sockets: usize,
) -> anyhow::Result<Value> {
    let devices = 100;
    let (circle_id, ids, first) = circle(http, &instances[0].base, devices).await?;
    let mut tokens = vec![first];
    for d in &ids[1..] {
        tokens.push(login(http, &instances[0].base, circle_id, d).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline: Vec<u64> = instances
        .iter()
        .map(|i| i.rss_kib())
        .collect::<Result<_, _>>()?;
    let open: Vec<Ws> = stream::iter(0..sockets)
        .map(|i| {
            open_socket(
                &instances[i % instances.len()].ws,
                &tokens[i % tokens.len()],
            )
        })
        .buffer_unordered(256)
        .try_collect()
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss: Vec<u64> = instances
        .iter()
        .map(|i| i.rss_kib())
        .collect::<Result<_, _>>()?;
    drop(open);
    let mib = |k: u64| (k as f64 / 1024.0 * 10.0).round() / 10.0;
    Ok(json!({
        "sockets": sockets,
        "instances": instances.len(),
        "rss_mib_total": mib(rss.iter().sum()),
        "rss_mib_each": rss.iter().map(|k| mib(*k)).collect::<Vec<_>>(),
        "baseline_mib_total": mib(baseline.iter().sum()),
    }))
}

fn raise_nofile() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let hard = getrlimit(Resource::Nofile).maximum.unwrap_or(1 << 20);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        },
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let records = arg("--records", 60_000)?;
    let clients = arg("--clients", 4)?;
    let runs = arg("--runs", 3)?;
    let auth_secs = arg("--auth-secs", 5)?;
    let watchers = arg("--watchers", 1000)? as usize;
    let pushes = arg("--pushes", 50)?;
    let sockets = arg("--sockets", 10_000)? as usize;
    let admin = std::env::var("VAULT_BENCH_POSTGRES_URL")
        .context("VAULT_BENCH_POSTGRES_URL names no cluster: run scripts/scale-bench")?;
    let bin: PathBuf = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .context("no target directory")?
        .join("vault-server");
    raise_nofile();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()?;

    let (mut lite, mut pg1, mut pg2) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let s = Instance::start(&bin, Db::File(&dir.path().join("bench.db")))?;
        lite.push(push_rate(&http, &[&s], records, clients).await?);
        drop(s);
        let url = new_database(&admin).await?;
        let one = Instance::start(&bin, Db::Url(&url))?;
        pg1.push(push_rate(&http, &[&one], records, clients).await?);
        let two = Instance::start(&bin, Db::Url(&url))?;
        pg2.push(push_rate(&http, &[&one, &two], records, clients).await?);
    }
    let (lite_rps, pg1_rps, pg2_rps) = (
        median(lite.clone()),
        median(pg1.clone()),
        median(pg2.clone()),
    );

    // The same authentication load on one SQLite instance: the bound
    // the client and HTTP set on this machine.
    let dir = tempfile::tempdir()?;
    let lite_server = Instance::start(&bin, Db::File(&dir.path().join("auth.db")))?;
    let auth_sqlite = auth_rate(&http, &[&lite_server], 64, auth_secs).await?;
    drop(lite_server);
    let url = new_database(&admin).await?;
    let one = Instance::start(&bin, Db::Url(&url))?;
    let two = Instance::start(&bin, Db::Url(&url))?;
    let both = [&one, &two];
    let auth_pg1 = auth_rate(&http, &[&one], 64, auth_secs).await?;
    let auth = auth_rate(&http, &both, 64, auth_secs).await?;
    let notify = notify_latency(&http, &both, watchers, pushes).await?;
    let idle = idle_sockets(&http, &both, sockets).await?;

    let round = |v: f64| v.round();
    println!(
        "{}",
        json!({
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "push": {
                "records": records,
                "batch": 500,
                "clients": clients,
                "runs": runs,
                "sqlite_records_per_sec": round(lite_rps),
                "postgres_1_records_per_sec": round(pg1_rps),
                "postgres_2_records_per_sec": round(pg2_rps),
                "postgres_1_to_sqlite": (pg1_rps / lite_rps * 100.0).round() / 100.0,
                "postgres_2_to_1": (pg2_rps / pg1_rps * 100.0).round() / 100.0,
                "samples": {"sqlite": lite, "postgres_1": pg1, "postgres_2": pg2},
            },
            "auth": auth,
            "auth_postgres_1_instance": auth_pg1,
            "auth_sqlite": auth_sqlite,
            "notify": notify,
            "idle_sockets": idle,
        })
    );
    Ok(())
}
