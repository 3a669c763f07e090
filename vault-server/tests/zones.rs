//! Sync zones end to end over HTTP, with records encoded and pages decoded
//! by vault-core: pushes and the changes feed, conflicts, the batch rules,
//! expired tokens, and the `zone` frame on the other devices' sockets.
#![allow(clippy::unwrap_used)]

mod common;

use common::sync::*;
use common::*;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;
use vault_core::sync::{TaggedRecord, Token, decode_records, encode_records};

#[tokio::test]
async fn pushed_records_come_back_byte_for_byte_in_seq_order() {
    let p = pair().await;
    // A zone never pushed to reads as empty: epoch 1, seq 0.
    let page = changes_ok(&p.s, &p.ta, p.circle, "").await;
    assert_eq!(
        (page.token, page.more, page.records.len()),
        (Token { epoch: 1, seq: 0 }, false, 0)
    );

    let batch: Vec<TaggedRecord> = (0..5)
        .map(|i| tagged(0, record(&p.a, uuid_in(i * 40, i.into()), 1, i == 4)))
        .collect();
    let answer = push_ok(&p.s, &p.ta, p.circle, &batch).await;
    assert_eq!(answer["token"], "1.5");
    assert_eq!(saved_seqs(&answer), [1, 2, 3, 4, 5]);
    for (r, sent) in answer["results"].as_array().unwrap().iter().zip(&batch) {
        assert_eq!(r["uuid"], sent.record.uuid().hyphenated().to_string());
    }

    // B pulls: the same records, tombstone included, each tagged with its seq.
    let r = changes(&p.s, &p.tb, p.circle, "").await;
    assert_eq!(r.status, StatusCode::OK);
    let page = vault_core::sync::ChangesPage::decode(&r.body).unwrap();
    assert_eq!(page.token, Token { epoch: 1, seq: 5 });
    assert!(!page.more);
    let want: Vec<TaggedRecord> = batch
        .iter()
        .enumerate()
        .map(|(i, t)| tagged(i as u64 + 1, t.record.clone()))
        .collect();
    assert_eq!(page.records, want);
    let expected = vault_core::sync::ChangesPage {
        token: Token { epoch: 1, seq: 5 },
        more: false,
        records: want.clone(),
    };
    assert_eq!(
        r.body,
        expected.encode(),
        "the page's bytes are vault-core's"
    );

    // An edit based on seq 2 replaces the record: it moves to seq 6.
    let edit = tagged(2, record(&p.b, batch[1].record.uuid(), 2, false));
    let answer = push_ok(&p.s, &p.tb, p.circle, std::slice::from_ref(&edit)).await;
    assert_eq!(saved_seqs(&answer), [6]);
    let page = changes_ok(&p.s, &p.ta, p.circle, "since=1.5").await;
    assert_eq!(page.records, vec![tagged(6, edit.record.clone())]);
    assert_eq!(page.token, Token { epoch: 1, seq: 6 });
    let all = changes_ok(&p.s, &p.ta, p.circle, "since=1.0").await;
    assert_eq!(
        all.records.iter().map(|r| r.tag).collect::<Vec<_>>(),
        [1, 3, 4, 5, 6],
        "one row per uuid: the replaced version is gone"
    );
    // Nothing new: an empty page at the head.
    let page = changes_ok(&p.s, &p.ta, p.circle, "since=1.6").await;
    assert_eq!((page.records.len(), page.token.seq), (0, 6));
}

#[tokio::test]
async fn pages_follow_limit_and_more() {
    let p = pair().await;
    let batch: Vec<TaggedRecord> = (0..7)
        .map(|i| tagged(0, record(&p.a, uuid_in(i, i.into()), 1, false)))
        .collect();
    push_ok(&p.s, &p.ta, p.circle, &batch).await;
    let mut since = "1.0".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = changes_ok(&p.s, &p.ta, p.circle, &format!("since={since}&limit=3")).await;
        pages += 1;
        assert!(page.records.len() <= 3);
        seen.extend(page.records.iter().map(|r| r.tag));
        since = page.token.to_text();
        if !page.more {
            assert_eq!(page.token.seq, 7);
            break;
        }
        assert_eq!(
            page.token.seq,
            *seen.last().unwrap(),
            "more: the token is the last seq"
        );
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=7).collect::<Vec<u64>>());
    // The same read by `after`, keeping `since` at its start.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let q = format!("since=1.0&after={after}&limit=3");
        let page = changes_ok(&p.s, &p.ta, p.circle, &q).await;
        seen.extend(page.records.iter().map(|r| r.tag));
        after = page.token.seq;
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, (1..=7).collect::<Vec<u64>>());
    changes(&p.s, &p.ta, p.circle, "since=1.5&after=4")
        .await
        .assert_error(400, "invalid");
    changes(&p.s, &p.ta, p.circle, "since=1.0&after=8")
        .await
        .assert_error(410, "token_expired");
    // limit=0 is clamped to 1; a limit past the maximum to the maximum.
    assert_eq!(
        changes_ok(&p.s, &p.ta, p.circle, "limit=0")
            .await
            .records
            .len(),
        1
    );
    let page = changes_ok(&p.s, &p.ta, p.circle, "limit=999999").await;
    assert_eq!((page.records.len(), page.more), (7, false));
    changes(&p.s, &p.ta, p.circle, "limit=-1")
        .await
        .assert_error(400, "invalid");

    let small = pair_with(|c| c.limits.max_changes_page = 2).await;
    let batch: Vec<TaggedRecord> = (0..3)
        .map(|i| tagged(0, record(&small.a, uuid_in(i, i.into()), 1, false)))
        .collect();
    push_ok(&small.s, &small.ta, small.circle, &batch).await;
    let page = changes_ok(&small.s, &small.ta, small.circle, "limit=1000").await;
    assert_eq!((page.records.len(), page.more), (2, true));

    // A page also stops once its ciphertext passes the records body limit
    // (never empty: one record over it still comes alone).
    let tight = pair_with(|c| c.limits.max_records_body_bytes = 2048).await;
    for (n, len) in [(0u32, 900), (1, 900), (2, 900), (3, 3000)] {
        let r = with(record(&tight.a, uuid_in(n as u8, n), 1, false), |p| {
            p.encitem = vec![1; len]
        });
        let body_limit_ok = len < 2000;
        let answer = push(&tight.s, &tight.ta, tight.circle, &[tagged(0, r)]).await;
        assert_eq!(
            answer.status.is_success(),
            body_limit_ok,
            "{}",
            answer.reply().text
        );
    }
    let page = changes_ok(&tight.s, &tight.ta, tight.circle, "").await;
    assert_eq!(
        (page.records.len(), page.more, page.token.seq),
        (2, true, 2),
        "2 x (60 + 900) fits 2048, a third does not"
    );
    let page = changes_ok(&tight.s, &tight.ta, tight.circle, "since=1.2").await;
    assert_eq!((page.records.len(), page.more), (1, false));
}

#[tokio::test]
async fn a_conflict_returns_the_current_record_and_the_others_still_save() {
    let p = pair().await;
    let (u1, u2, u3) = (uuid_in(1, 1), uuid_in(2, 2), uuid_in(3, 3));
    let first = record(&p.a, u1, 1, false);
    push_ok(&p.s, &p.ta, p.circle, &[tagged(0, first.clone())]).await;
    // B edits u1 on seq 1: saved at 2.
    let b_edit = record(&p.b, u1, 2, false);
    push_ok(&p.s, &p.tb, p.circle, &[tagged(1, b_edit.clone())]).await;

    // A, still on seq 1, edits u1 in a batch with two new items and one
    // based on a tag for a uuid the server never saw (a conflict with no
    // current record).
    let batch = [
        tagged(0, record(&p.a, u2, 1, false)),
        tagged(1, record(&p.a, u1, 2, false)),
        tagged(7, record(&p.a, u3, 1, false)),
        tagged(0, record(&p.a, uuid_in(4, 4), 1, false)),
    ];
    let answer = push_ok(&p.s, &p.ta, p.circle, &batch).await;
    let results = answer["results"].as_array().unwrap();
    assert_eq!(answer["token"], "1.4", "{answer}");
    assert_eq!(
        results[0],
        json!({"status": "saved", "uuid": u2.to_string(), "seq": 3})
    );
    assert_eq!(results[1]["status"], "conflict");
    assert_eq!(results[1]["uuid"], u1.to_string());
    let current = decode_records(&unb64(results[1]["current"].as_str().unwrap())).unwrap();
    assert_eq!(
        current,
        vec![tagged(2, b_edit.clone())],
        "B's version, tag = its seq"
    );
    assert_eq!(
        results[2],
        json!({"status": "conflict", "uuid": u3.to_string(), "current": null})
    );
    assert_eq!(results[3]["seq"], 4);

    // A new item claimed as new while the server holds it: a conflict too.
    let answer = push_ok(
        &p.s,
        &p.ta,
        p.circle,
        &[tagged(0, record(&p.a, u2, 5, false))],
    )
    .await;
    assert_eq!(answer["results"][0]["status"], "conflict");
    assert_eq!(answer["token"], "1.4", "nothing saved, nothing moved");

    // The merge, based on B's seq, saves.
    let merged = record(&p.a, u1, 3, false);
    let answer = push_ok(&p.s, &p.ta, p.circle, &[tagged(2, merged)]).await;
    assert_eq!(saved_seqs(&answer), [5]);

    let metrics = p.s.get("/metrics", None).await.text;
    assert!(metrics.contains("vault_records_saved_total 5"), "{metrics}");
    assert!(
        metrics.contains("vault_record_conflicts_total 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_gencount_not_above_the_current_one_is_a_conflict() {
    let p = pair().await;
    let u = uuid_in(9, 9);
    push_ok(
        &p.s,
        &p.ta,
        p.circle,
        &[tagged(0, record(&p.a, u, 5, false))],
    )
    .await;
    for gencount in [5, 4] {
        let answer = push_ok(
            &p.s,
            &p.ta,
            p.circle,
            &[tagged(1, record(&p.a, u, gencount, false))],
        )
        .await;
        assert_eq!(
            answer["results"][0]["status"], "conflict",
            "gencount {gencount}"
        );
        assert!(answer["results"][0]["current"].is_string());
    }
    let answer = push_ok(
        &p.s,
        &p.ta,
        p.circle,
        &[tagged(1, record(&p.a, u, 6, true))],
    )
    .await;
    assert_eq!(saved_seqs(&answer), [2]);
}

#[tokio::test]
async fn batches_are_refused_whole() {
    let p = pair_with(|c| {
        c.limits.max_batch_records = 3;
        c.limits.max_records_body_bytes = 4096;
    })
    .await;
    let u = uuid_in(1, 1);
    let mine = |n: u32| tagged(0, record(&p.a, uuid_in(2, n), 1, false));

    // Another writer's record: 403, and the batch's other record not saved.
    let r = push(
        &p.s,
        &p.ta,
        p.circle,
        &[mine(1), tagged(0, record(&p.b, u, 1, false))],
    )
    .await;
    r.assert_error(403, "forbidden");
    // The same uuid twice.
    let r = push(&p.s, &p.ta, p.circle, &[mine(1), mine(1)]).await;
    r.assert_error(400, "invalid");
    // Over the batch limit.
    let r = push(&p.s, &p.ta, p.circle, &[mine(1), mine(2), mine(3), mine(4)]).await;
    r.assert_error(400, "invalid");
    // A circle position past the log's head (1).
    let ahead = with(record(&p.a, u, 1, false), |p| p.circle_pos = 2);
    let r = push(&p.s, &p.ta, p.circle, &[mine(1), tagged(0, ahead)]).await;
    r.assert_error(400, "invalid");
    // A gencount SQLite cannot hold.
    let r = push(
        &p.s,
        &p.ta,
        p.circle,
        &[tagged(0, record(&p.a, u, u64::MAX, false))],
    )
    .await;
    r.assert_error(400, "invalid");
    // Garbage, and a truncated list.
    let path = zone_path(p.circle, "records");
    let vnd = Some("application/vnd.vault.records");
    let r = raw(
        &p.s,
        Method::POST,
        &path,
        Some(&p.ta),
        vnd,
        b"garbage".to_vec(),
    )
    .await;
    r.assert_error(400, "invalid");
    let mut bytes = encode_records(&[mine(1)]);
    bytes.pop();
    raw(&p.s, Method::POST, &path, Some(&p.ta), vnd, bytes)
        .await
        .assert_error(400, "invalid");
    // Another media type, and no media type.
    let good = encode_records(&[mine(1)]);
    let json_type = Some("application/json");
    raw(
        &p.s,
        Method::POST,
        &path,
        Some(&p.ta),
        json_type,
        good.clone(),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    raw(&p.s, Method::POST, &path, Some(&p.ta), None, good.clone())
        .await
        .assert_error(415, "unsupported_media_type");
    // Over this route's body limit (4096 here; other routes keep theirs).
    let big = with(record(&p.a, u, 1, false), |p| p.encitem = vec![7; 5000]);
    push(&p.s, &p.ta, p.circle, &[tagged(0, big)])
        .await
        .assert_error(413, "too_large");
    // Nothing of the above was saved.
    let page = changes_ok(&p.s, &p.ta, p.circle, "").await;
    assert_eq!((page.records.len(), page.token.seq), (0, 0));
    // The route still answers, within its limit.
    let answer = push_ok(&p.s, &p.ta, p.circle, &[mine(1)]).await;
    assert_eq!(saved_seqs(&answer), [1]);
}

#[tokio::test]
async fn the_records_route_takes_16_mib_by_default_while_json_routes_keep_64_kib() {
    let p = pair().await;
    let big = with(record(&p.a, uuid_in(1, 1), 1, false), |p| {
        p.encitem = vec![7; 1 << 20]
    });
    let answer = push_ok(&p.s, &p.ta, p.circle, &[tagged(0, big.clone())]).await;
    assert_eq!(saved_seqs(&answer), [1]);
    let page = changes_ok(&p.s, &p.ta, p.circle, "").await;
    assert_eq!(page.records[0].record, big);
    let shares = json!({"shares": [{"recipient": p.b.peer_hex(), "share": b64(&[1; 70 * 1024])}]});
    p.s.post(
        &format!("/v1/circles/{}/shares", p.circle),
        Some(&p.ta),
        shares,
    )
    .await
    .assert_error(413, "too_large");
    let batch: Vec<TaggedRecord> = (0..17)
        .map(|n| {
            let r = with(record(&p.a, uuid_in(2, n), 1, false), |p| {
                p.encitem = vec![1; 1 << 20]
            });
            tagged(0, r)
        })
        .collect();
    push(&p.s, &p.ta, p.circle, &batch)
        .await
        .assert_error(413, "too_large");
}

#[tokio::test]
async fn expired_tokens_are_410_for_each_rule() {
    let p = pair().await;
    let batch: Vec<TaggedRecord> = (0..3)
        .map(|i| tagged(0, record(&p.a, uuid_in(i, i.into()), 1, false)))
        .collect();
    push_ok(&p.s, &p.ta, p.circle, &batch).await;
    // Another epoch (the zone is at epoch 1); seq 0 reads from the start
    // whatever the epoch.
    let all = changes_ok(&p.s, &p.ta, p.circle, "since=2.0").await;
    assert_eq!((all.records.len(), all.token.epoch), (3, 1));
    for since in ["0.1", "2.3"] {
        changes(&p.s, &p.ta, p.circle, &format!("since={since}"))
            .await
            .assert_error(410, "token_expired");
    }
    // A token from the future: the server lost data.
    changes(&p.s, &p.ta, p.circle, "since=1.4")
        .await
        .assert_error(410, "token_expired");
    // The head itself is fine; a token below gc_seq is in tests/manifests.rs.
    assert_eq!(
        changes_ok(&p.s, &p.ta, p.circle, "since=1.3")
            .await
            .records
            .len(),
        0
    );
    // A malformed token is 400.
    for bad in ["x", "1", "1.", "1.2.3", "-1.0"] {
        changes(&p.s, &p.ta, p.circle, &format!("since={bad}"))
            .await
            .assert_error(400, "invalid");
    }
}

#[tokio::test]
async fn zone_routes_need_a_member_of_the_circle_and_a_valid_zone_name() {
    let p = pair().await;
    let outsider = Device::new();
    let (other, _) = create_circle(&p.s, &outsider).await;
    let to = login(&p.s, &outsider, other).await;
    let r = p.s.get(&zone_path(p.circle, "changes"), Some(&to)).await;
    r.assert_error(403, "forbidden");
    let r = p.s.get(&zone_path(p.circle, "changes"), None).await;
    r.assert_error(401, "unauthorized");
    let r = push(
        &p.s,
        &to,
        p.circle,
        &[tagged(0, record(&outsider, uuid_in(1, 1), 1, false))],
    )
    .await;
    r.assert_error(403, "forbidden");
    for zone in ["Keychain", "a.b", &"x".repeat(33)] {
        let r =
            p.s.get(
                &format!("/v1/circles/{}/zones/{zone}/changes", p.circle),
                Some(&p.ta),
            )
            .await;
        r.assert_error(404, "not_found");
    }
    let r =
        p.s.post(&zone_path(p.circle, "changes"), Some(&p.ta), json!({}))
            .await;
    r.assert_error(405, "method_not_allowed");
    let r = p.s.get(&zone_path(p.circle, "records"), Some(&p.ta)).await;
    r.assert_error(405, "method_not_allowed");
    // The circle's own zones are independent: another zone is empty.
    push_ok(
        &p.s,
        &p.ta,
        p.circle,
        &[tagged(0, record(&p.a, uuid_in(1, 1), 1, false))],
    )
    .await;
    let r = raw(
        &p.s,
        Method::GET,
        &format!("/v1/circles/{}/zones/notes/changes", p.circle),
        Some(&p.ta),
        None,
        Vec::new(),
    )
    .await;
    let page = vault_core::sync::ChangesPage::decode(&r.body).unwrap();
    assert_eq!((page.token.seq, page.records.len()), (0, 0));
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

/// The next text frame within `wait`, or `None`.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(wait, ws.next()).await.ok()??.unwrap();
        if let Message::Text(t) = m {
            return Some(serde_json::from_str(&t).unwrap());
        }
    }
}

#[tokio::test]
async fn a_push_is_announced_to_the_other_devices_not_the_author() {
    let p = pair().await;
    let mut ws_a = connect(&p.s, &p.ta).await;
    let mut ws_b = connect(&p.s, &p.tb).await;
    let long = Duration::from_secs(5);
    assert_eq!(next_json(&mut ws_a, long).await.unwrap()["type"], "hello");
    assert_eq!(next_json(&mut ws_b, long).await.unwrap()["type"], "hello");

    let batch: Vec<TaggedRecord> = (0..2)
        .map(|i| tagged(0, record(&p.a, uuid_in(i, i.into()), 1, false)))
        .collect();
    push_ok(&p.s, &p.ta, p.circle, &batch).await;
    assert_eq!(
        next_json(&mut ws_b, long).await,
        Some(json!({"type": "zone", "zone": ZONE, "seq": 2}))
    );
    // A push that saves nothing announces nothing.
    push_ok(&p.s, &p.ta, p.circle, &batch).await;
    // B's push reaches A; A heard nothing of its own.
    push_ok(
        &p.s,
        &p.tb,
        p.circle,
        &[tagged(0, record(&p.b, uuid_in(9, 9), 1, false))],
    )
    .await;
    assert_eq!(
        next_json(&mut ws_a, long).await,
        Some(json!({"type": "zone", "zone": ZONE, "seq": 3}))
    );
    assert_eq!(next_json(&mut ws_b, Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn uuids_on_the_wire_are_hyphenated() {
    let p = pair().await;
    let u = Uuid::from_bytes([0xab; 16]);
    let answer = push_ok(
        &p.s,
        &p.ta,
        p.circle,
        &[tagged(0, record(&p.a, u, 1, false))],
    )
    .await;
    assert_eq!(
        answer["results"][0]["uuid"],
        "abababab-abab-abab-abab-abababababab"
    );
}
