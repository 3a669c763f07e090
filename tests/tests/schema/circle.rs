//! The stateful half of the contract test: a circle's genesis, tokens, log,
//! append race, shares, WebSocket frames and a removal; then an invite, a
//! join and the relay in both directions.

use crate::contract::{Api, assert_error, b64};
use crate::device::{Device, append_body, commit, decode32, invite_id, name, wire};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;
use vault_core::circle::{CutList, EntryBody, EntryHash};
use vault_core::crypto::VaultRng;

/// The state the circle scenario leaves for the pairing one.
pub struct Founded {
    circle: Uuid,
    a: Device,
    /// A device that founded a circle of its own.
    d: Device,
}

/// Genesis, authentication, the log (with a lost append race), shares,
/// the WebSocket frames, and a removal.
pub async fn circle_log_and_push(api: &Api<'_>, rng: &mut VaultRng) -> Founded {
    let mut a = Device::new(rng);
    let mut b = Device::new(rng);
    let outsider = Device::new(rng);
    let circle = Uuid::new_v4();

    // Genesis.
    let genesis = a.sign(
        circle,
        0,
        EntryHash::ZERO,
        EntryBody::Genesis {
            founder: a.id.public(),
            name: name(),
            epochs: vec![commit(1)],
        },
    );
    let mut forged = wire(&genesis);
    forged["signature"] = json!(b64(&[7; 64]));
    let r = api.post("/v1/circles", None, forged).await;
    assert_error(&r, 400, "invalid", "a genesis with a bad signature");
    let r = api.post_ok("/v1/circles", None, wire(&genesis), 201).await;
    assert_eq!(
        r,
        json!({"circle_id": circle.to_string(), "seq": 0, "hash": b64(genesis.hash().as_bytes())})
    );
    let r = api.post("/v1/circles", None, wire(&genesis)).await;
    assert_error(&r, 409, "conflict", "the circle exists");

    // Authentication.
    let unknown = json!({"circle_id": Uuid::new_v4().to_string(), "peer_id": a.peer().to_string()});
    let r = api.post("/v1/auth/challenge", None, unknown).await;
    assert_error(&r, 404, "not_found", "a challenge for an unknown circle");
    let body = a.answer(api, circle).await;
    let t = api.post_ok("/v1/auth/token", None, body.clone(), 200).await;
    assert_eq!(t["expires_in"], 900, "tokens live 15 minutes: {t}");
    a.token = Some(t["token"].as_str().unwrap().to_owned());
    let r = api.post("/v1/auth/token", None, body).await;
    assert_error(&r, 401, "unauthorized", "a used challenge");
    let mut body = a.answer(api, circle).await;
    body["signature"] = json!(b64(&vault_core::circle::sign_auth(
        &a.id,
        Uuid::new_v4(),
        &[0; 32]
    )));
    let r = api.post("/v1/auth/token", None, body).await;
    assert_error(&r, 401, "unauthorized", "a wrong signature");
    // A non-member: PROTOCOL.md refuses it at the token (403); a refusal at
    // the challenge already is checked against the document like any answer.
    let ask = json!({"circle_id": circle.to_string(), "peer_id": outsider.peer().to_string()});
    let ch = api.post("/v1/auth/challenge", None, ask).await;
    if ch.status == 200 {
        let sig =
            vault_core::circle::sign_auth(&outsider.id, circle, &decode32(&ch.body["challenge"]));
        let body = json!({"circle_id": circle.to_string(), "peer_id": outsider.peer().to_string(),
                          "challenge": ch.body["challenge"], "signature": b64(&sig)});
        let r = api.post("/v1/auth/token", None, body).await;
        assert_error(&r, 403, "forbidden", "a token for a non-member");
    }

    // Reading the log.
    let log_path = format!("/v1/circles/{circle}/log");
    let r = api.get(&log_path, None).await;
    assert_error(&r, 401, "unauthorized", "the log without a token");
    let r = api.get(&log_path, Some(&b64(&[9; 32]))).await;
    assert_error(&r, 401, "unauthorized", "the log with an unknown token");
    let log = api.get_ok(&log_path, a.token()).await;
    assert_eq!(
        log,
        json!({"entries": [{"seq": 0, "entry": b64(genesis.entry_bytes()),
                            "signature": b64(genesis.signature())}],
               "head_seq": 0, "head_hash": b64(genesis.hash().as_bytes()), "more": false})
    );

    // The push channel.
    let r = api
        .ws(None)
        .await
        .err()
        .expect("a WebSocket without a token is refused");
    assert_error(&r, 401, "unauthorized", "GET /v1/ws without a token");
    let r = api.get("/v1/ws", a.token()).await;
    assert_error(&r, 400, "invalid", "GET /v1/ws that asks for no upgrade");
    let mut ws_a = api.ws(a.token()).await.ok().unwrap();
    let hello = ws_a.expect("hello").await;
    assert_eq!(
        hello,
        json!({"type": "hello", "circle_id": circle.to_string(), "peer_id": a.peer().to_string()})
    );
    ws_a.send(json!({"type": "ping"})).await;
    ws_a.expect("pong").await;

    // Appending: B joins.
    let add_b = a.sign(
        circle,
        1,
        genesis.hash(),
        EntryBody::AddPeer {
            peer: b.id.public(),
            name: name(),
        },
    );
    let r = api
        .post("/v1/circles/x/log", a.token(), append_body(&add_b))
        .await;
    assert_eq!(
        r.status / 100,
        4,
        "a circle id that is not a UUID: {}",
        r.body
    );
    let mut bad = append_body(&add_b);
    bad["signature"] = json!(b64(&[1; 64]));
    let r = api.post(&log_path, a.token(), bad).await;
    assert_error(&r, 400, "invalid", "an entry with a bad signature");
    let r = api.post(&log_path, None, append_body(&add_b)).await;
    assert_error(&r, 401, "unauthorized", "an append without a token");
    let r = api
        .post_ok(&log_path, a.token(), append_body(&add_b), 201)
        .await;
    assert_eq!(r, json!({"seq": 1, "hash": b64(add_b.hash().as_bytes())}));

    // B is a member now: it logs in and listens. The server tells a circle's
    // other devices that the log grew (not the author, who knows).
    b.login(api, circle).await;
    let mut ws_b = api.ws(b.token()).await.ok().unwrap();
    ws_b.expect("hello").await;

    // Two appends race for seq 2: exactly one wins.
    let e1 = a.sign(circle, 2, add_b.hash(), EntryBody::NewEpoch(commit(2)));
    let e2 = a.sign(circle, 2, add_b.hash(), EntryBody::NewEpoch(commit(3)));
    let (r1, r2) = tokio::join!(
        api.post(&log_path, a.token(), append_body(&e1)),
        api.post(&log_path, a.token(), append_body(&e2)),
    );
    let mut statuses = [r1.status, r2.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", r1.body, r2.body);
    let (winner, loser) = if r1.status == 201 {
        (e1, &r2)
    } else {
        (e2, &r1)
    };
    assert_error(loser, 409, "conflict", "the append that lost the race");
    assert_eq!(ws_b.expect("circle").await["head_seq"], 2);
    let stale = a.sign(circle, 2, add_b.hash(), EntryBody::NewEpoch(commit(4)));
    let r = api.post(&log_path, a.token(), append_body(&stale)).await;
    assert_error(&r, 409, "conflict", "a prev_hash that is not the head");

    let page = api
        .get_ok(&format!("{log_path}?after=0&limit=1"), a.token())
        .await;
    assert_eq!(page["entries"][0]["seq"], 1, "{page}");
    assert_eq!(
        (page["more"].clone(), page["head_seq"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(page["head_hash"], b64(winner.hash().as_bytes()));
    let r = api.get(&format!("{log_path}?after=zero"), a.token()).await;
    assert_eq!(r.status, 400, "a query that is not a number: {}", r.body);

    // A member may post an entry another member signed (a device puts
    // back what a restored server lost), never one a non-member signed.
    let by_outsider = outsider.sign(circle, 3, winner.hash(), EntryBody::NewEpoch(commit(5)));
    let r = api
        .post(&log_path, a.token(), append_body(&by_outsider))
        .await;
    assert_error(&r, 403, "forbidden", "an entry signed by a non-member");

    // Shares, announced on B's socket.
    let shares_path = format!("/v1/circles/{circle}/shares");
    let share = b64(&[0xab; 150]);
    let body = json!({"shares": [{"recipient": b.peer().to_string(), "share": share}]});
    let r = api.post(&shares_path, None, body.clone()).await;
    assert_error(&r, 401, "unauthorized", "shares without a token");
    assert_eq!(
        api.post_ok(&shares_path, a.token(), body, 201).await,
        json!({"stored": 1})
    );
    ws_b.expect("shares").await;
    let got = api.get_ok(&shares_path, b.token()).await;
    let list = got["shares"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{got}");
    assert_eq!(
        (&list[0]["sender"], &list[0]["share"]),
        (&json!(a.peer().to_string()), &json!(share))
    );
    let after = list[0]["id"].as_i64().unwrap();
    let got = api
        .get_ok(&format!("{shares_path}?after={after}"), b.token())
        .await;
    assert_eq!(got, json!({"shares": []}));
    assert_eq!(
        api.get_ok(&shares_path, a.token()).await,
        json!({"shares": []}),
        "A got none"
    );

    // Another circle's member is forbidden here.
    let mut d = Device::new(rng);
    let other = Uuid::new_v4();
    let g = d.sign(
        other,
        0,
        EntryHash::ZERO,
        EntryBody::Genesis {
            founder: d.id.public(),
            name: name(),
            epochs: vec![commit(1)],
        },
    );
    api.post_ok("/v1/circles", None, wire(&g), 201).await;
    d.login(api, other).await;
    let r = api.get(&log_path, d.token()).await;
    assert_error(&r, 403, "forbidden", "another circle's log");
    let r = api.get(&shares_path, d.token()).await;
    assert_error(&r, 403, "forbidden", "another circle's shares");

    // A removes B: B's socket closes, its token stops working, and a
    // challenge it got while a member buys it no new token.
    let b_answer = b.answer(api, circle).await;
    // Without a cut (the legacy kind) it is refused; at the zone's state
    // (nothing written yet), with its list, it is appended.
    let legacy = a.sign(
        circle,
        3,
        winner.hash(),
        EntryBody::RemovePeer { peer: b.peer() },
    );
    let r = api.post(&log_path, a.token(), append_body(&legacy)).await;
    assert_error(&r, 400, "invalid", "a removal without its cut");
    let list = CutList::new("keychain", Vec::new()).unwrap();
    let remove = a.sign(
        circle,
        3,
        winner.hash(),
        EntryBody::Removal {
            peer: b.peer(),
            epoch: commit(2),
            cuts: vec![list.cut(1, 0, [0; 32])],
        },
    );
    let mut body = append_body(&remove);
    body["cuts"] = json!([{"zone": "keychain", "list": b64(&list.to_bytes())}]);
    api.post_ok(&log_path, a.token(), body, 201).await;
    // Its list, beside the log; none for an entry that is no removal.
    let cuts = format!("/v1/circles/{circle}/cuts");
    let r = api.get(&format!("{cuts}/3/keychain"), a.token()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.bytes, list.to_bytes());
    let r = api.get(&format!("{cuts}/2/keychain"), a.token()).await;
    assert_error(&r, 404, "not_found", "a cut list of no removal");
    loop {
        match ws_b.next().await {
            None => break,
            Some(f) => assert_eq!(f["type"], "circle", "B's last frames: {f}"),
        }
    }
    let r = api.get(&log_path, b.token()).await;
    assert_error(&r, 401, "unauthorized", "a removed member's token");
    let r = api.post("/v1/auth/token", None, b_answer).await;
    assert_error(&r, 403, "forbidden", "a token for a removed member");
    Founded { circle, a, d }
}

/// Invites, joining, and the relay in both directions.
pub async fn pairing_relay(api: &Api<'_>, f: &Founded) {
    let invites = format!("/v1/circles/{}/invites", f.circle);
    let id = invite_id();
    let r = api.post(&invites, None, json!({"invite_id": id})).await;
    assert_error(&r, 401, "unauthorized", "an invite without a token");
    let r = api
        .post(&invites, f.d.token(), json!({"invite_id": id}))
        .await;
    assert_error(&r, 403, "forbidden", "an invite into another circle");
    let r = api
        .post_ok(
            &invites,
            f.a.token(),
            json!({"invite_id": id, "ttl_secs": 600}),
            201,
        )
        .await;
    assert_eq!(r, json!({"invite_id": id, "expires_in": 600}));

    let r = api
        .post(
            &format!("/v1/invites/{}/join", invite_id()),
            None,
            json!({"message": "AQID"}),
        )
        .await;
    assert_error(&r, 404, "not_found", "an unknown invite");
    let join = format!("/v1/invites/{id}/join");
    let hello = b64(b"the joiner's hello");
    let r = api
        .post_ok(&join, None, json!({"message": hello}), 201)
        .await;
    let relay = r["relay_token"].as_str().unwrap().to_owned();
    let r = api.post(&join, None, json!({"message": hello})).await;
    assert_error(&r, 410, "gone", "an invite already joined");

    let messages = format!("/v1/invites/{id}/messages");
    let r = api.get(&messages, None).await;
    assert_error(&r, 401, "unauthorized", "messages without a token");
    let r = api.get(&messages, f.d.token()).await;
    assert_error(
        &r,
        403,
        "forbidden",
        "another circle's member reads the relay",
    );
    let got = api.get_ok(&messages, f.a.token()).await;
    let list = got["messages"].as_array().unwrap();
    assert_eq!(list.len(), 1, "the inviter sees the joiner's hello: {got}");
    assert_eq!(list[0]["message"], hello);
    let after = list[0]["seq"].as_u64().unwrap();
    assert_eq!(
        api.get_ok(&format!("{messages}?after={after}"), f.a.token())
            .await,
        json!({"messages": []})
    );
    assert_eq!(
        api.get_ok(&messages, Some(&relay)).await,
        json!({"messages": []}),
        "the joiner does not see its own message"
    );

    // A long poll: the joiner waits, the inviter answers.
    let reply = b64(b"the inviter's hello");
    let waited = Instant::now();
    let poll = format!("{messages}?after=0&wait=10");
    let (got, sent) = tokio::join!(api.get(&poll, Some(&relay)), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        api.post(&messages, f.a.token(), json!({"message": reply}))
            .await
    });
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(
        waited.elapsed() < Duration::from_secs(8),
        "the wait ended when a message came"
    );
    let list = got.body["messages"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", got.body);
    assert_eq!(
        (&list[0]["message"], &list[0]["seq"]),
        (&json!(reply), &sent.body["seq"])
    );
    let r = api
        .post(
            &messages,
            Some(&relay),
            json!({"message": b64(b"the joiner's answer")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .get(&format!("/v1/circles/{}/log", f.circle), Some(&relay))
        .await;
    assert_error(&r, 401, "unauthorized", "a relay token outside its invite");

    // An invite past its time.
    let short = invite_id();
    api.post_ok(
        &invites,
        f.a.token(),
        json!({"invite_id": short, "ttl_secs": 1}),
        201,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = api
        .post(
            &format!("/v1/invites/{short}/join"),
            None,
            json!({"message": hello}),
        )
        .await;
    assert_error(&r, 410, "gone", "an expired invite");
}
