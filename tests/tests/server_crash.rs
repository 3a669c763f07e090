//! `kill -9` of a real `vault-server` while a member appends to the circle
//! log as fast as it can; after each restart the log the server serves is
//! whole and verifies from the genesis, and no acknowledged entry is lost.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::ServerProc;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vault_core::circle::{CircleState, SignedEntry};
use vault_core::crypto::{DeviceIdentity, VaultRng};
use vault_core::{KdfParams, UnlockedVault, Vault};

/// A blocking client that retries through restarts.
struct Client {
    http: reqwest::blocking::Client,
    url: String,
    token: Option<String>,
}

impl Client {
    fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send()?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().unwrap_or(Value::Null)))
    }

    fn get(&self, path: &str) -> Result<(u16, Value), reqwest::Error> {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send()?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().unwrap_or(Value::Null)))
    }

    fn authenticate(&mut self, vault: &UnlockedVault) -> Result<(), reqwest::Error> {
        let info = vault.circle().unwrap().unwrap();
        let ids =
            json!({ "circle_id": info.circle_id.to_string(), "peer_id": info.me.to_string() });
        let (_, ch) = self.post("/v1/auth/challenge", &ids)?;
        let challenge: [u8; 32] = B64
            .decode(ch["challenge"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let sig = vault.sign_auth(info.circle_id, &challenge);
        let (status, tok) = self.post(
            "/v1/auth/token",
            &json!({
                "circle_id": info.circle_id.to_string(),
                "peer_id": info.me.to_string(),
                "challenge": B64.encode(challenge),
                "signature": B64.encode(sig),
            }),
        )?;
        assert_eq!(status, 200, "{tok}");
        self.token = Some(tok["token"].as_str().unwrap().to_owned());
        Ok(())
    }

    fn log(&self, circle: &str, after: Option<u64>) -> Result<Vec<SignedEntry>, reqwest::Error> {
        let mut out = Vec::new();
        let mut cursor = after;
        loop {
            let path = match cursor {
                Some(a) => format!("/v1/circles/{circle}/log?after={a}"),
                None => format!("/v1/circles/{circle}/log"),
            };
            let (status, page) = self.get(&path)?;
            assert_eq!(status, 200, "{page}");
            for e in page["entries"].as_array().unwrap() {
                let entry = B64.decode(e["entry"].as_str().unwrap()).unwrap();
                let sig = B64.decode(e["signature"].as_str().unwrap()).unwrap();
                out.push(SignedEntry::decode(&entry, &sig).unwrap());
                cursor = e["seq"].as_u64();
            }
            if page["more"] != true {
                return Ok(out);
            }
        }
    }
}

#[test]
fn kill_9_during_appends_leaves_a_whole_verifiable_log() {
    // Hundreds of devices join: no rate limit and no devices quota.
    let mut server = ServerProc::start_with_config(
        "[limits]\nper_ip_per_sec = 0\nper_device_per_sec = 0\n\
         [quotas]\nmax_devices = 0\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut vault = Vault::create(
        dir.path().join("a.vault"),
        "pw",
        KdfParams::insecure_for_tests_only(1000),
    )
    .unwrap();
    let genesis = vault.prepare_genesis("founder").unwrap();
    common::install_tls_provider();
    let mut client = Client {
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        url: server.url.clone(),
        token: None,
    };
    let (status, body) = client
        .post(
            "/v1/circles",
            &json!({
                "entry": B64.encode(genesis.entry_bytes()),
                "signature": B64.encode(genesis.signature()),
            }),
        )
        .unwrap();
    assert_eq!(status, 201, "{body}");
    vault
        .create_circle(&server.url, &Default::default(), &genesis)
        .unwrap();
    let circle = genesis.entry().circle_id.to_string();
    let genesis_hash = genesis.hash();

    // The appender: add-peer entries for fresh identities, one at a time,
    // re-reading the head after any failure (the server may have committed
    // an entry whose answer the kill swallowed).
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let last_acked_seq = Arc::new(Mutex::new(0u64));
    let appender = {
        let (stop, acked, last) = (stop.clone(), acked.clone(), last_acked_seq.clone());
        std::thread::spawn(move || {
            let mut rng = VaultRng::new().unwrap();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let step = (|| -> Result<(), reqwest::Error> {
                    if client.token.is_none() {
                        client.authenticate(&vault)?;
                    }
                    let head = vault.circle().unwrap().unwrap().head;
                    let fresh = client.log(&circle, Some(head.0))?;
                    if !fresh.is_empty() {
                        vault.apply_log(&fresh).unwrap();
                    }
                    let peer = DeviceIdentity::generate(&mut rng).public();
                    n += 1;
                    let entry = vault.prepare_add_peer(&peer, &format!("d{n}")).unwrap();
                    let head = vault.circle().unwrap().unwrap().head;
                    let (status, body) = client.post(
                        &format!("/v1/circles/{circle}/log"),
                        &json!({
                            "prev_hash": B64.encode(head.1.0),
                            "entry": B64.encode(entry.entry_bytes()),
                            "signature": B64.encode(entry.signature()),
                        }),
                    )?;
                    match status {
                        201 => {
                            acked.fetch_add(1, Ordering::Relaxed);
                            *last.lock().unwrap() = body["seq"].as_u64().unwrap();
                        }
                        401 => client.token = None,
                        409 => {}
                        other => panic!("append answered {other}: {body}"),
                    }
                    Ok(())
                })();
                if step.is_err() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            (client, vault)
        })
    };

    // Five SIGKILLs at moments spread over the appends.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(150 + seed % 350);
        let started = Instant::now();
        let before = acked.load(Ordering::Relaxed);
        while started.elapsed() < wait || acked.load(Ordering::Relaxed) == before {
            assert!(started.elapsed() < Duration::from_secs(30), "no appends");
            std::thread::sleep(Duration::from_millis(10));
        }
        server.kill9_and_restart();
    }
    // Let it append after the last restart too.
    let before = acked.load(Ordering::Relaxed);
    let t = Instant::now();
    while acked.load(Ordering::Relaxed) < before + 5 {
        assert!(t.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut client, _vault) = appender.join().unwrap();

    // The whole log verifies from the genesis the device knows, and holds
    // every acknowledged entry.
    client.url = server.url.clone();
    let all = client.log(genesis.entry().circle_id.to_string().as_str(), None);
    let all = match all {
        Ok(a) => a,
        Err(_) => {
            client.token = None;
            panic!("the restarted server does not serve the log")
        }
    };
    let state = CircleState::verify_chain(Some(genesis_hash), &all).unwrap();
    let acked = acked.load(Ordering::Relaxed);
    assert!(acked >= 10, "only {acked} appends were acknowledged");
    assert!(
        all.len() as u64 > acked,
        "{} entries, {acked} acknowledged",
        all.len()
    );
    assert!(state.head().0 >= *last_acked_seq.lock().unwrap());
    let ok: String = server
        .sql()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}
