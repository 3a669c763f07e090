//! The sync half of the contract test: every zone route (changes, push,
//! manifest, buckets, signed manifests) with its success and error answers,
//! binary bodies encoded and decoded by vault-core, a `zone` frame on
//! another device's socket, and tombstone collection.

use crate::contract::{Api, Body, assert_error, b64};
use crate::device::{Device, append_body, commit, invite_id, name, wire};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use uuid::Uuid;
use vault_core::circle::{EntryBody, EntryHash, SignedEntry};
use vault_core::crypto::VaultRng;
use vault_core::sync::{
    ChangesPage, RecordParts, SealedRecord, SignedManifest, TaggedRecord, Token, decode_records,
    encode_records,
};

const RECORDS: &str = "application/vnd.vault.records";

/// A record by `writer`. The server does not verify record signatures
/// (devices do): any 64 bytes
/// stand in for one here.
fn record(
    writer: &Device,
    uuid: Uuid,
    gencount: u64,
    tomb: bool,
    encitem_len: usize,
) -> SealedRecord {
    SealedRecord::from_parts(RecordParts {
        uuid,
        gencount,
        epoch: 1,
        tomb,
        circle_pos: 1,
        writer: writer.peer(),
        wrappedkey: vec![0x3c; 60],
        encitem: vec![gencount as u8; encitem_len],
        signature: [0x5a; 64],
    })
    .unwrap()
}

fn tagged(tag: u64, record: SealedRecord) -> TaggedRecord {
    TaggedRecord { tag, record }
}

fn uuid_in(bucket: u8, n: u8) -> Uuid {
    let mut b = [n; 16];
    b[0] = bucket;
    Uuid::from_bytes(b)
}

fn manifest(d: &Device, circle: Uuid, zone: &str, counter: u64, seq: u64) -> SignedManifest {
    let token = Token { epoch: 1, seq };
    SignedManifest::sign(&d.id, circle, zone, counter, token, 1, [7; 32], 1)
}

fn manifest_json(m: &SignedManifest) -> serde_json::Value {
    json!({"manifest": b64(&m.body()), "signature": b64(&m.signature)})
}

fn unb64(v: &serde_json::Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
}

/// A circle `a` founds, logged in: its id and genesis entry.
async fn found(api: &Api<'_>, a: &mut Device) -> (Uuid, SignedEntry) {
    let circle = Uuid::new_v4();
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
    api.post_ok("/v1/circles", None, wire(&genesis), 201).await;
    a.login(api, circle).await;
    (circle, genesis)
}

/// `a` appends `b` to the circle right after its genesis.
async fn add_peer(
    api: &Api<'_>,
    a: &Device,
    circle: Uuid,
    genesis: &SignedEntry,
    b: &Device,
) -> crate::contract::Resp {
    let add = a.sign(
        circle,
        1,
        genesis.hash(),
        EntryBody::AddPeer {
            peer: b.id.public(),
            name: name(),
        },
    );
    let log = format!("/v1/circles/{circle}/log");
    api.post(&log, a.token(), append_body(&add)).await
}

/// A circle of `a` and `b`, both logged in.
async fn two_members(api: &Api<'_>, a: &mut Device, b: &mut Device) -> Uuid {
    let (circle, genesis) = found(api, a).await;
    let r = add_peer(api, a, circle, &genesis, b).await;
    assert_eq!(r.status, 201, "{}", r.body);
    b.login(api, circle).await;
    circle
}

async fn push(
    api: &Api<'_>,
    path: &str,
    token: Option<&str>,
    records: &[TaggedRecord],
) -> crate::contract::Resp {
    api.call(
        "POST",
        path,
        token,
        Body::Raw(RECORDS, encode_records(records)),
    )
    .await
}

/// Every zone route, its answers checked against the document.
pub async fn sync_zones(api: &Api<'_>, rng: &mut VaultRng) {
    let (mut a, mut b) = (Device::new(rng), Device::new(rng));
    let circle = two_members(api, &mut a, &mut b).await;
    let mut d = Device::new(rng);
    let mut d2 = Device::new(rng);
    let elsewhere = two_members(api, &mut d, &mut d2).await;
    assert_ne!(elsewhere, circle);
    let zone = format!("/v1/circles/{circle}/zones/keychain");
    let (changes, records) = (format!("{zone}/changes"), format!("{zone}/records"));

    // An empty zone; the routes' refusals.
    let r = api.get(&changes, a.token()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = ChangesPage::decode(&r.bytes).unwrap();
    assert_eq!((page.token, page.more), (Token { epoch: 1, seq: 0 }, false));
    let r = api.get(&changes, None).await;
    assert_error(&r, 401, "unauthorized", "changes without a token");
    let r = api.get(&changes, d.token()).await;
    assert_error(&r, 403, "forbidden", "another circle's zone");
    let r = api
        .get(
            &format!("/v1/circles/{circle}/zones/Key.Chain/changes"),
            a.token(),
        )
        .await;
    assert_error(&r, 404, "not_found", "a zone name that is not [a-z0-9_-]");

    let mut ws_b = api.ws(b.token()).await.ok().unwrap();
    ws_b.expect("hello").await;

    // Pushes.
    let batch: Vec<TaggedRecord> = (0..4)
        .map(|n| tagged(0, record(&a, uuid_in(n * 60, n), 1, n == 3, 100)))
        .collect();
    let r = push(api, &records, b.token(), &batch).await;
    assert_error(&r, 403, "forbidden", "records another device wrote");
    let r = api
        .call(
            "POST",
            &records,
            a.token(),
            Body::Raw("application/json", encode_records(&batch)),
        )
        .await;
    assert_error(
        &r,
        415,
        "unsupported_media_type",
        "a push that is not a record list",
    );
    let r = api
        .call(
            "POST",
            &records,
            a.token(),
            Body::Raw(RECORDS, b"not a list".to_vec()),
        )
        .await;
    assert_error(&r, 400, "invalid", "an undecodable record list");
    let huge: Vec<TaggedRecord> = (0..17)
        .map(|n| tagged(0, record(&a, uuid_in(1, n), 1, false, 1 << 20)))
        .collect();
    let r = push(api, &records, a.token(), &huge).await;
    assert_error(&r, 413, "too_large", "a push over 16 MiB");
    let r = push(api, &records, a.token(), &batch).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token"], "1.4");
    let zone_frame = ws_b.expect("zone").await;
    assert_eq!(
        zone_frame,
        json!({"type": "zone", "zone": "keychain", "seq": 4})
    );

    // A conflict (B edits item 0 on seq 1 after A's edit) and a record
    // based on a tag for a uuid the server never held.
    let r = push(
        api,
        &records,
        a.token(),
        &[tagged(1, record(&a, uuid_in(0, 0), 2, false, 100))],
    )
    .await;
    assert_eq!(r.body["results"][0]["seq"], 5, "{}", r.body);
    let r = push(
        api,
        &records,
        b.token(),
        &[
            tagged(1, record(&b, uuid_in(0, 0), 2, false, 100)),
            tagged(9, record(&b, uuid_in(9, 9), 1, false, 100)),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let current = decode_records(&unb64(&r.body["results"][0]["current"])).unwrap();
    assert_eq!(current[0].tag, 5);
    assert_eq!(r.body["results"][1]["current"], json!(null));

    // The changes feed: pages, and tokens.
    let r = api
        .get(&format!("{changes}?since=1.0&limit=2"), b.token())
        .await;
    let page = ChangesPage::decode(&r.bytes).unwrap();
    assert_eq!(
        (page.records.len(), page.more, page.token.seq),
        (2, true, 3)
    );
    let r = api.get(&format!("{changes}?since=1.3"), b.token()).await;
    let page = ChangesPage::decode(&r.bytes).unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.tag).collect::<Vec<_>>(),
        [4, 5]
    );
    // Seq 0 reads from the start whatever the epoch; another epoch past 0
    // must resync.
    let r = api.get(&format!("{changes}?since=2.0"), b.token()).await;
    assert_eq!(ChangesPage::decode(&r.bytes).unwrap().records.len(), 4);
    for (since, why) in [("2.1", "another epoch"), ("1.6", "a token from the future")] {
        let r = api
            .get(&format!("{changes}?since={since}"), b.token())
            .await;
        assert_error(&r, 410, "token_expired", why);
    }
    let r = api.get(&format!("{changes}?since=one"), b.token()).await;
    assert_error(&r, 400, "invalid", "a token that is not EPOCH.SEQ");

    // The manifest and buckets.
    let m = api.get_ok(&format!("{zone}/manifest"), b.token()).await;
    assert_eq!(
        (m["token"].clone(), m["count"].clone()),
        (json!("1.5"), json!(3))
    );
    let m = api
        .get_ok(&format!("{zone}/manifest?buckets=true"), b.token())
        .await;
    assert_eq!(unb64(&m["buckets"]).len(), 8192);
    let r = api
        .get(&format!("{zone}/manifest?buckets=2"), b.token())
        .await;
    assert_error(&r, 400, "invalid", "buckets that is not a boolean");
    let r = api
        .get(&format!("{zone}/buckets?ids=0,60,180"), b.token())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let live = decode_records(&r.bytes).unwrap();
    assert_eq!(
        live.iter().map(|r| r.tag).collect::<Vec<_>>(),
        [5, 2],
        "the tombstone is not live"
    );
    let r = api.get(&format!("{zone}/buckets?ids=300"), b.token()).await;
    assert_error(&r, 400, "invalid", "a bucket id past 255");

    // Signed manifests.
    let mine = format!("{zone}/manifests/{}", a.peer());
    let ma = manifest(&a, circle, "keychain", 1, 5);
    let r = api
        .call("PUT", &mine, a.token(), Body::Json(manifest_json(&ma)))
        .await;
    assert_eq!(
        r.body,
        json!({"counter": 1, "divergent": false}),
        "{}",
        r.body
    );
    let r = api
        .call("PUT", &mine, a.token(), Body::Json(manifest_json(&ma)))
        .await;
    assert_error(&r, 409, "conflict", "a counter that does not grow");
    let mut forged = manifest(&a, circle, "keychain", 2, 5);
    forged.signature[3] ^= 1;
    let r = api
        .call("PUT", &mine, a.token(), Body::Json(manifest_json(&forged)))
        .await;
    assert_error(&r, 400, "invalid", "a manifest with a bad signature");
    let theirs = format!("{zone}/manifests/{}", b.peer());
    let mb = manifest(&b, circle, "keychain", 1, 4);
    let r = api
        .call("PUT", &theirs, a.token(), Body::Json(manifest_json(&mb)))
        .await;
    assert_error(&r, 403, "forbidden", "another peer's manifest path");
    let r = api
        .call(
            "PUT",
            &format!("{zone}/manifests/xyz"),
            a.token(),
            Body::Json(manifest_json(&ma)),
        )
        .await;
    assert_error(&r, 404, "not_found", "a peer id that is not 64 hex digits");
    let r = api
        .call(
            "PUT",
            &mine,
            a.token(),
            Body::Raw("text/plain", manifest_json(&ma).to_string().into_bytes()),
        )
        .await;
    assert_error(
        &r,
        415,
        "unsupported_media_type",
        "a manifest that is not JSON",
    );
    let list = api.get_ok(&format!("{zone}/manifests"), b.token()).await;
    assert_eq!(list["manifests"][0]["manifest"], b64(&ma.body()));
    let r = api.get(&format!("{zone}/manifests"), d.token()).await;
    assert_error(&r, 403, "forbidden", "another circle's manifests");

    // B's manifest at 4 completes the set: the tombstone at seq 4 goes,
    // and a token below the new gc_seq expired.
    let r = api
        .call("PUT", &theirs, b.token(), Body::Json(manifest_json(&mb)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.get(&format!("{changes}?since=1.0"), a.token()).await;
    let page = ChangesPage::decode(&r.bytes).unwrap();
    assert!(
        page.records.iter().all(|r| !r.record.tomb()),
        "collected: {:?}",
        page.records
    );
    let r = api.get(&format!("{changes}?since=1.3"), a.token()).await;
    assert_error(
        &r,
        410,
        "token_expired",
        "a token below the collected tombstones",
    );
    let m = api.get_ok(&format!("{zone}/manifest"), a.token()).await;
    assert_eq!(m["manifests"].as_array().unwrap().len(), 2, "{m}");
}

/// A circle at its quotas (one device, one record): an invite, an added
/// device and a push past them are 403 `quota_exceeded`, and nothing of
/// them is stored.
pub async fn quotas(api: &Api<'_>, rng: &mut VaultRng) {
    let (mut a, b) = (Device::new(rng), Device::new(rng));
    let (circle, genesis) = found(api, &mut a).await;

    let invites = format!("/v1/circles/{circle}/invites");
    let r = api
        .post(&invites, a.token(), json!({"invite_id": invite_id()}))
        .await;
    assert_error(&r, 403, "quota_exceeded", "an invite past max_devices");
    let r = add_peer(api, &a, circle, &genesis, &b).await;
    assert_error(&r, 403, "quota_exceeded", "a device added past max_devices");

    let records = format!("/v1/circles/{circle}/zones/keychain/records");
    // At circle position 0: the log holds the genesis alone.
    let two: Vec<TaggedRecord> = (0..2)
        .map(|n| {
            let r = record(&a, uuid_in(n, n), 1, false, 10);
            let parts = RecordParts {
                circle_pos: 0,
                ..r.into_parts()
            };
            tagged(0, SealedRecord::from_parts(parts).unwrap())
        })
        .collect();
    let r = push(api, &records, a.token(), &two).await;
    assert_error(&r, 403, "quota_exceeded", "a push past max_records");
    let r = push(api, &records, a.token(), &two[..1]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
