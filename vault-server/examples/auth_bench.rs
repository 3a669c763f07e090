//! Authentication throughput: starts the server in this process on
//! loopback (rate limits off), founds a circle with 64 devices, then 64
//! concurrent clients do challenge + token round trips for a few seconds.
//! Prints one JSON object: `{"round_trips_per_sec", "p50_ms", "p99_ms", ...}`.
//! Goal: at least 5,000 round trips per second on 2 cores.
//!
//! `cargo run --release -p vault-server --example auth_bench -- [--secs N] [--clients N]`
#![allow(clippy::print_stdout)]

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vault_core::crypto::DeviceIdentity;
use vault_server::{AppState, Config, serve};

mod support;
use support::bench::{arg, percentile};
use support::{circle, login};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = arg("--secs", 5)?;
    let clients = arg("--clients", 64)? as usize;
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        db: dir.path().join("bench.db").into(),
        registration: vault_server::Registration::Open,
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
    let (circle, devices, _) = circle(&http, &base, clients).await?;
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
