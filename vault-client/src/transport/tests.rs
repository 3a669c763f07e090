//! Tests of the HTTP transport against canned servers on 127.0.0.1:
//! statuses mapped to errors, a stop, JSON answers through vault-proto.

#![allow(clippy::unwrap_used)]
use super::*;
use std::io::{Read, Write};

/// A server that answers each connection with the next canned
/// response (status, body) and closes it.
fn canned(responses: Vec<(u16, &'static str)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (status, body) in responses {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).unwrap();
            conn.write_all(body.as_bytes()).unwrap();
        }
    });
    format!("http://{addr}")
}

fn error(code: &str) -> &'static str {
    format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#).leak()
}

#[test]
fn statuses_map_to_transport_errors_and_bytes_are_counted() {
    let url = canned(vec![
        (401, error("unauthorized")),
        (403, error("forbidden")),
        (410, error("token_expired")),
        (503, error("unavailable")),
        (200, "{}"),
    ]);
    let rt = crate::background_runtime().unwrap();
    let server = Server::new(&url, &Default::default()).unwrap();
    // No waiting: a 503 (busy) is given up on at once.
    let mut t = HttpTransport::new(rt.handle().clone(), &server, Uuid::new_v4())
        .with_wait_limit(Duration::ZERO);
    let since = Token::default();
    match t.changes("keychain", since, since.seq, 10) {
        Err(TransportError::Status { status: 401, .. }) => assert!(t.unauthorized()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t.changes("keychain", since, since.seq, 10),
        Err(TransportError::NotMember)
    ));
    assert!(matches!(
        t.changes("keychain", since, since.seq, 10),
        Err(TransportError::TokenExpired)
    ));
    match t.changes("keychain", since, since.seq, 10) {
        Err(TransportError::Throttled {
            status: 503,
            waited_secs: 0,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t.changes("keychain", since, since.seq, 10),
        Err(TransportError::Malformed(_))
    ));
    let total: usize = [
        error("unauthorized"),
        error("forbidden"),
        error("token_expired"),
        error("unavailable"),
        "{}",
    ]
    .iter()
    .map(|b| b.len())
    .sum();
    assert_eq!(
        t.stats(),
        Stats {
            requests: 5,
            bytes_received: total as u64,
            reconnects: 0,
            divergence: false,
        }
    );
    // Nobody listens any more: unreachable, after one more try.
    assert!(matches!(
        t.changes("keychain", since, since.seq, 10),
        Err(TransportError::Unreachable(_))
    ));
    assert_eq!((t.stats().requests, t.stats().reconnects), (7, 1));
    // No buckets, no request.
    assert!(t.buckets("keychain", &[]).unwrap().is_empty());
    assert_eq!(t.stats().requests, 7);
}

#[test]
fn json_answers_decode_with_vault_proto() {
    use vault_core::sync::{Manifest, PushResult};
    let m = ServerManifest {
        token: Token { epoch: 1, seq: 5 },
        root: Manifest::default().root(),
        count: 2,
        buckets: Some(Manifest::default()),
        manifests: Vec::new(),
    };
    let manifest = serde_json::to_string(&ManifestResponse::from(&m)).unwrap();
    let uuid = Uuid::new_v4();
    let push =
        format!(r#"{{"token":"3.17","results":[{{"status":"saved","uuid":"{uuid}","seq":17}}]}}"#);
    let url = canned(vec![
        (200, manifest.leak()),
        (200, r#"{"token":"1.5","count":2}"#),
        (200, push.leak()),
        (200, r#"{"token":"3.17","results":[{"status":"what"}]}"#),
        (200, r#"{"manifests":[]}"#),
        (200, r#"{"counter":4}"#),
        (200, r#"{"counter":5,"divergent":true}"#),
        (200, "not json"),
    ]);
    let rt = crate::background_runtime().unwrap();
    let server = Server::new(&url, &Default::default()).unwrap();
    let mut t = HttpTransport::new(rt.handle().clone(), &server, Uuid::new_v4());
    assert_eq!(t.manifest("keychain", true).unwrap(), m);
    assert!(matches!(
        t.manifest("keychain", false),
        Err(TransportError::Malformed("the manifest answer"))
    ));
    let reply = t.push("keychain", &[]).unwrap();
    assert_eq!(reply.token, Token { epoch: 3, seq: 17 });
    assert_eq!(reply.results, vec![PushResult::Saved { uuid, seq: 17 }]);
    assert!(matches!(
        t.push("keychain", &[]),
        Err(TransportError::Malformed("the push answer"))
    ));
    assert!(t.peer_manifests("keychain").unwrap().is_empty());
    let signed = SignedManifest {
        circle_id: Uuid::new_v4(),
        zone: "keychain".into(),
        signer: vault_core::circle::PeerId::from_bytes([7; 32]),
        counter: 4,
        token: Token { epoch: 1, seq: 4 },
        circle_pos: 0,
        root: [9; 32],
        count: 1,
        signature: [1; 64],
    };
    // An answer without `divergent` (an older server) is no divergence.
    t.put_manifest("keychain", &signed).unwrap();
    assert!(!t.stats().divergence);
    t.put_manifest("keychain", &signed).unwrap();
    assert!(
        t.stats().divergence,
        "the server's flag is kept for the round"
    );
    assert!(matches!(
        t.put_manifest("keychain", &signed),
        Err(TransportError::Malformed("the manifest answer"))
    ));
}

#[test]
fn a_stop_abandons_the_request_in_flight() {
    // Accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let rt = crate::background_runtime().unwrap();
    let server = Server::new(&url, &Default::default()).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let mut t = HttpTransport::new(rt.handle().clone(), &server, Uuid::new_v4()).with_stop(stop_rx);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        stop.send(true).unwrap();
    });
    let started = std::time::Instant::now();
    assert!(matches!(
        t.manifest("keychain", false),
        Err(TransportError::Unreachable(_))
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(listener);
}

#[test]
fn progress_reaches_the_observer_with_bytes_and_an_estimate() {
    // One changes page of 10 bytes (it does not decode; its bytes count).
    let url = canned(vec![(200, "0123456789")]);
    let rt = crate::background_runtime().unwrap();
    let server = Server::new(&url, &Default::default()).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut t = HttpTransport::new(rt.handle().clone(), &server, Uuid::new_v4())
        .with_progress(Box::new(move |p| sink.lock().unwrap().push(p)));
    let since = Token::default();
    assert!(t.changes("keychain", since, since.seq, 10).is_err());
    for (phase, done) in [(Phase::Pull, 0), (Phase::Pull, 1), (Phase::Push, 0)] {
        t.progress(Progress {
            phase,
            done,
            total: 4,
        });
    }
    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        vec![
            // Nothing done yet: no estimate.
            TransferProgress {
                phase: Phase::Pull,
                records_done: 0,
                records_total: 4,
                bytes_done: 10,
                bytes_total: None,
            },
            TransferProgress {
                phase: Phase::Pull,
                records_done: 1,
                records_total: 4,
                bytes_done: 10,
                bytes_total: Some(40),
            },
            // Nothing pushed: the push's own bytes.
            TransferProgress {
                phase: Phase::Push,
                records_done: 0,
                records_total: 4,
                bytes_done: 0,
                bytes_total: None,
            },
        ]
    );
}

#[test]
fn a_policy_refusal_keeps_the_servers_words_and_forbidden_means_not_a_member() {
    let url = canned(vec![
        (
            403,
            r#"{"error":{"code":"quota_exceeded","message":"the circle's records quota is 100\u0007"}}"#,
        ),
        (403, error("forbidden")),
        (403, "not json"),
    ]);
    let rt = crate::background_runtime().unwrap();
    let server = Server::new(&url, &Default::default()).unwrap();
    let mut t = HttpTransport::new(rt.handle().clone(), &server, Uuid::new_v4());
    let since = Token::default();
    match t.changes("keychain", since, since.seq, 10) {
        Err(e @ TransportError::Refused { status: 403, .. }) => assert_eq!(
            e.to_string(),
            "the server refused (quota_exceeded): the circle's records quota is 100"
        ),
        other => panic!("{other:?}"),
    }
    for _ in 0..2 {
        assert!(matches!(
            t.changes("keychain", since, since.seq, 10),
            Err(TransportError::NotMember)
        ));
    }
}
