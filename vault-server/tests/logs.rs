//! The server's log as an operator reads it: with `log_format = "json"`
//! every line is one JSON object, each request's line carries its id (also
//! sent back in `X-Request-Id`), route, status and duration, and no line
//! holds a token or a body.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_vault-server");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_name_each_request_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(["--log-format", "json", "--db"])
        .arg(dir.path().join("l.db"))
        .env_remove("VAULT_SERVER_CONFIG")
        .env("VAULT_SERVER_REGISTRATION", "open")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.trim().to_owned());
            }
            sink.lock().unwrap().push(line);
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let http = common::http();

    let r = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16, "{id}");
    // A token and a body that must not reach the log.
    let secret = "vtok_do-not-log-this-token";
    let body = r#"{"circle_id":"also-not-logged","peer_id":"x"}"#;
    let r = http
        .post(format!("http://{addr}/v1/auth/token"))
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let other = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(other, id);

    // The lines are written when the requests are answered.
    let mut found = None;
    for _ in 0..50 {
        found = lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&other))
            .cloned();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found.is_some(), "no line for request {other}");
    child.kill().unwrap();
    child.wait().unwrap();

    let lines = lines.lock().unwrap();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| !l.starts_with("listening on ") && !l.starts_with("metrics on "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = events
        .iter()
        .find(|e| e["span"]["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no line for request {id}: {lines:?}"));
    assert_eq!(answered["fields"]["message"], "answered", "{answered}");
    assert_eq!(answered["span"]["route"], "/healthz", "{answered}");
    assert_eq!(answered["fields"]["status"], 200, "{answered}");
    assert!(
        answered["fields"]["duration_ms"].as_f64().unwrap() >= 0.0,
        "{answered}"
    );
    let token_line = events
        .iter()
        .find(|e| e["span"]["request_id"] == other.as_str())
        .unwrap();
    assert_eq!(token_line["span"]["route"], "/v1/auth/token");
    assert_eq!(token_line["fields"]["status"], 400);
    for l in lines.iter() {
        assert!(
            !l.contains(secret) && !l.contains("also-not-logged"),
            "a secret in the log: {l}"
        );
    }
}
