//! Memory of idle WebSockets: spawns the `vault-server` binary (so its RSS
//! can be read from `/proc/PID/status`), founds a circle with a few devices,
//! opens N authenticated idle sockets (default 10,000), and prints one JSON
//! object: `{"sockets", "server_rss_mib", "baseline_rss_mib", ...}`.
//! Goal: at most 128 MiB with 10,000 sockets. Raises `RLIMIT_NOFILE` itself
//! (the server inherits it).
//!
//! `scripts/ws-bench [--sockets N] [--devices N]`, or
//! `target/release/examples/ws_bench --server-bin target/release/vault-server`
#![allow(clippy::print_stdout)]

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

mod support;
use support::{circle, login};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
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

fn raise_nofile(needed: u64) -> anyhow::Result<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let want = needed.max(hard.min(1 << 20));
    // Root may raise the hard limit too; otherwise take the hard limit.
    if setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: Some(want.max(hard)),
        },
    )
    .is_err()
    {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        )?;
    }
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// A circle of `n` devices; returns a session token for each.
async fn tokens(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let (circle, devices, founder_token) = circle(http, base, n).await?;
    let mut out = vec![founder_token];
    for d in &devices[1..] {
        out.push(login(http, base, circle, d).await?);
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sockets: usize = arg("--sockets").map_or(Ok(10_000), |v| v.parse())?;
    let devices: usize = arg("--devices").map_or(Ok(100), |v| v.parse())?;
    let bin = match arg("--server-bin") {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .context("no target directory")?
            .join("vault-server"),
    };
    let nofile = raise_nofile(2 * sockets as u64 + 1024)?;
    if nofile < sockets as u64 + 256 {
        bail!("RLIMIT_NOFILE is {nofile}: too low for {sockets} sockets");
    }

    let dir = tempfile::tempdir()?;
    let mut child = Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn", "--db"])
        .arg(dir.path().join("ws.db"))
        .env("VAULT_SERVER_REGISTRATION", "open")
        .env("VAULT_SERVER_METRICS_LISTEN", "off")
        .env("VAULT_SERVER_METRICS_PUBLIC", "true")
        .env("VAULT_SERVER_PER_IP_PER_SEC", "0")
        .env("VAULT_SERVER_PER_DEVICE_PER_SEC", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
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
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let tokens = tokens(&http, &base, devices.max(1)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib(child.id())?;

    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let started = Instant::now();
    let open: Vec<_> = stream::iter(0..sockets)
        .map(|i| {
            let token = tokens[i % tokens.len()].clone();
            let url = format!("ws://{addr}/v1/ws");
            async move {
                let mut req = url.into_client_request()?;
                req.headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse()?);
                let (mut ws, _) =
                    tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
                // The hello frame: the socket is served.
                ws.next().await.context("no hello")??;
                anyhow::Ok(ws)
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let open: Vec<_> = open.into_iter().collect::<Result<_, _>>()?;
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = rss_kib(child.id())?;
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vault_websockets_open "))
        .unwrap_or("?")
        .to_owned();

    // Graceful stop with every socket open.
    let stop = Instant::now();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).context("pid")?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    let stop_ms = stop.elapsed().as_millis();
    drop(open);

    println!(
        "{}",
        json!({
            "sockets": sockets,
            "server_rss_mib": (rss as f64 / 1024.0 * 10.0).round() / 10.0,
            "baseline_rss_mib": (baseline as f64 / 1024.0 * 10.0).round() / 10.0,
            "per_socket_kib": ((rss.saturating_sub(baseline)) as f64 / sockets.max(1) as f64 * 100.0).round() / 100.0,
            "metrics_websockets_open": counted,
            "connect_secs": (connect_secs * 100.0).round() / 100.0,
            "graceful_stop_ms": stop_ms,
            "exit_ok": status.success(),
        })
    );
    Ok(())
}
