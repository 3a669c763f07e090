//! What an admin relies on: health, metrics (and their private listener),
//! rate limits, config precedence, online backups, and the binary's start
//! and graceful stop (housekeeping and connection limits have files of
//! their own).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::{Child, Command};
use std::time::Duration;
use vault_server::Config;

const BIN: &str = env!("CARGO_BIN_EXE_vault-server");

#[tokio::test]
async fn health_and_metrics() {
    let s = Server::start().await;
    let r = s.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"status": "ok"}));
    let founder = Device::new();
    let (circle, _) = create_circle(&s, &founder).await;
    login(&s, &founder, circle).await;
    s.get("/nowhere", None).await;
    let r = s.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text;
    for line in [
        r#"vault_http_requests_total{route="/healthz",method="GET",status="200"} 1"#,
        r#"vault_http_requests_total{route="/v1/circles",method="POST",status="201"} 1"#,
        r#"vault_http_requests_total{route="/v1/auth/token",method="POST",status="200"} 1"#,
        r#"vault_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
        "vault_websockets_open 0",
        "vault_circles 1",
        "vault_devices 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains(&circle.to_string()),
        "ids stay out of metrics"
    );
}

#[tokio::test]
async fn a_flooding_ip_gets_429_while_another_ip_is_served() {
    let s = Server::with(|c| {
        c.limits.per_ip_per_sec = 1;
        c.limits.per_ip_burst = 5;
    })
    .await;
    let mut limited = None;
    for _ in 0..20 {
        let r = s.get("/v1/nowhere", None).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 within 20 requests");
    r.assert_error(429, "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    // The health check stays out of the limiter, even from that address.
    for _ in 0..20 {
        assert_eq!(s.get("/healthz", None).await.status, StatusCode::OK);
    }
    install_tls_provider();
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = other
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_flooding_device_gets_429_while_another_device_is_served() {
    let s = Server::with(|c| {
        c.limits.per_device_per_sec = 1;
        c.limits.per_device_burst = 3;
    })
    .await;
    let (founder, phone) = (Device::new(), Device::new());
    let (circle, genesis) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    add_peer(&s, &token, circle, &founder, &genesis, &phone).await;
    let phone_token = login(&s, &phone, circle).await;
    let path = format!("/v1/circles/{circle}/log");
    let flood = futures_util::future::join_all((0..20).map(|_| s.get(&path, Some(&token)))).await;
    let limited: Vec<_> = flood
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(limited.len() >= 15, "{} limited", limited.len());
    limited[0].assert_error(429, "rate_limited");
    assert!(limited[0].headers.contains_key("retry-after"));
    assert_eq!(
        s.get(&path, Some(&phone_token)).await.status,
        StatusCode::OK
    );
}

fn config_of(args: &[&str], env: &[(&str, &str)]) -> Config {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("config");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VAULT_SERVER_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    Config::from_toml(&text, std::path::Path::new("stdout")).unwrap()
}

#[test]
fn config_precedence_is_file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1111\"\ndb = \"file.db\"\ninvite_ttl_secs = 60\n",
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();

    let c = config_of(&[], &[]);
    assert_eq!(c, Config::default());
    let c = config_of(&["--config", file_arg], &[]);
    assert_eq!(c.listen.port(), 1111);
    assert_eq!(c.db.to_string(), "file.db");
    assert_eq!(c.invite_ttl_secs, 60);
    let env = [
        ("VAULT_SERVER_CONFIG", file_arg),
        ("VAULT_SERVER_LISTEN", "127.0.0.1:2222"),
        ("VAULT_SERVER_DB", "env.db"),
    ];
    let c = config_of(&[], &env);
    assert_eq!(c.listen.port(), 2222);
    assert_eq!(c.db.to_string(), "env.db");
    assert_eq!(c.invite_ttl_secs, 60, "the file still applies");
    let c = config_of(&["--listen", "127.0.0.1:3333", "--db", "flag.db"], &env);
    assert_eq!(c.listen.port(), 3333);
    assert_eq!(c.db.to_string(), "flag.db");

    std::fs::write(&file, "listen_on = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", file_arg, "config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen_on"), "{err}");
}

/// Starts the binary; returns it and the address it printed.
fn spawn_server(db: &std::path::Path) -> (Child, String) {
    spawn_binary(
        BIN,
        &[
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
            "--log-level",
            "warn",
            "--registration",
            "open",
        ],
    )
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the server did not stop within 5 s of SIGTERM");
}

#[tokio::test]
async fn the_binary_serves_backs_up_while_serving_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let (mut child, addr) = spawn_server(&db);
    let http = http();
    let r = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Some rows, then a backup while the server runs.
    let founder = Device::new();
    let genesis = founder.genesis(uuid::Uuid::new_v4());
    let r = http
        .post(format!("http://{addr}/v1/circles"))
        .json(&entry_json(&genesis))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let copy = dir.path().join("copy.db");
    let out = Command::new(BIN)
        .args(["--db", db.to_str().unwrap(), "backup", "--output"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Command::new(BIN)
        .args(["--db", db.to_str().unwrap(), "backup", "--output"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );
    let r = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "still serving after the backup");

    assert!(terminate(&mut child).success());
    let rows = |path: &std::path::Path| {
        let c = rusqlite::Connection::open(path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM circle_entries", [], |r| r.get(0))
            .unwrap();
        let hash: Vec<u8> = c
            .query_row("SELECT head_hash FROM circles", [], |r| r.get(0))
            .unwrap();
        (n, hash)
    };
    assert_eq!(rows(&copy), (1, genesis.hash().0.to_vec()));
    assert_eq!(rows(&copy), rows(&db));
    vault_server::SqliteStorage::open(&copy).unwrap();
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_server(&dir.path().join("s.db"));
    let http = http();
    let founder = Device::new();
    let circle = uuid::Uuid::new_v4();
    let r = http
        .post(format!("http://{addr}/v1/circles"))
        .json(&entry_json(&founder.genesis(circle)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Log in, make an invite and start a long poll, then SIGTERM.
    let base = format!("http://{addr}");
    let challenge: serde_json::Value = http
        .post(format!("{base}/v1/auth/challenge"))
        .json(&json!({"circle_id": circle.to_string(), "peer_id": founder.peer_hex()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c: [u8; 32] = unb64(challenge["challenge"].as_str().unwrap())
        .try_into()
        .unwrap();
    let token: serde_json::Value = http
        .post(format!("{base}/v1/auth/token"))
        .json(&json!({
            "circle_id": circle.to_string(),
            "peer_id": founder.peer_hex(),
            "challenge": b64(&c),
            "signature": b64(&vault_core::circle::sign_auth(&founder.identity, circle, &c)),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let invite = "00112233445566778899aabbccddeeff";
    let r = http
        .post(format!("{base}/v1/circles/{circle}/invites"))
        .bearer_auth(&token)
        .json(&json!({"invite_id": invite}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let poll = tokio::spawn({
        let http = http.clone();
        let url = format!("{base}/v1/invites/{invite}/messages?wait=30");
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || terminate(&mut child))
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let (code, body) = poll.await.unwrap();
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body, r#"{"messages":[]}"#);
}

#[test]
fn server_migrations_validate() {
    vault_server::storage::migrations().validate().unwrap();
}

/// A request (to no route: `/healthz` is never limited) with an
/// `X-Forwarded-For` until a 429 (at most 20 requests): whether one came.
async fn flood(s: &Server, forwarded_for: &str) -> bool {
    let http = http();
    for _ in 0..20 {
        let r = http
            .get(format!("{}/v1/nowhere", s.url))
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let limits = |c: &mut Config| {
        c.limits.per_ip_per_sec = 1;
        c.limits.per_ip_burst = 3;
    };
    let behind = Server::with(|c| {
        limits(c);
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    assert!(flood(&behind, "198.51.100.1").await);
    // Another client behind the same proxy is served from its own bucket.
    let r = http()
        .get(format!("{}/v1/nowhere", behind.url))
        .header("x-forwarded-for", "198.51.100.2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "served, not limited");

    // From a peer that is not a trusted proxy, the header counts for nothing.
    let direct = Server::with(limits).await;
    assert!(flood(&direct, "198.51.100.1").await);
    let r = http()
        .get(format!("{}/v1/nowhere", direct.url))
        .header("x-forwarded-for", "198.51.100.2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_not_on_the_public_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    // The defaults but for the metrics port (0: any free one).
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()])
        .args(["--metrics-listen", "127.0.0.1:0", "--registration", "open"])
        .env_remove("VAULT_SERVER_CONFIG")
        .env_remove("VAULT_SERVER_METRICS_PUBLIC");
    let (mut child, public, before) = spawn_command(cmd);
    let private = before
        .iter()
        .find_map(|l| l.split("metrics on ").nth(1))
        .map(|a| a.trim().to_owned())
        .expect("a 'metrics on' line before 'listening on'");
    let http = http();
    let r = Reply::from(
        http.get(format!("http://{public}/metrics"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(404, "not_found");
    // A refused registration, counted on the private listener.
    let r = http
        .post(format!("http://{public}/v1/circles"))
        .json(&json!({"entry": "AA", "signature": "AA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .get(format!("http://{private}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("vault_http_requests_total"), "{text}");
    assert!(
        text.contains("vault_registration_refusals_total 0"),
        "{text}"
    );
    // Only /metrics there.
    let r = http
        .get(format!("http://{private}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(terminate(&mut child).success());
}
