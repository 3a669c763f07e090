//! Every row of PROTOCOL.md's error table, through a real server: the
//! documented status and `{"error":{"code","message"}}`, and the server
//! keeps serving afterwards.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;
use vault_core::sync::Token;
use vault_server::storage::quota::Usage;
use vault_server::storage::*;
use vault_server::{AppState, Config, serve};

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let s = Server::start().await;
    s.get("/nope", None).await.assert_error(404, "not_found");
    s.get("/v1/circles/x/nothing", None)
        .await
        .assert_error(404, "not_found");
    s.post("/v1/healthz", None, json!({}))
        .await
        .assert_error(404, "not_found");
    s.get("/v1/circles", None)
        .await
        .assert_error(405, "method_not_allowed");
    let r = s.call(Method::DELETE, "/healthz", None, None).await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "GET,HEAD");
    s.call(Method::PUT, "/v1/auth/token", None, None)
        .await
        .assert_error(405, "method_not_allowed");
    s.call(Method::DELETE, "/v1/circles/x/log", None, None)
        .await
        .assert_error(405, "method_not_allowed");
}

async fn raw(s: &Server, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    let mut req = s.http.post(format!("{}{path}", s.url)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    Reply::from(req.send().await.unwrap()).await
}

#[tokio::test]
async fn bodies_that_are_not_the_documented_json_are_400_bad_json() {
    let s = Server::start().await;
    let json_ct = Some("application/json");
    for body in [
        &b"{not json"[..],
        b"",
        b"[]",
        b"\"entry\"",
        br#"{"entry": 5, "signature": "AA"}"#,
        br#"{"entry": "AA"}"#,
        br#"{"entry": null, "signature": "AA"}"#,
    ] {
        raw(&s, "/v1/circles", json_ct, body.to_vec())
            .await
            .assert_error(400, "bad_json");
    }
    raw(
        &s,
        "/v1/auth/challenge",
        json_ct,
        br#"{"circle_id": 1}"#.to_vec(),
    )
    .await
    .assert_error(400, "bad_json");
}

#[tokio::test]
async fn wrong_values_are_400_invalid() {
    let s = Server::start().await;
    let d = Device::new();
    let circle = Uuid::new_v4();
    let g = d.genesis(circle);
    // Not base64url, padded, standard alphabet.
    for entry in ["***", "AAA=", "+/+/"] {
        s.post(
            "/v1/circles",
            None,
            json!({"entry": entry, "signature": b64(g.signature())}),
        )
        .await
        .assert_error(400, "invalid");
    }
    // Undecodable entries: truncated, trailing bytes, garbage.
    let bytes = g.entry_bytes();
    for entry in [&bytes[..bytes.len() - 1], &[bytes, b"x"].concat(), b"hello"] {
        s.post(
            "/v1/circles",
            None,
            json!({"entry": b64(entry), "signature": b64(g.signature())}),
        )
        .await
        .assert_error(400, "invalid");
    }
    // A bad signature, a short one, another device's.
    let mut sig = *g.signature();
    sig[0] ^= 1;
    for signature in [
        b64(&sig),
        b64(&sig[..63]),
        b64(Device::new().genesis(circle).signature()),
    ] {
        s.post(
            "/v1/circles",
            None,
            json!({"entry": b64(bytes), "signature": signature}),
        )
        .await
        .assert_error(400, "invalid");
    }
    // A non-genesis entry as a genesis.
    let not_genesis = d.sign(
        circle,
        1,
        g.hash(),
        vault_core::circle::EntryBody::NewEpoch(commit(2)),
    );
    s.post("/v1/circles", None, entry_json(&not_genesis))
        .await
        .assert_error(400, "invalid");
    // Ids of the wrong form.
    s.post(
        "/v1/auth/challenge",
        None,
        json!({"circle_id": "nope", "peer_id": d.peer_hex()}),
    )
    .await
    .assert_error(400, "invalid");
    s.post(
        "/v1/auth/challenge",
        None,
        json!({"circle_id": circle.to_string(), "peer_id": "abc"}),
    )
    .await
    .assert_error(400, "invalid");
    // Nothing was stored; the server still serves.
    s.post("/v1/circles", None, entry_json(&g)).await;
    assert_eq!(s.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let s = Server::start().await;
    let body = br#"{"circle_id": "x", "peer_id": "y"}"#.to_vec();
    raw(&s, "/v1/auth/challenge", None, body.clone())
        .await
        .assert_error(415, "unsupported_media_type");
    raw(&s, "/v1/auth/challenge", Some("text/plain"), body)
        .await
        .assert_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn an_oversized_body_is_413_and_the_limit_is_configurable() {
    let s = Server::start().await;
    let big = format!(
        r#"{{"entry": "{}", "signature": "AA"}}"#,
        "A".repeat(70_000)
    );
    raw(
        &s,
        "/v1/circles",
        Some("application/json"),
        big.into_bytes(),
    )
    .await
    .assert_error(413, "too_large");
    // Without a length header (chunked), too.
    let chunks =
        futures_util::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let r = s
        .http
        .post(format!("{}/v1/circles", s.url))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    Reply::from(r).await.assert_error(413, "too_large");

    let small = Server::with(|c| c.limits.max_body_bytes = 2048).await;
    let body = format!(r#"{{"entry": "{}", "signature": "AA"}}"#, "A".repeat(3000));
    raw(
        &small,
        "/v1/circles",
        Some("application/json"),
        body.into_bytes(),
    )
    .await
    .assert_error(413, "too_large");
}

#[tokio::test]
async fn tokens_missing_forged_or_expired_are_401() {
    let s = Server::with(|c| c.token_ttl_secs = 1).await;
    let d = Device::new();
    let (circle, _) = create_circle(&s, &d).await;
    let path = format!("/v1/circles/{circle}/log");
    s.get(&path, None).await.assert_error(401, "unauthorized");
    s.get(&path, Some("not base64!"))
        .await
        .assert_error(401, "unauthorized");
    s.get(&path, Some(&b64(&[7; 31])))
        .await
        .assert_error(401, "unauthorized");
    s.get(&path, Some(&b64(&[7; 32])))
        .await
        .assert_error(401, "unauthorized");
    let r = Reply::from(
        s.http
            .get(format!("{}{path}", s.url))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "unauthorized");
    let token = login(&s, &d, circle).await;
    assert_eq!(s.get(&path, Some(&token)).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    s.get(&path, Some(&token))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn challenges_are_single_use_and_signatures_checked() {
    let s = Server::start().await;
    let d = Device::new();
    let (circle, _) = create_circle(&s, &d).await;
    let r = s
        .post(
            "/v1/auth/challenge",
            None,
            json!({"circle_id": circle.to_string(), "peer_id": d.peer_hex()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["expires_in"], 60);
    let challenge: [u8; 32] = unb64(v["challenge"].as_str().unwrap()).try_into().unwrap();
    let token_req = |signature: [u8; 64]| {
        json!({
            "circle_id": circle.to_string(),
            "peer_id": d.peer_hex(),
            "challenge": b64(&challenge),
            "signature": b64(&signature),
        })
    };
    let good = vault_core::circle::sign_auth(&d.identity, circle, &challenge);
    let mut bad = good;
    bad[10] ^= 1;
    s.post("/v1/auth/token", None, token_req(bad))
        .await
        .assert_error(401, "unauthorized");
    // The failed attempt used the challenge up.
    s.post("/v1/auth/token", None, token_req(good))
        .await
        .assert_error(401, "unauthorized");
    // An unknown challenge.
    s.post(
        "/v1/auth/token",
        None,
        json!({
            "circle_id": circle.to_string(),
            "peer_id": d.peer_hex(),
            "challenge": b64(&[1; 32]),
            "signature": b64(&vault_core::circle::sign_auth(&d.identity, circle, &[1; 32])),
        }),
    )
    .await
    .assert_error(401, "unauthorized");
    let token = login(&s, &d, circle).await;
    assert_eq!(unb64(&token).len(), 32);
}

#[tokio::test]
async fn strangers_and_other_circles_are_403_unknown_circles_404() {
    let s = Server::start().await;
    let (a, b, stranger) = (Device::new(), Device::new(), Device::new());
    let (circle_a, genesis_a) = create_circle(&s, &a).await;
    let (circle_b, _) = create_circle(&s, &b).await;
    let token_a = login(&s, &a, circle_a).await;
    for path in [
        format!("/v1/circles/{circle_b}/log"),
        format!("/v1/circles/{circle_b}/shares"),
        format!("/v1/circles/{}/log", Uuid::new_v4()),
        "/v1/circles/not-a-uuid/log".to_owned(),
    ] {
        s.get(&path, Some(&token_a))
            .await
            .assert_error(403, "forbidden");
    }
    s.post(
        "/v1/auth/challenge",
        None,
        json!({"circle_id": circle_a.to_string(), "peer_id": stranger.peer_hex()}),
    )
    .await
    .assert_error(403, "forbidden");
    s.post(
        "/v1/auth/challenge",
        None,
        json!({"circle_id": Uuid::new_v4().to_string(), "peer_id": a.peer_hex()}),
    )
    .await
    .assert_error(404, "not_found");
    // A token request by a non-member.
    s.post(
        "/v1/auth/token",
        None,
        json!({
            "circle_id": circle_a.to_string(),
            "peer_id": stranger.peer_hex(),
            "challenge": b64(&[1; 32]),
            "signature": b64(&vault_core::circle::sign_auth(&stranger.identity, circle_a, &[1; 32])),
        }),
    )
    .await
    .assert_error(403, "forbidden");
    // An entry signed by someone other than the caller.
    let forged = stranger.sign(
        circle_a,
        1,
        genesis_a.hash(),
        vault_core::circle::EntryBody::NewEpoch(commit(2)),
    );
    append(&s, &token_a, circle_a, &forged)
        .await
        .assert_error(403, "forbidden");
    s.post(
        "/v1/invites/00000000000000000000000000000000/join",
        None,
        json!({"message": "aGk"}),
    )
    .await
    .assert_error(404, "not_found");
    s.post("/v1/invites/not-hex/join", None, json!({"message": "aGk"}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn existing_circles_and_moved_heads_are_409() {
    let s = Server::start().await;
    let d = Device::new();
    let (circle, genesis) = create_circle(&s, &d).await;
    s.post("/v1/circles", None, entry_json(&genesis))
        .await
        .assert_error(409, "conflict");
    let token = login(&s, &d, circle).await;
    let e1 = d.sign(
        circle,
        1,
        genesis.hash(),
        vault_core::circle::EntryBody::NewEpoch(commit(2)),
    );
    assert_eq!(
        append(&s, &token, circle, &e1).await.status,
        StatusCode::CREATED
    );
    // Another entry built on the old head.
    let stale = d.sign(
        circle,
        1,
        genesis.hash(),
        vault_core::circle::EntryBody::NewEpoch(commit(3)),
    );
    append(&s, &token, circle, &stale)
        .await
        .assert_error(409, "conflict");
}

/// A storage whose every call fails with one error.
struct Failing(fn() -> StorageError);

macro_rules! fail {
    ($($name:ident($($arg:ty),*) -> $ret:ty, $err:ty;)*) => {
        $(fn $name(&self, $(_: $arg),*) -> Result<$ret, $err> { Err((self.0)().into()) })*
    };
}

impl Storage for Failing {
    fail! {
        ping() -> (), StorageError;
        counts() -> Counts, StorageError;
        create_circle(Uuid, &NewEntry, &PeerBytes, &MemberKeys, i64) -> (), StorageError;
        create_circle_registered(&Hash32, Uuid, &NewEntry, &PeerBytes, &MemberKeys, i64) -> (), RegisterError;
        circle_exists(Uuid) -> bool, StorageError;
        circle_usage(Uuid) -> (Usage, QuotaOverrides), StorageError;
        disabled_circles() -> Vec<Uuid>, StorageError;
        member(Uuid, &PeerBytes) -> MemberRow, StorageError;
        append_entry(Uuid, &PeerBytes, &NewEntry, &MemberChange, &Quotas) -> (), AppendError;
        log(Uuid, Option<u64>, u32) -> LogPage, StorageError;
        cut_list(Uuid, u64, &str) -> Vec<u8>, StorageError;
        put_challenge(Uuid, &PeerBytes, &[u8; 32], i64) -> (), StorageError;
        consume_challenge(Uuid, &PeerBytes, &[u8; 32], i64) -> (), StorageError;
        issue_token(Uuid, &PeerBytes, &[u8; 32], &Hash32, i64, i64) -> (), IssueError;
        token(&Hash32, i64) -> TokenRow, StorageError;
        put_shares(Uuid, &PeerBytes, &[(PeerBytes, Vec<u8>)], i64) -> (), ShareError;
        shares(Uuid, &PeerBytes, i64, u32) -> Vec<ShareRow>, StorageError;
        create_invite(&InviteId, Uuid, &PeerBytes, i64) -> (), StorageError;
        join_invite(&InviteId, &Hash32, &[u8], i64) -> u64, InviteError;
        invite(&InviteId, i64) -> InviteRow, InviteError;
        post_relay(&InviteId, Side, &[u8], i64, u32) -> u64, InviteError;
        relay_messages(&InviteId, Side, u64) -> Vec<RelayMessage>, StorageError;
        purge_expired(i64) -> Purged, StorageError;
        backup(&Path) -> (), StorageError;
        changes(Uuid, &str, Option<Token>, Option<u64>, u32, usize) -> ChangesPage, ChangesError;
        push_records(Uuid, &str, &PeerBytes, &[TaggedRecord], &Quotas) -> PushReply, PushError;
        zone_manifest(Uuid, &str, bool) -> ServerManifest, StorageError;
        bucket_records(Uuid, &str, &[u8]) -> Vec<TaggedRecord>, StorageError;
        put_manifest(Uuid, &str, &NewManifest) -> ManifestStored, ManifestPutError;
        manifests(Uuid, &str) -> Vec<ManifestRow>, StorageError;
        zone_seqs(Uuid) -> Vec<ZoneSeq>, StorageError;
    }
}

async fn failing_server(error: fn() -> StorageError) -> (String, tokio::sync::oneshot::Sender<()>) {
    let state = AppState::with_parts(
        &Config {
            registration: vault_server::Registration::Open,
            metrics_public: true,
            ..Config::default()
        },
        Arc::new(Failing(error)),
        Arc::new(vault_server::notify::LocalNotifier::new()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

#[tokio::test]
async fn storage_failures_are_500_without_the_cause_and_busy_is_503() {
    let (url, _stop) =
        failing_server(|| StorageError::Backend("disk on fire at /secret/path".into())).await;
    let http = http();
    let d = Device::new();
    let circle = Uuid::new_v4();
    let r = Reply::from(
        http.post(format!("{url}/v1/circles"))
            .json(&entry_json(&d.genesis(circle)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(500, "internal");
    assert!(
        !r.text.contains("secret") && !r.text.contains("fire"),
        "{}",
        r.text
    );
    let r = Reply::from(http.get(format!("{url}/metrics")).send().await.unwrap()).await;
    r.assert_error(500, "internal");
    let r = Reply::from(http.get(format!("{url}/healthz")).send().await.unwrap()).await;
    r.assert_error(503, "unavailable");

    let (url, _stop) = failing_server(|| StorageError::Busy).await;
    let r = Reply::from(
        http.post(format!("{url}/v1/auth/challenge"))
            .json(&json!({"circle_id": circle.to_string(), "peer_id": d.peer_hex()}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(503, "unavailable");
    assert_eq!(r.headers["retry-after"], "1");
}
