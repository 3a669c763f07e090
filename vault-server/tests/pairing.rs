//! Invites and the pairing relay: single use, expiry, sides, long polls.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

const INVITE: &str = "0123456789abcdef0123456789abcdef";

async fn member(s: &Server) -> (Device, Uuid, String) {
    let d = Device::new();
    let (circle, _) = create_circle(s, &d).await;
    let token = login(s, &d, circle).await;
    (d, circle, token)
}

async fn invite(s: &Server, circle: Uuid, token: &str, id: &str, ttl: Option<u64>) -> Reply {
    let mut body = json!({ "invite_id": id });
    if let Some(ttl) = ttl {
        body["ttl_secs"] = json!(ttl);
    }
    s.post(&format!("/v1/circles/{circle}/invites"), Some(token), body)
        .await
}

async fn join(s: &Server, id: &str, message: &[u8]) -> Reply {
    s.post(
        &format!("/v1/invites/{id}/join"),
        None,
        json!({ "message": b64(message) }),
    )
    .await
}

fn messages(v: &Value) -> Vec<(u64, Vec<u8>)> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().unwrap(),
                unb64(m["message"].as_str().unwrap()),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_invite_is_joined_once() {
    let s = Server::start().await;
    let (_, circle, token) = member(&s).await;
    let r = invite(&s, circle, &token, INVITE, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json(), json!({"invite_id": INVITE, "expires_in": 600}));
    // A retry is answered with the same open invite.
    let r = invite(&s, circle, &token, INVITE, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.json()["expires_in"].as_u64().unwrap() >= 599);
    for bad_ttl in [0, 3601] {
        invite(
            &s,
            circle,
            &token,
            "ffffffffffffffffffffffffffffffff",
            Some(bad_ttl),
        )
        .await
        .assert_error(400, "invalid");
    }
    invite(&s, circle, &token, "ABCDEF", None)
        .await
        .assert_error(400, "invalid");

    let r = join(&s, INVITE, b"hello from the joiner").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(unb64(r.json()["relay_token"].as_str().unwrap()).len(), 32);
    join(&s, INVITE, b"me too").await.assert_error(410, "gone");
    // Once joined, the id is taken: creating it again is a conflict.
    invite(&s, circle, &token, INVITE, None)
        .await
        .assert_error(409, "conflict");
    join(&s, "ffffffffffffffffffffffffffffffff", b"hi")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn concurrent_joins_exactly_one_wins() {
    let s = Server::start().await;
    let (_, circle, token) = member(&s).await;
    invite(&s, circle, &token, INVITE, None).await;
    let replies = futures_util::future::join_all((0..8).map(|_| join(&s, INVITE, b"mine"))).await;
    let won = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(won, 1);
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_error(410, "gone");
    }
}

#[tokio::test]
async fn an_expired_invite_is_gone() {
    let s = Server::start().await;
    let (_, circle, token) = member(&s).await;
    let r = invite(&s, circle, &token, INVITE, Some(1)).await;
    assert_eq!(r.json()["expires_in"], 1);
    let other = "11111111111111111111111111111111";
    invite(&s, circle, &token, other, Some(1)).await;
    let relay = join(&s, other, b"early").await.json()["relay_token"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    join(&s, INVITE, b"late").await.assert_error(410, "gone");
    s.post(
        &format!("/v1/invites/{other}/messages"),
        Some(&relay),
        json!({"message": "aGk"}),
    )
    .await
    .assert_error(410, "gone");
}

#[tokio::test]
async fn the_relay_carries_each_sides_messages_to_the_other() {
    let s = Server::start().await;
    let (_, circle, token) = member(&s).await;
    invite(&s, circle, &token, INVITE, None).await;
    let relay = join(&s, INVITE, b"hello").await.json()["relay_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/invites/{INVITE}/messages");
    // The inviter reads the joiner's hello.
    let got = s.get(&path, Some(&token)).await.json();
    assert_eq!(messages(&got), vec![(1, b"hello".to_vec())]);
    let r = s
        .post(&path, Some(&token), json!({"message": b64(b"challenge")}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json(), json!({"seq": 2}));
    let r = s
        .post(&path, Some(&relay), json!({"message": b64(b"answer")}))
        .await;
    assert_eq!(r.json(), json!({"seq": 3}));
    // Each side sees only the other's messages, after `after`.
    let joiner_view = s.get(&path, Some(&relay)).await.json();
    assert_eq!(messages(&joiner_view), vec![(2, b"challenge".to_vec())]);
    let inviter_view = s.get(&format!("{path}?after=1"), Some(&token)).await.json();
    assert_eq!(messages(&inviter_view), vec![(3, b"answer".to_vec())]);

    // The relay token is good for this invite's messages only.
    s.get(&format!("/v1/circles/{circle}/log"), Some(&relay))
        .await
        .assert_error(401, "unauthorized");
    s.get(&path, Some(&b64(&[5; 32])))
        .await
        .assert_error(401, "unauthorized");
    s.get(&path, None).await.assert_error(401, "unauthorized");
    s.get(
        "/v1/invites/ffffffffffffffffffffffffffffffff/messages",
        Some(&relay),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn other_members_are_not_parties_and_limits_hold() {
    let s = Server::with(|c| {
        c.limits.relay_messages_per_invite = 3;
        c.limits.relay_message_bytes = 100;
    })
    .await;
    let (founder, phone) = (Device::new(), Device::new());
    let (circle, genesis) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    add_peer(&s, &token, circle, &founder, &genesis, &phone).await;
    let phone_token = login(&s, &phone, circle).await;
    invite(&s, circle, &token, INVITE, None).await;
    let path = format!("/v1/invites/{INVITE}/messages");
    s.get(&path, Some(&phone_token))
        .await
        .assert_error(403, "forbidden");
    join(&s, INVITE, &[1; 101])
        .await
        .assert_error(413, "too_large");
    join(&s, INVITE, b"").await.assert_error(400, "invalid");
    assert_eq!(join(&s, INVITE, b"1").await.status, StatusCode::CREATED);
    s.post(&path, Some(&token), json!({"message": b64(&[2; 101])}))
        .await
        .assert_error(413, "too_large");
    for _ in 0..2 {
        let r = s.post(&path, Some(&token), json!({"message": "Mg"})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    s.post(&path, Some(&token), json!({"message": "Mg"}))
        .await
        .assert_error(413, "too_large");
}

#[tokio::test]
async fn a_reader_waits_for_the_other_side_without_polling() {
    let s = Server::start().await;
    let (_, circle, token) = member(&s).await;
    invite(&s, circle, &token, INVITE, None).await;
    let relay = join(&s, INVITE, b"hello").await.json()["relay_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/invites/{INVITE}/messages");

    // Nothing arrives: the wait runs out and the answer is empty.
    let started = Instant::now();
    let r = s.get(&format!("{path}?wait=1"), Some(&relay)).await;
    assert_eq!(r.json(), json!({"messages": []}));
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A message posted during the wait ends it at once; the reader's own
    // messages do not.
    let reader = {
        let (http, url, relay) = (s.http.clone(), s.url.clone(), relay.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let r = http
                .get(format!("{url}/v1/invites/{INVITE}/messages?wait=20"))
                .bearer_auth(relay)
                .send()
                .await
                .unwrap();
            (started.elapsed(), r.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.post(&path, Some(&relay), json!({"message": b64(b"own")}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.post(&path, Some(&token), json!({"message": b64(b"for you")}))
        .await;
    let (elapsed, got) = reader.await.unwrap();
    assert_eq!(messages(&got), vec![(3, b"for you".to_vec())]);
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(s.state.relay().len() <= 1);
}

#[tokio::test]
async fn shutdown_ends_long_polls() {
    let mut s = Server::start().await;
    let (_, circle, token) = member(&s).await;
    invite(&s, circle, &token, INVITE, None).await;
    join(&s, INVITE, b"hello").await;
    let path = format!("{}/v1/invites/{INVITE}/messages?after=1&wait=30", s.url);
    let http = s.http.clone();
    let reader = tokio::spawn(async move {
        let started = Instant::now();
        let r = http.get(path).bearer_auth(token).send().await.unwrap();
        (started.elapsed(), r.status(), r.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.stop().await.unwrap();
    let (elapsed, status, body) = reader.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"messages":[]}"#);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
