//! The circle log, authentication, shares and WebSocket pushes, end to end
//! over HTTP with entries encoded and signed by vault-core.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;
use vault_core::circle::{CircleState, EntryBody, SignedEntry};

#[tokio::test]
async fn a_circle_grows_and_devices_verify_what_the_server_returns() {
    let s = Server::start().await;
    let (founder, phone) = (Device::new(), Device::new());
    let circle = Uuid::new_v4();
    let genesis = founder.genesis(circle);
    let r = s.post("/v1/circles", None, entry_json(&genesis)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.json(),
        json!({"circle_id": circle.to_string(), "seq": 0, "hash": b64(&genesis.hash().0)})
    );
    let token = login(&s, &founder, circle).await;
    let e1 = add_peer(&s, &token, circle, &founder, &genesis, &phone).await;
    let phone_token = login(&s, &phone, circle).await;
    let e2 = phone.sign(circle, 2, e1.hash(), EntryBody::NewEpoch(commit(2)));
    let r = append(&s, &phone_token, circle, &e2).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json(), json!({"seq": 2, "hash": b64(&e2.hash().0)}));

    let log = s
        .get(&format!("/v1/circles/{circle}/log"), Some(&token))
        .await
        .json();
    assert_eq!(log["head_seq"], 2);
    assert_eq!(log["head_hash"], b64(&e2.hash().0));
    assert_eq!(log["more"], false);
    let entries: Vec<SignedEntry> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(e["seq"], i as u64);
            SignedEntry::decode(
                &unb64(e["entry"].as_str().unwrap()),
                &unb64(e["signature"].as_str().unwrap()),
            )
            .unwrap()
        })
        .collect();
    let state = CircleState::verify_chain(Some(genesis.hash()), &entries).unwrap();
    assert!(state.is_member(&phone.peer()));
    assert_eq!(state.head(), (2, e2.hash()));

    // Paging: after and limit, with `more`.
    let page = s
        .get(
            &format!("/v1/circles/{circle}/log?after=0&limit=1"),
            Some(&token),
        )
        .await
        .json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page["entries"][0]["seq"], 1);
    assert_eq!(page["more"], true);
    let page = s
        .get(&format!("/v1/circles/{circle}/log?after=2"), Some(&token))
        .await
        .json();
    assert_eq!(page["entries"], json!([]));
    assert_eq!(page["more"], false);
    s.get(&format!("/v1/circles/{circle}/log?after=-1"), Some(&token))
        .await
        .assert_error(400, "invalid");
}

#[tokio::test]
async fn the_server_refuses_entries_devices_would_refuse() {
    let s = Server::start().await;
    let (founder, phone) = (Device::new(), Device::new());
    let (circle, genesis) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    let next = |body| founder.sign(circle, 1, genesis.hash(), body);
    // Wrong seq with the right prev; another circle; a second genesis.
    let wrong_seq = founder.sign(circle, 5, genesis.hash(), EntryBody::NewEpoch(commit(2)));
    append(&s, &token, circle, &wrong_seq)
        .await
        .assert_error(400, "invalid");
    let other_circle = founder.sign(
        Uuid::new_v4(),
        1,
        genesis.hash(),
        EntryBody::NewEpoch(commit(2)),
    );
    append(&s, &token, circle, &other_circle)
        .await
        .assert_error(400, "invalid");
    append(&s, &token, circle, &founder.genesis(circle))
        .await
        .assert_error(400, "invalid");
    // prev_hash that disagrees with the entry's prev.
    let e = next(EntryBody::NewEpoch(commit(2)));
    let mut body = append_json(&e);
    body["prev_hash"] = json!(b64(&[9; 32]));
    s.post(&format!("/v1/circles/{circle}/log"), Some(&token), body)
        .await
        .assert_error(400, "invalid");
    // Removing a stranger; removing the last member.
    let (body, list) = removal(phone.peer(), 2, (1, 0));
    append_removal(&s, &token, circle, &next(body), &list)
        .await
        .assert_error(400, "invalid");
    let (body, list) = removal(founder.peer(), 2, (1, 0));
    append_removal(&s, &token, circle, &next(body), &list)
        .await
        .assert_error(400, "invalid");
    // A removal without its cut (the legacy kind), or without its list.
    let legacy = next(EntryBody::RemovePeer {
        peer: founder.peer(),
    });
    append(&s, &token, circle, &legacy)
        .await
        .assert_error(400, "invalid");
    let (body, _) = removal(founder.peer(), 2, (1, 0));
    append(&s, &token, circle, &next(body))
        .await
        .assert_error(400, "invalid");
    // Adding the same peer twice.
    let e1 = add_peer(&s, &token, circle, &founder, &genesis, &phone).await;
    let again = founder.sign(
        circle,
        2,
        e1.hash(),
        EntryBody::AddPeer {
            peer: phone.keys(),
            name: sealed_name(),
        },
    );
    append(&s, &token, circle, &again)
        .await
        .assert_error(400, "invalid");
    let log = s
        .get(&format!("/v1/circles/{circle}/log"), Some(&token))
        .await
        .json();
    assert_eq!(log["head_seq"], 1, "nothing refused was stored");
}

#[tokio::test]
async fn concurrent_appends_exactly_one_wins() {
    let s = Server::start().await;
    let founder = Device::new();
    let (circle, genesis) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    let entries: Vec<_> = (0..16)
        .map(|i| {
            founder.sign(
                circle,
                1,
                genesis.hash(),
                EntryBody::NewEpoch(commit(2 + i)),
            )
        })
        .collect();
    let replies =
        futures_util::future::join_all(entries.iter().map(|e| append(&s, &token, circle, e))).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.assert_error(409, "conflict");
    }
}

#[tokio::test]
async fn a_removed_device_loses_its_tokens_and_gets_no_new_one() {
    let s = Server::start().await;
    let (founder, phone) = (Device::new(), Device::new());
    let (circle, genesis) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    let e1 = add_peer(&s, &token, circle, &founder, &genesis, &phone).await;
    let phone_token = login(&s, &phone, circle).await;
    let log_path = format!("/v1/circles/{circle}/log");
    assert_eq!(
        s.get(&log_path, Some(&phone_token)).await.status,
        StatusCode::OK
    );
    let (body, list) = removal(phone.peer(), 2, (1, 0));
    let remove = founder.sign(circle, 2, e1.hash(), body);
    assert_eq!(
        append_removal(&s, &token, circle, &remove, &list)
            .await
            .status,
        StatusCode::CREATED
    );
    s.get(&log_path, Some(&phone_token))
        .await
        .assert_error(401, "unauthorized");
    s.post(
        "/v1/auth/challenge",
        None,
        json!({"circle_id": circle.to_string(), "peer_id": phone.peer_hex()}),
    )
    .await
    .assert_error(403, "forbidden");
}

#[tokio::test]
async fn shares_reach_their_recipient_only() {
    let s = Server::start().await;
    let (founder, phone) = (Device::new(), Device::new());
    let (circle, genesis) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    add_peer(&s, &token, circle, &founder, &genesis, &phone).await;
    let phone_token = login(&s, &phone, circle).await;
    let path = format!("/v1/circles/{circle}/shares");
    let r = s
        .post(
            &path,
            Some(&token),
            json!({"shares": [
                {"recipient": phone.peer_hex(), "share": b64(b"sealed one")},
                {"recipient": phone.peer_hex(), "share": b64(b"sealed two")},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json(), json!({"stored": 2}));
    let got = s.get(&path, Some(&phone_token)).await.json();
    let shares = got["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 2);
    assert_eq!(shares[0]["sender"], founder.peer_hex());
    assert_eq!(unb64(shares[0]["share"].as_str().unwrap()), b"sealed one");
    let first = shares[0]["id"].as_i64().unwrap();
    let rest = s
        .get(&format!("{path}?after={first}"), Some(&phone_token))
        .await
        .json();
    assert_eq!(rest["shares"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.get(&path, Some(&token)).await.json(),
        json!({"shares": []})
    );
    s.post(
        &path,
        Some(&token),
        json!({"shares": [{"recipient": Device::new().peer_hex(), "share": "AA"}]}),
    )
    .await
    .assert_error(400, "invalid");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &Server, token: &str) -> Ws {
    let mut req = format!("ws://{}/v1/ws", s.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn next_frame(ws: &mut Ws) -> Message {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .unwrap();
        if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
            return m;
        }
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    match next_frame(ws).await {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn websockets_say_hello_pong_and_push_hints() {
    let s = Server::start().await;
    let (founder, phone) = (Device::new(), Device::new());
    let (circle, genesis) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    let e1 = add_peer(&s, &token, circle, &founder, &genesis, &phone).await;
    let phone_token = login(&s, &phone, circle).await;

    let mut ws_founder = connect(&s, &token).await;
    let mut ws_phone = connect(&s, &phone_token).await;
    assert_eq!(
        next_json(&mut ws_founder).await,
        json!({"type": "hello", "circle_id": circle.to_string(), "peer_id": founder.peer_hex()})
    );
    assert_eq!(next_json(&mut ws_phone).await["type"], "hello");
    ws_phone
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws_phone).await, json!({"type": "pong"}));

    // The phone appends: the founder hears of it, the phone does not.
    let e2 = phone.sign(circle, 2, e1.hash(), EntryBody::NewEpoch(commit(2)));
    assert_eq!(
        append(&s, &phone_token, circle, &e2).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        next_json(&mut ws_founder).await,
        json!({"type": "circle", "head_seq": 2})
    );
    // The founder sends the phone a share: only the phone hears of it.
    let r = s
        .post(
            &format!("/v1/circles/{circle}/shares"),
            Some(&token),
            json!({"shares": [{"recipient": phone.peer_hex(), "share": "AA"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(next_json(&mut ws_phone).await, json!({"type": "shares"}));
    ws_founder
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws_founder).await,
        json!({"type": "pong"}),
        "no other frame came before the pong"
    );
    let metrics = s.get("/metrics", None).await.text;
    assert!(metrics.contains("vault_websockets_open 2"), "{metrics}");

    // Removal closes the phone's socket.
    let (body, list) = removal(phone.peer(), 2, (1, 0));
    let remove = founder.sign(circle, 3, e2.hash(), body);
    assert_eq!(
        append_removal(&s, &token, circle, &remove, &list)
            .await
            .status,
        StatusCode::CREATED
    );
    match next_frame(&mut ws_phone).await {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1008),
        other => panic!("expected a close, got {other:?}"),
    }
    // The author hears nothing of its own entry.
    ws_founder
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws_founder).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn websockets_need_a_member_token_and_close_on_shutdown() {
    let mut s = Server::start().await;
    let founder = Device::new();
    let (circle, _) = create_circle(&s, &founder).await;
    let token = login(&s, &founder, circle).await;
    let req = format!("ws://{}/v1/ws", s.addr)
        .into_client_request()
        .unwrap();
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    // A plain GET (no upgrade) with a token.
    s.get("/v1/ws", Some(&token))
        .await
        .assert_error(400, "invalid");

    let mut ws = connect(&s, &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    let stopped = tokio::spawn(async move { (s.stop().await, s) });
    match next_frame(&mut ws).await {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1001),
        other => panic!("expected a close, got {other:?}"),
    }
    drop(ws);
    let (result, s) = tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .unwrap()
        .unwrap();
    result.unwrap();
    assert_eq!(s.state.open_sockets(), 0);
}

#[tokio::test]
async fn a_disabled_circle_is_refused_and_its_sockets_close_until_enabled() {
    let s = Server::start().await;
    let (a, b) = (Device::new(), Device::new());
    let (circle, _) = create_circle(&s, &a).await;
    let (other, _) = create_circle(&s, &b).await;
    let token = login(&s, &a, circle).await;
    let other_token = login(&s, &b, other).await;
    let mut ws = connect(&s, &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    let log = format!("/v1/circles/{circle}/log");

    // The admin command's storage, beside the running server.
    use vault_server::storage::AdminStore;
    let mut admin =
        vault_server::storage::AdminDb::open(s.config.db.sqlite_path().unwrap()).unwrap();
    let disabled_at = std::time::Instant::now();
    admin.set_disabled(circle, true, 1).unwrap();
    match next_frame(&mut ws).await {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1008, "{f:?}"),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(
        disabled_at.elapsed() < Duration::from_millis(1500),
        "closed after {:?}",
        disabled_at.elapsed()
    );
    s.get(&log, Some(&token))
        .await
        .assert_error(403, "circle_disabled");
    // No new token either; the other circle is untouched.
    token_request(&s, &a, circle)
        .await
        .assert_error(403, "circle_disabled");
    let r = s
        .get(&format!("/v1/circles/{other}/log"), Some(&other_token))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Enabled again: the same token works, nothing was lost.
    admin.set_disabled(circle, false, 2).unwrap();
    let r = s.get(&log, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["head_seq"], 0);
    login(&s, &a, circle).await;
    let actions: Vec<String> = admin.log().unwrap().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["circle disable", "circle enable"]);
    // Counts, never data: one member, no records yet, a login noted.
    let info = admin.circle(circle).unwrap();
    assert_eq!((info.members, info.records, info.bytes), (1, 0, 0));
    assert!(info.last_active.is_some() && info.disabled.is_none());
}
