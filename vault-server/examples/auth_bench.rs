//! Authentication throughput: starts the server in this process on
//! loopback (rate limits off), founds a circle with 64 devices, then 64
//! concurrent clients do challenge + token round trips for a few seconds.
//! Prints one JSON object: `{"round_trips_per_sec", "p50_ms", "p99_ms", ...}`.
//! Goal: at least 5,000 round trips per second on 2 cores.
//!
//! `cargo run --release -p vault-server --example auth_bench -- [--secs N] [--clients N]`
#![allow(clippy::print_stdout)]

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use vault_core::circle::{Entry, EntryBody, EntryHash, EpochCommit, SEALED_NAME_LEN, SealedName};
use vault_core::crypto::{BLOB_VERSION, DeviceIdentity, VaultRng};
use vault_server::{AppState, Config, serve};

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

fn name() -> anyhow::Result<SealedName> {
    let mut blob = vec![0u8; SEALED_NAME_LEN];
    blob[0] = BLOB_VERSION;
    Ok(SealedName::from_parts(1, blob)?)
}

fn arg(name: &str, default: u64) -> anyhow::Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).context("a value")?.parse()?),
        None => Ok(default),
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let r = http.post(url).json(body).send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("{url}: {status} {v}");
    }
    Ok(v)
}

/// Founds a circle with `n` devices; returns its id and the devices.
async fn circle(
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> anyhow::Result<(Uuid, Vec<DeviceIdentity>)> {
    let mut rng = VaultRng::new()?;
    let devices: Vec<DeviceIdentity> = (0..n).map(|_| DeviceIdentity::generate(&mut rng)).collect();
    let circle = Uuid::new_v4();
    let founder = &devices[0];
    let mut head = founder.sign_entry(Entry {
        circle_id: circle,
        seq: 0,
        prev: EntryHash::ZERO,
        signer: founder.peer_id(),
        time: 0,
        body: EntryBody::Genesis {
            founder: founder.public(),
            name: name()?,
            epochs: vec![EpochCommit {
                epoch: 1,
                key_uuid: Uuid::new_v4(),
                commit: [1; 32],
            }],
        },
    })?;
    post(
        http,
        &format!("{base}/v1/circles"),
        &json!({"entry": b64(head.entry_bytes()), "signature": b64(head.signature())}),
    )
    .await?;
    let token = login(http, base, circle, founder).await?;
    for d in &devices[1..] {
        let e = founder.sign_entry(Entry {
            circle_id: circle,
            seq: head.entry().seq + 1,
            prev: head.hash(),
            signer: founder.peer_id(),
            time: 0,
            body: EntryBody::AddPeer {
                peer: d.public(),
                name: name()?,
            },
        })?;
        let r = http
            .post(format!("{base}/v1/circles/{circle}/log"))
            .bearer_auth(&token)
            .json(&json!({
                "prev_hash": b64(&head.hash().0),
                "entry": b64(e.entry_bytes()),
                "signature": b64(e.signature()),
            }))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("append: {}", r.status());
        }
        head = e;
    }
    Ok((circle, devices))
}

/// One challenge + token round trip.
async fn login(
    http: &reqwest::Client,
    base: &str,
    circle: Uuid,
    device: &DeviceIdentity,
) -> anyhow::Result<String> {
    let peer = device.peer_id().to_string();
    let c = post(
        http,
        &format!("{base}/v1/auth/challenge"),
        &json!({"circle_id": circle.to_string(), "peer_id": peer}),
    )
    .await?;
    let challenge: [u8; 32] = data_encoding::BASE64URL_NOPAD
        .decode(c["challenge"].as_str().context("challenge")?.as_bytes())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("challenge length"))?;
    let t = post(
        http,
        &format!("{base}/v1/auth/token"),
        &json!({
            "circle_id": circle.to_string(),
            "peer_id": peer,
            "challenge": b64(&challenge),
            "signature": b64(&device.sign_auth(circle, &challenge)),
        }),
    )
    .await?;
    Ok(t["token"].as_str().context("token")?.to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = arg("--secs", 5)?;
    let clients = arg("--clients", 64)? as usize;
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        db: dir.path().join("bench.db"),
        ..Config::default()
    };
    config.limits.per_ip_per_sec = 0;
    config.limits.per_device_per_sec = 0;
    let state = AppState::new(&config)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .tcp_nodelay(true)
        .build()?;
    let (circle, devices) = circle(&http, &base, clients).await?;
    let devices: Vec<Arc<DeviceIdentity>> = devices.into_iter().map(Arc::new).collect();

    // Warm up the connections, then measure.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let tasks: Vec<_> = devices
        .iter()
        .map(|d| {
            let (http, base, d) = (http.clone(), base.clone(), d.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    login(&http, &base, circle, &d).await?;
                    times.push(t.elapsed());
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
    let _ = stop.send(());
    server.await??;
    println!(
        "{}",
        json!({
            "round_trips_per_sec": (times.len() as f64 / elapsed).round(),
            "p50_ms": (percentile(&times, 0.50) * 100.0).round() / 100.0,
            "p99_ms": (percentile(&times, 0.99) * 100.0).round() / 100.0,
            "round_trips": times.len(),
            "clients": clients,
            "secs": (elapsed * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
