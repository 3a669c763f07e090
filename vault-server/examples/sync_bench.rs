//! Sync throughput: starts the server in this process on loopback (rate
//! limits off, its own 2-worker runtime), founds a circle of two devices,
//! then measures
//! - pushes: N records (default 100,000) in batches of 500 (goal: at least
//!   20,000 records/s);
//! - the manifest: the first read after them (every bucket dirty), then the
//!   no-change check on the N-record zone (goal: at most 5 ms), then a read
//!   after a one-record push (one dirty bucket);
//! - fan-out: S sockets (default 1,000) of the circle, E zone events
//!   published to them (goal: at least 100,000 messages/s on 2 cores);
//! - notification latency: a second circle of W + 1 devices (default
//!   1,001), W of them watching on an authenticated WebSocket each; the
//!   other pushes one record P times (default 50, one every 50 ms), and
//!   for every (push, watcher) pair the time from just before the push
//!   request is sent to the watcher reading the `zone` frame, the instant
//!   it starts its pull (goal: p99 at most 100 ms). K watchers (default
//!   10) do send the pull (`GET …/changes`); their time to the pulled
//!   page is reported too.
//!
//! Prints one JSON object.
//!
//! `cargo run --release -p vault-server --example sync_bench -- [--records N] [--sockets S] [--events E] [--watchers W] [--pushes P] [--pullers K] [--spacing-ms MS]`
#![allow(clippy::print_stdout)]

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vault_core::sync::{ChangesPage, TaggedRecord};
use vault_server::notify::ZoneChange;
use vault_server::{AppState, Config, serve};

mod support;
use support::bench::{arg, ms, percentile, push, record};
use support::{circle, login};

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

/// The notification-latency run's sizes.
struct Watch {
    watchers: usize,
    pushes: u64,
    pullers: usize,
    spacing: Duration,
}

/// What one watcher saw: each zone seq with the instant its frame was read
/// (the pull starts there), and for a puller the instant its page arrived.
#[derive(Default)]
struct Seen {
    frames: Vec<(u64, Instant)>,
    pulled: Vec<(u64, Instant)>,
}

/// Opens an authenticated WebSocket and reads its hello frame.
async fn open_socket(
    url: &str,
    token: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    ws.next().await.context("no hello")??;
    Ok(ws)
}

/// A circle of `w.watchers + 1` devices; the watchers hold a socket each,
/// the first device pushes one record `w.pushes` times. Returns the
/// latency figures.
async fn notification_latency(
    http: &reqwest::Client,
    base: &str,
    ws_url: &str,
    w: Watch,
) -> anyhow::Result<Value> {
    let started = Instant::now();
    let (circle_id, devices, token_a) = circle(http, base, w.watchers + 1).await?;
    let circle_secs = started.elapsed().as_secs_f64();
    let tokens: Vec<String> = stream::iter(&devices[1..])
        .map(|d| login(http, base, circle_id, d))
        .buffered(32)
        .try_collect()
        .await?;
    let zone = format!("{base}/v1/circles/{circle_id}/zones/keychain");
    let changes_url = format!("{zone}/changes");
    let sockets: Vec<_> = stream::iter(&tokens)
        .map(|t| open_socket(ws_url, t))
        .buffered(128)
        .try_collect()
        .await?;

    // The zone is new: push k takes it to seq k.
    let last = w.pushes;
    let mut tasks = Vec::new();
    for (i, (mut ws, token)) in sockets.into_iter().zip(tokens).enumerate() {
        let pull = (i < w.pullers).then(|| (http.clone(), changes_url.clone(), token));
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut since = 0;
            while let Some(m) = ws.next().await {
                let Message::Text(t) = m? else { continue };
                let at = Instant::now();
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] != "zone" {
                    continue;
                }
                let seq = v["seq"].as_u64().context("a zone frame without seq")?;
                seen.frames.push((seq, at));
                if let Some((http, url, token)) = &pull {
                    let body = http
                        .get(format!("{url}?since=1.{since}&limit=1000"))
                        .bearer_auth(token)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?;
                    let page = ChangesPage::decode(&body)
                        .map_err(|_| anyhow::anyhow!("a changes page does not decode"))?;
                    if page.records.is_empty() {
                        bail!("the pull after seq {seq} brought nothing");
                    }
                    since = page.token.seq;
                    seen.pulled.push((seq, Instant::now()));
                }
                if seq >= last {
                    break;
                }
            }
            anyhow::Ok(seen)
        }));
    }
    // The sockets are all subscribed once the hello arrived; settle.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let records_url = format!("{zone}/records");
    let writer = &devices[0];
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut push_rtt = Vec::new();
    for k in 0..w.pushes {
        let batch = [record(writer, k)];
        let t0 = Instant::now();
        let reply = push(http, &records_url, &token_a, &batch).await?;
        push_rtt.push(t0.elapsed());
        let token = reply["token"].as_str().context("no token")?;
        let seq: u64 = token
            .split_once('.')
            .and_then(|(_, s)| s.parse().ok())
            .context("a bad token")?;
        sent_at.insert(seq, t0);
        tokio::time::sleep_until((t0 + w.spacing).into()).await;
    }

    let mut notify = Vec::new();
    let mut pulled = Vec::new();
    let mut missed = 0usize;
    for t in tasks {
        let seen = match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(joined) => joined??,
            Err(_) => bail!("a watcher never saw the last push"),
        };
        missed += w.pushes as usize - seen.frames.len();
        for (seq, at) in seen.frames {
            let t0 = sent_at.get(&seq).context("a frame for no push")?;
            notify.push(at.duration_since(*t0));
        }
        for (seq, at) in seen.pulled {
            pulled.push(at.duration_since(sent_at[&seq]));
        }
    }
    notify.sort();
    pulled.sort();
    push_rtt.sort();
    Ok(json!({
        "watchers": w.watchers,
        "pushes": w.pushes,
        "spacing_ms": ms(w.spacing),
        "circle_setup_secs": (circle_secs * 100.0).round() / 100.0,
        "pairs": notify.len(),
        "frames_missed": missed,
        "push_rtt_p50_ms": percentile(&push_rtt, 0.5),
        "notify_p50_ms": percentile(&notify, 0.5),
        "notify_p99_ms": percentile(&notify, 0.99),
        "notify_max_ms": percentile(&notify, 1.0),
        "pullers": w.pullers,
        "pulled_p50_ms": percentile(&pulled, 0.5),
        "pulled_p99_ms": percentile(&pulled, 0.99),
    }))
}

fn main() -> anyhow::Result<()> {
    let records = arg("--records", 100_000)?;
    let sockets = arg("--sockets", 1000)? as usize;
    let events = arg("--events", 2000)?;
    let watchers = arg("--watchers", 1000)? as usize;
    let pushes = arg("--pushes", 50)?;
    let pullers = arg("--pullers", 10)? as usize;
    let spacing = Duration::from_millis(arg("--spacing-ms", 50)?);
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        db: dir.path().join("bench.db").into(),
        registration: vault_server::Registration::Open,
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

        let latency = notification_latency(
            &http,
            &base,
            &ws_url,
            Watch {
                watchers,
                pushes,
                pullers,
                spacing,
            },
        )
        .await?;

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
            "latency": latency,
        }))
    })?;
    let _ = stop.send(());
    server_rt.block_on(server)??;
    println!("{out}");
    Ok(())
}
