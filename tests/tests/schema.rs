//! The wire contract, checked against the real server: every route in
//! `schema/openapi.json` is called in-process, every response body is
//! validated against the schema documented for its (path, method, status),
//! and every WebSocket frame against `schema/ws/frame.json`.
#![allow(clippy::unwrap_used)]

#[path = "schema/circle.rs"]
mod circle;
#[path = "schema/contract.rs"]
mod contract;
#[path = "schema/device.rs"]
mod device;
#[path = "schema/zones.rs"]
mod zones;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contract::{Api, Body, Contract, assert_error, b64};
use serde_json::json;
use uuid::Uuid;
use vault_core::circle::EntryHash;
use vault_core::crypto::VaultRng;

async fn health_and_metrics(api: &Api<'_>) {
    assert_eq!(api.get_ok("/healthz", None).await, json!({"status": "ok"}));
    let m = api.get("/metrics", None).await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(m.body.is_string(), "metrics are text");
}

/// A request target over 8 KiB is 414, a head over 32 KiB (or 100 lines)
/// 431, a body that stalls past `body_timeout_secs` 408: each with the
/// JSON envelope.
async fn oversized_and_slow_requests(api: &Api<'_>) {
    let long = format!("GET /healthz?pad={} HTTP/1.1", "a".repeat(9 * 1024));
    let r = api.raw("GET", "/healthz", &long, b"").await;
    assert_error(&r, 414, "uri_too_long", "a 9 KiB request target");
    let big = format!("GET /healthz HTTP/1.1\r\nX-Pad: {}", "b".repeat(40 * 1024));
    let r = api.raw("GET", "/healthz", &big, b"").await;
    assert_error(&r, 431, "headers_too_large", "a 40 KiB header");
    let many: String = (0..120).map(|i| format!("\r\nX-H{i}: v")).collect();
    let r = api
        .raw(
            "POST",
            "/v1/circles",
            &format!("POST /v1/circles HTTP/1.1{many}"),
            b"",
        )
        .await;
    assert_error(&r, 431, "headers_too_large", "120 header lines");
    // Ten bytes of a hundred, then nothing: 408 after the body timeout.
    let head = "POST /v1/circles HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100";
    let r = api.raw("POST", "/v1/circles", head, b"{\"entry\": ").await;
    assert_error(&r, 408, "request_timeout", "a body that stalls");
}

/// Garbage in, a documented 4xx JSON error out, on routes that need no state.
async fn malformed_requests(api: &Api<'_>) {
    let json = "application/json";
    let r = api
        .call(
            "POST",
            "/v1/circles",
            None,
            Body::Raw(json, b"{\"entry\":".to_vec()),
        )
        .await;
    assert_error(&r, 400, "bad_json", "truncated JSON");
    let r = api
        .call(
            "POST",
            "/v1/circles",
            None,
            Body::Raw(json, b"[1,2]".to_vec()),
        )
        .await;
    assert_error(&r, 400, "bad_json", "an array, not an object");
    let r = api
        .call(
            "POST",
            "/v1/auth/challenge",
            None,
            Body::Raw(json, br#"{"circle_id":"x"}"#.to_vec()),
        )
        .await;
    assert_error(&r, 400, "bad_json", "missing peer_id");
    let r = api
        .call(
            "POST",
            "/v1/circles",
            None,
            Body::Raw(json, br#"{"entry":7,"signature":"AA"}"#.to_vec()),
        )
        .await;
    assert_error(&r, 400, "bad_json", "a number for a string");
    let bad = json!({"entry": "not base64!", "signature": "AA"});
    let r = api
        .call(
            "POST",
            "/v1/circles",
            None,
            Body::Raw(json, bad.to_string().into_bytes()),
        )
        .await;
    assert_error(&r, 400, "invalid", "bad base64");
    let r = api
        .call(
            "POST",
            "/v1/circles",
            None,
            Body::Raw(json, br#"{"entry":"AQID","signature":"AA"}"#.to_vec()),
        )
        .await;
    assert_error(&r, 400, "invalid", "an undecodable entry");
    let r = api
        .call(
            "POST",
            "/v1/circles",
            None,
            Body::Raw(
                "text/plain",
                br#"{"entry":"AQID","signature":"AA"}"#.to_vec(),
            ),
        )
        .await;
    assert_error(&r, 415, "unsupported_media_type", "text/plain body");
    let big = format!(
        r#"{{"entry":"{}","signature":"AA"}}"#,
        "A".repeat(70 * 1024)
    );
    let r = api
        .call(
            "POST",
            "/v1/circles",
            None,
            Body::Raw(json, big.into_bytes()),
        )
        .await;
    assert_error(&r, 413, "too_large", "70 KiB body");

    for path in ["/", "/v1", "/v1/nope", "/v1/circles/x/y/z", "/healthz/more"] {
        let r = api.get(path, None).await;
        assert_error(&r, 404, "not_found", path);
    }
    let c = Uuid::new_v4();
    for (method, path) in [
        ("DELETE", "/v1/circles".to_owned()),
        ("GET", "/v1/circles".to_owned()),
        ("POST", "/healthz".to_owned()),
        ("PUT", format!("/v1/circles/{c}/log")),
        ("GET", "/v1/auth/token".to_owned()),
        ("POST", "/v1/ws".to_owned()),
    ] {
        let r = api.call(method, &path, None, Body::None).await;
        assert_error(&r, 405, "method_not_allowed", &format!("{method} {path}"));
    }
}

/// A server with a low per-IP limit answers 429 with Retry-After (on any
/// route but `/healthz`, which is never limited).
async fn rate_limited(api: &Api<'_>) {
    for _ in 0..50 {
        assert_eq!(api.get("/healthz", None).await.status, 200);
        let r = api.get("/metrics", None).await;
        if r.status == 429 {
            assert_error(&r, 429, "rate_limited", "over the per-IP rate");
            assert!(
                r.headers.contains_key("retry-after"),
                "429 without Retry-After"
            );
            return;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    panic!("50 requests at once never hit a limit of 2 per second");
}

/// An in-process server on 127.0.0.1:0 with its own database; rate limits
/// off unless `tune` sets them.
struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), vault_server::ServeError>>,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn start(tune: impl FnOnce(&mut vault_server::Config)) -> (String, Server) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = vault_server::Config {
        db: dir.path().join("server.db").into(),
        ..vault_server::Config::default()
    };
    config.registration = vault_server::Registration::Open;
    config.metrics_public = true;
    config.limits.per_ip_per_sec = 0;
    config.limits.per_device_per_sec = 0;
    tune(&mut config);
    let state = vault_server::AppState::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(vault_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let server = Server {
        stop,
        task,
        db: config.db.sqlite_path().unwrap().to_owned(),
        _dir: dir,
    };
    (base, server)
}

/// `registration = "token"`: a genesis without a token, or with one the
/// server does not know, is 403 `registration_refused`; one issued by the
/// admin command's storage registers the circle once.
async fn registration_policy(api: &Api<'_>, server: &Server, rng: &mut VaultRng) {
    let d = device::Device::new(rng);
    let circle = Uuid::new_v4();
    let genesis = d.sign(
        circle,
        0,
        EntryHash::ZERO,
        vault_core::circle::EntryBody::Genesis {
            founder: d.id.public(),
            name: device::name(),
            epochs: vec![device::commit(1)],
        },
    );
    let r = api.post("/v1/circles", None, device::wire(&genesis)).await;
    assert_error(&r, 403, "registration_refused", "a genesis without a token");
    let mut body = device::wire(&genesis);
    body["registration_token"] = json!("vreg_unknown");
    let r = api.post("/v1/circles", None, body.clone()).await;
    assert_error(
        &r,
        403,
        "registration_refused",
        "a token the server never issued",
    );
    let token = "vreg_contract-test-token";
    let hash = vault_server::extract::token_hash(token.as_bytes());
    use vault_server::storage::AdminStore;
    let mut admin = vault_server::storage::AdminDb::open(&server.db).unwrap();
    admin.create_token(&hash, None, 1, None).unwrap();
    body["registration_token"] = json!(token);
    api.post_ok("/v1/circles", None, body.clone(), 201).await;
    let mut again = device::wire(&d.sign(
        Uuid::new_v4(),
        0,
        EntryHash::ZERO,
        vault_core::circle::EntryBody::Genesis {
            founder: d.id.public(),
            name: device::name(),
            epochs: vec![device::commit(1)],
        },
    ));
    again["registration_token"] = json!(token);
    let r = api.post("/v1/circles", None, again).await;
    assert_error(&r, 403, "registration_refused", "a used token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_documented() {
    let contract = Contract::load();
    let mut rng = VaultRng::new().unwrap();

    let (base, server) = start(|_| {}).await;
    let api = Api {
        c: &contract,
        base,
        http: http(),
    };
    health_and_metrics(&api).await;
    malformed_requests(&api).await;
    let founded = circle::circle_log_and_push(&api, &mut rng).await;
    circle::pairing_relay(&api, &founded).await;
    zones::sync_zones(&api, &mut rng).await;
    server.stop().await;

    let (base, server) = start(|c| {
        c.limits.per_ip_per_sec = 1;
        c.limits.per_ip_burst = 2;
    })
    .await;
    rate_limited(&Api {
        c: &contract,
        base,
        http: http(),
    })
    .await;
    server.stop().await;

    let (base, server) = start(|c| {
        c.quotas.max_devices = 1;
        c.quotas.max_records = 1;
        c.limits.body_timeout_secs = 1;
    })
    .await;
    let api = Api {
        c: &contract,
        base,
        http: http(),
    };
    zones::quotas(&api, &mut rng).await;
    oversized_and_slow_requests(&api).await;
    server.stop().await;

    let (base, server) = start(|c| c.registration = vault_server::Registration::Token).await;
    registration_policy(
        &Api {
            c: &contract,
            base,
            http: http(),
        },
        &server,
        &mut rng,
    )
    .await;
    server.stop().await;

    eprintln!("answers seen:\n{}", contract.coverage());
    let failures = contract.failures.lock().unwrap();
    let unexercised = contract.unexercised();
    assert!(
        failures.is_empty() && unexercised.is_empty(),
        "the server breaks the contract in {} ways:\n{}\n\noperations never exercised: {unexercised:?}",
        failures.len(),
        failures.join("\n"),
    );
}

/// The schemas are strict: each refuses what PROTOCOL.md rules out, so a
/// server that drifts fails the test above.
#[test]
fn the_schemas_refuse_what_the_protocol_rules_out() {
    let c = Contract::load();
    let log = "/v1/circles/{circle_id}/log";
    let conflict = json!({"error": {"code": "conflict", "message": "the head moved"}});
    assert_eq!(
        c.body_errors("post", log, 409, &conflict),
        Vec::<String>::new()
    );
    for bad in [
        json!({"error": {"code": "gone", "message": "another status's code"}}),
        json!({"error": {"code": "teapot", "message": "an unknown code"}}),
        json!({"error": {"code": "conflict"}}),
        json!({"error": {"code": "conflict", "message": "x", "detail": 1}}),
        json!({"error": {"code": "conflict", "message": "x"}, "more": 1}),
        json!({"code": "conflict", "message": "x"}),
    ] {
        assert!(
            !c.body_errors("post", log, 409, &bad).is_empty(),
            "accepted {bad}"
        );
    }
    let not_found = json!({"error": {"code": "not_found", "message": "no such route"}});
    assert!(
        c.body_errors("get", contract::UNMATCHED, 404, &not_found)
            .is_empty()
    );

    let hash = b64(&[0xfb; 32]);
    let ok = json!({"seq": 1, "hash": hash});
    assert_eq!(c.body_errors("post", log, 201, &ok), Vec::<String>::new());
    for bad in [
        json!({"seq": -1, "hash": hash}),
        json!({"seq": "1", "hash": hash}),
        json!({"seq": 1, "hash": format!("{hash}=")}),
        json!({"seq": 1, "hash": URL_SAFE_NO_PAD.encode([0xfb; 31])}),
        json!({"seq": 1, "hash": base64::engine::general_purpose::STANDARD_NO_PAD.encode([0xfb; 32])}),
        json!({"seq": 1, "hash": EntryHash([0xfb; 32]).to_string()}),
        json!({"seq": 1}),
        json!({"seq": 1, "hash": hash, "extra": true}),
    ] {
        assert!(
            !c.body_errors("post", log, 201, &bad).is_empty(),
            "accepted {bad}"
        );
    }

    let circle = Uuid::new_v4();
    let peer = "ab".repeat(32);
    let hello = json!({"type": "hello", "circle_id": circle.to_string(), "peer_id": peer});
    assert!(c.frame_is_valid(&hello));
    for ok in [
        json!({"type": "ping"}),
        json!({"type": "pong"}),
        json!({"type": "shares"}),
        json!({"type": "circle", "head_seq": 0}),
        json!({"type": "zone", "zone": "keychain", "seq": 7}),
    ] {
        assert!(c.frame_is_valid(&ok), "refused {ok}");
    }
    for bad in [
        json!({"type": "hello", "circle_id": circle.simple().to_string(), "peer_id": peer}),
        json!({"type": "hello", "circle_id": circle.to_string(), "peer_id": peer.to_uppercase()}),
        json!({"type": "hello", "circle_id": circle.to_string()}),
        json!({"type": "circle"}),
        json!({"type": "circle", "head_seq": -1}),
        json!({"type": "pong", "data": "x"}),
        json!({"type": "zone", "zone": "Keychain", "seq": 7}),
        json!({"type": "zone", "zone": "keychain"}),
        json!({"type": "zone", "zone": "keychain", "seq": -1}),
        json!({"type": "welcome"}),
        json!({"kind": "ping"}),
        json!("ping"),
    ] {
        assert!(!c.frame_is_valid(&bad), "accepted {bad}");
    }

    let push = "/v1/circles/{circle_id}/zones/{zone}/records";
    let u = Uuid::new_v4().to_string();
    let ok = json!({"token": "1.9", "results": [
        {"uuid": u, "status": "saved", "seq": 9},
        {"uuid": u, "status": "conflict", "current": "AQID"},
        {"uuid": u, "status": "conflict", "current": null},
    ]});
    assert_eq!(c.body_errors("post", push, 200, &ok), Vec::<String>::new());
    for bad in [
        json!({"token": "1", "results": []}),
        json!({"token": "1.9"}),
        json!({"token": "1.9", "results": [{"uuid": u, "status": "saved"}]}),
        json!({"token": "1.9", "results": [{"uuid": u, "status": "saved", "seq": 0}]}),
        json!({"token": "1.9", "results": [{"uuid": u, "status": "conflict"}]}),
        json!({"token": "1.9", "results": [{"uuid": u, "status": "lost", "seq": 1}]}),
        json!({"token": "1.9", "results": [{"uuid": Uuid::new_v4().simple().to_string(), "status": "saved", "seq": 1}]}),
    ] {
        assert!(
            !c.body_errors("post", push, 200, &bad).is_empty(),
            "accepted {bad}"
        );
    }
    let changes = "/v1/circles/{circle_id}/zones/{zone}/changes";
    let expired = json!({"error": {"code": "token_expired", "message": "resync"}});
    assert!(c.body_errors("get", changes, 410, &expired).is_empty());
    let gone = json!({"error": {"code": "gone", "message": "resync"}});
    assert!(!c.body_errors("get", changes, 410, &gone).is_empty());
}

/// An HTTP client. reqwest is built with TLS in this workspace
/// (vault-client's `rustls-no-provider`), and without a provider of its
/// own it needs the process default: *ring*, as the server's.
fn http() -> reqwest::Client {
    #[allow(deprecated, reason = "ring, as the server")]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
