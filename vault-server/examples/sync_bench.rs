//! Sync throughput: starts the server in this process on loopback (rate
//! limits off, its own 2-worker runtime), founds a circle of two devices,
//! then measures
//! - pushes: N records (default 100,000) in batches of 500 (goal: at least
//!   20,000 records/s);
//! - the manifest: the first read after them (every bucket dirty), then the
//!   no-change check on the N-record zone (goal: at most 5 ms), then a read
//!   after a one-record push (one dirty bucket);
//! - fan-out: S sockets (default 1,000) of the circle, E zone events
//!   published to them (goal: at least 100,000 messages/s on 2 cores).
//!
//! Prints one JSON object.
//!
//! `cargo run --release -p vault-server --example sync_bench -- [--records N] [--sockets S] [--events E]`
#![allow(clippy::print_stdout)]

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;
use vault_core::crypto::DeviceIdentity;
use vault_core::sync::{SealedRecord, TaggedRecord, encode_records};
use vault_server::notify::ZoneChange;
use vault_server::{AppState, Config, serve};

mod support;
use support::{circle, login};

fn arg(name: &str, default: u64) -> anyhow::Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).context("a value")?.parse()?),
        None => Ok(default),
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| ms(*d))
}

fn record(writer: &DeviceIdentity, n: u64) -> TaggedRecord {
    let uuid = Uuid::new_v4();
    TaggedRecord {
        tag: 0,
        record: SealedRecord {
            uuid,
            gencount: 1,
            epoch: 1,
            tomb: false,
            circle_pos: 0,
            writer: writer.peer_id(),
            wrappedkey: vec![n as u8; 60],
            encitem: vec![(n >> 8) as u8; 300],
            signature: [0x5a; 64],
        },
    }
}

async fn push(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    records: &[TaggedRecord],
) -> anyhow::Result<Value> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/vnd.vault.records")
        .body(encode_records(records))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("push: {status} {v}");
    }
    Ok(v)
}

async fn manifest(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn main() -> anyhow::Result<()> {
    let records = arg("--records", 100_000)?;
    let sockets = arg("--sockets", 1000)? as usize;
    let events = arg("--events", 2000)?;
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        db: dir.path().join("bench.db"),
        ..Config::default()
    };
    config.limits.per_ip_per_sec = 0;
    config.limits.per_device_per_sec = 0;
    let state = AppState::new(&config)?;

    // The server on its own two workers; the clients on another runtime.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve_state = state.clone();
    let server = server_rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        serve(listener, serve_state, async {
            let _ = stopped.await;
        })
        .await
        .map_err(anyhow::Error::from)
    });

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = client_rt.block_on(async move {
        let base = format!("http://{addr}");
        let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
        let (circle_id, devices, token_a) = circle(&http, &base, 2).await?;
        let token_b = login(&http, &base, circle_id, &devices[1]).await?;
        let zone = format!("{base}/v1/circles/{circle_id}/zones/keychain");
        let records_url = format!("{zone}/records");
        let manifest_url = format!("{zone}/manifest");

        // Pushes.
        let started = Instant::now();
        let mut n = 0;
        while n < records {
            let batch: Vec<TaggedRecord> = (n..(n + 500).min(records))
                .map(|i| record(&devices[0], i))
                .collect();
            n += batch.len() as u64;
            push(&http, &records_url, &token_a, &batch).await?;
        }
        let push_secs = started.elapsed().as_secs_f64();

        // The manifest: cold, then the no-change check, then one dirty bucket.
        let t = Instant::now();
        let cold = manifest(&http, &manifest_url, &token_b).await?;
        let cold_ms = ms(t.elapsed());
        let mut times = Vec::new();
        for _ in 0..300 {
            let t = Instant::now();
            let m = manifest(&http, &manifest_url, &token_b).await?;
            times.push(t.elapsed());
            if m["root"] != cold["root"] {
                bail!("the root moved without a push");
            }
        }
        times.sort();
        push(&http, &records_url, &token_a, &[record(&devices[0], 1)]).await?;
        let t = Instant::now();
        let after_one = manifest(&http, &manifest_url, &token_b).await?;
        let one_dirty_ms = ms(t.elapsed());
        if after_one["count"].as_u64() != Some(records + 1) {
            bail!("count {} after {} records", after_one["count"], records + 1);
        }

        // Fan-out.
        let received = Arc::new(AtomicU64::new(0));
        let last_seen: Arc<Vec<AtomicU64>> =
            Arc::new((0..sockets).map(|_| AtomicU64::new(0)).collect());
        let ws_url = format!("ws://{addr}/v1/ws");
        let opened: Vec<_> = stream::iter(0..sockets)
            .map(|_| {
                let (url, token) = (ws_url.clone(), token_b.clone());
                async move {
                    let mut req = url.into_client_request()?;
                    req.headers_mut()
                        .insert("authorization", format!("Bearer {token}").parse()?);
                    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
                    ws.next().await.context("no hello")??;
                    anyhow::Ok(ws)
                }
            })
            .buffer_unordered(128)
            .collect()
            .await;
        let mut readers = Vec::new();
        for (i, ws) in opened.into_iter().enumerate() {
            let mut ws = ws?;
            let (received, last_seen) = (received.clone(), last_seen.clone());
            readers.push(tokio::spawn(async move {
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        let v: Value = serde_json::from_str(&t)?;
                        received.fetch_add(1, Ordering::Relaxed);
                        if let Some(seq) = v["seq"].as_u64() {
                            last_seen[i].fetch_max(seq, Ordering::Relaxed);
                        }
                    }
                }
                anyhow::Ok(())
            }));
        }
        let author = *devices[0].peer_id().as_bytes();
        let first = records + 2;
        let last = first + events - 1;
        let started = Instant::now();
        for (k, seq) in (first..=last).enumerate() {
            // Stay within the channel's capacity: wait for the slowest socket.
            if k >= 32 && k % 16 == 0 {
                while last_seen
                    .iter()
                    .map(|s| s.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(0)
                    + 32
                    < seq
                    && started.elapsed() < Duration::from_secs(60)
                {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            state
                .notifier()
                .publish(circle_id, ZoneChange::event("keychain", seq, author));
        }
        while last_seen.iter().any(|s| s.load(Ordering::Relaxed) < last) {
            if started.elapsed() > Duration::from_secs(120) {
                bail!("the sockets never all saw the last event");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let fan_secs = started.elapsed().as_secs_f64();
        let delivered = received.load(Ordering::Relaxed);
        for r in readers {
            r.abort();
        }
        anyhow::Ok(json!({
            "records": records,
            "push_records_per_sec": (records as f64 / push_secs).round(),
            "manifest_cold_ms": cold_ms,
            "manifest_no_change_p50_ms": percentile(&times, 0.5),
            "manifest_no_change_p99_ms": percentile(&times, 0.99),
            "manifest_one_dirty_bucket_ms": one_dirty_ms,
            "sockets": sockets,
            "events": events,
            "frames_delivered": delivered,
            "fanout_messages_per_sec": (delivered as f64 / fan_secs).round(),
        }))
    })?;
    let _ = stop.send(());
    server_rt.block_on(server)??;
    println!("{out}");
    Ok(())
}
