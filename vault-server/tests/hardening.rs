//! Connection hardening: idle and half-open connections from one address
//! are cut within the header timeout (and those past the address's cap
//! refused at accept, counted in a metric) while a client elsewhere keeps
//! being answered promptly; the global cap refuses the connection past it;
//! unknown methods do not grow `/metrics`; the open-file limit is raised.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_vault-server");

/// Reads until the server closes the stream; false if it is still open
/// at `deadline`.
async fn closed_by(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// The value of one sample line of `/metrics`.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_open_connections_are_cut_while_another_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--db"])
        .arg(dir.path().join("h.db"))
        .env_remove("VAULT_SERVER_CONFIG")
        .env("VAULT_SERVER_METRICS_PUBLIC", "true")
        .env("VAULT_SERVER_HEADER_TIMEOUT_SECS", "3")
        .env("VAULT_SERVER_IDLE_TIMEOUT_SECS", "3")
        .env("VAULT_SERVER_MAX_CONNECTIONS_PER_IP", "100");
    let (mut child, addr, _) = spawn_command(cmd);
    let addr: SocketAddr = addr.parse().unwrap();

    // 300 connections from 127.0.0.2: half say nothing, half send half a
    // request head and stall.
    let started = Instant::now();
    let mut held = Vec::new();
    for i in 0..300 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        held.push(s);
    }

    // Meanwhile a client from 127.0.0.1 is answered promptly.
    let client = http();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let r = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        slowest = slowest.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        slowest < Duration::from_millis(100),
        "slowest answer {slowest:?}"
    );

    // Every one is closed within the timeout (and a second of slack).
    let deadline = started + Duration::from_secs(4);
    for (i, s) in held.iter_mut().enumerate() {
        assert!(closed_by(s, deadline).await, "connection {i} still open");
    }

    // The 200 past the address's cap were refused at accept.
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(
            &metrics,
            "vault_connections_refused_total{reason=\"per_ip\"}"
        ),
        Some(200.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "vault_connections_open").unwrap() <= 2.0,
        "{metrics}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_past_the_global_cap_is_closed_at_accept() {
    let s = Server::with(|c| c.limits.max_connections = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // Let the server accept them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(s.addr).await.unwrap();
    let soon = Instant::now() + Duration::from_secs(2);
    assert!(closed_by(&mut fourth, soon).await, "the fourth stayed open");
    // One closes: there is room again.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut next = TcpStream::connect(s.addr).await.unwrap();
    next.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    next.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        sample(&text, "vault_connections_refused_total{reason=\"global\"}"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_methods_do_not_grow_the_metrics() {
    let s = Server::start().await;
    // Normal traffic first: the routes' latency histograms exist.
    s.get("/healthz", None).await;
    s.get("/metrics", None).await;
    let before = s.get("/metrics", None).await.text.len();
    for i in 0..1000 {
        let method =
            reqwest::Method::from_bytes(format!("M{i:04}{}", "X".repeat(200)).as_bytes()).unwrap();
        s.call(method, "/healthz", None, None).await;
    }
    let after = s.get("/metrics", None).await.text;
    assert!(
        after.len() < before + 1024,
        "/metrics grew from {before} to {} bytes",
        after.len()
    );
    assert!(after.contains("method=\"other\""), "{after}");
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    // A low soft limit, as some shells and service managers set.
    let script = format!(
        "ulimit -Sn 256 && exec {BIN} --listen 127.0.0.1:0 --metrics-listen off --db {}",
        db.display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]).env_remove("VAULT_SERVER_CONFIG");
    let (mut child, _addr, _) = spawn_command(cmd);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums[0], nums[1], "soft = hard: {line}");
    // The hard limit is this test's own (the shell lowered only the soft one).
    let own = std::fs::read_to_string("/proc/self/limits").unwrap();
    let own = own
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(own.split_whitespace().nth(4), Some(nums[1]), "{own}");
    let _ = child.kill();
    let _ = child.wait();
}
