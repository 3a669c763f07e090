//! Zone manifests end to end: the server's Merkle root against vault-core's
//! own computation over what was pushed, bucket reads, peers' signed
//! manifests (signature, signer and counter rules), and tombstone
//! collection once every current member's manifest passed a tombstone.
#![allow(clippy::unwrap_used)]

mod common;

use common::sync::*;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use uuid::Uuid;
use vault_core::sync::{
    Leaf, Manifest, SealedRecord, SignedManifest, TaggedRecord, content_hash, decode_records,
};

/// What the zone holds after a sequence of saved pushes: the latest
/// version of each uuid.
#[derive(Default)]
struct Model(BTreeMap<Uuid, SealedRecord>);

impl Model {
    fn saved(&mut self, records: &[TaggedRecord]) {
        for r in records {
            self.0.insert(r.record.uuid(), r.record.clone());
        }
    }

    /// vault-core's manifest of the live records.
    fn manifest(&self) -> Manifest {
        let leaves: Vec<Leaf> = self
            .0
            .values()
            .filter(|r| !r.tomb())
            .map(|r| Leaf {
                uuid: r.uuid(),
                gencount: r.gencount(),
                content: content_hash(r.wrappedkey(), r.encitem()),
            })
            .collect();
        Manifest::of(&leaves)
    }
}

#[tokio::test]
async fn the_root_is_vault_cores_manifest_of_the_live_records() {
    let p = pair().await;
    let empty = manifest(&p.s, &p.ta, p.circle, true).await;
    assert_eq!(
        empty,
        json!({"token": "1.0", "root": b64(&Manifest::default().root()), "count": 0,
               "buckets": b64(&Manifest::default().to_blob()), "manifests": []})
    );

    let mut model = Model::default();
    let batch: Vec<TaggedRecord> = (0..40u32)
        .map(|n| tagged(0, record(&p.a, uuid_in((n * 7) as u8, n), 1, n % 10 == 9)))
        .collect();
    push_ok(&p.s, &p.ta, p.circle, &batch).await;
    model.saved(&batch);
    let want = model.manifest();
    let got = manifest(&p.s, &p.tb, p.circle, true).await;
    assert_eq!(got["root"], b64(&want.root()));
    assert_eq!(got["count"], 36, "tombstones are not leaves");
    assert_eq!(got["token"], "1.40");
    assert_eq!(got["buckets"], b64(&want.to_blob()));
    // Cached: asking again (without the buckets) gives the same root.
    let again = manifest(&p.s, &p.ta, p.circle, false).await;
    assert_eq!(again["root"], got["root"]);
    assert!(again.get("buckets").is_none(), "{again}");

    // One more push touches two buckets: a new item in bucket 7, and item
    // 2 (bucket 14) edited. Only those change, and the root with them.
    let more = vec![
        tagged(0, record(&p.b, uuid_in(7, 1000), 1, false)),
        tagged(3, record(&p.b, uuid_in(14, 2), 2, false)),
    ];
    assert_eq!(
        saved_seqs(&push_ok(&p.s, &p.tb, p.circle, &more).await),
        [41, 42]
    );
    model.saved(&more);
    let want2 = model.manifest();
    assert_eq!(want2.differing(&want.buckets), vec![7, 14]);
    let got = manifest(&p.s, &p.ta, p.circle, false).await;
    assert_eq!(got["root"], b64(&want2.root()));
    assert_eq!(got["count"], 37);
    assert_eq!(got["token"], "1.42");
    let got = manifest(&p.s, &p.ta, p.circle, true).await;
    assert_eq!(got["buckets"], b64(&want2.to_blob()));

    // Deleting an item (a tombstone) takes its leaf out.
    let del = vec![tagged(1, record(&p.a, uuid_in(0, 0), 2, true))];
    push_ok(&p.s, &p.ta, p.circle, &del).await;
    model.saved(&del);
    let got = manifest(&p.s, &p.tb, p.circle, false).await;
    assert_eq!(got["root"], b64(&model.manifest().root()));
    assert_eq!(got["count"], 36);

    let r =
        p.s.get(&zone_path(p.circle, "manifest?buckets=maybe"), Some(&p.ta))
            .await;
    r.assert_error(400, "invalid");
}

async fn bucket_ids(p: &Pair, ids: &str) -> Raw {
    let path = zone_path(p.circle, &format!("buckets?ids={ids}"));
    raw(&p.s, Method::GET, &path, Some(&p.ta), None, Vec::new()).await
}

#[tokio::test]
async fn buckets_hold_exactly_their_live_records() {
    let p = pair().await;
    let mut batch = Vec::new();
    for bucket in [0u8, 17, 255] {
        for n in (0..4u32).rev() {
            batch.push(tagged(0, record(&p.a, uuid_in(bucket, n), 1, false)));
        }
    }
    push_ok(&p.s, &p.ta, p.circle, &batch).await;
    // Item 2 of bucket 17 (seq 6) is deleted.
    let u = uuid_in(17, 2);
    push_ok(
        &p.s,
        &p.ta,
        p.circle,
        &[tagged(6, record(&p.a, u, 2, true))],
    )
    .await;

    let r = bucket_ids(&p, "17").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/vnd.vault.records");
    let got = decode_records(&r.body).unwrap();
    let want: Vec<TaggedRecord> = [(0, 8), (1, 7), (3, 5)]
        .into_iter()
        .map(|(n, seq)| tagged(seq, record(&p.a, uuid_in(17, n), 1, false)))
        .collect();
    assert_eq!(got, want, "live only, in uuid order, tag = seq");

    let got = decode_records(&bucket_ids(&p, "255,0").await.body).unwrap();
    assert_eq!(got.len(), 8);
    assert!(got[..4].iter().all(|r| r.record.uuid().as_bytes()[0] == 0));
    assert!(
        got[4..]
            .iter()
            .all(|r| r.record.uuid().as_bytes()[0] == 255)
    );
    assert!(
        decode_records(&bucket_ids(&p, "1,2,3").await.body)
            .unwrap()
            .is_empty()
    );
    let all = (0..=255)
        .map(|i: u32| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        decode_records(&bucket_ids(&p, &all).await.body)
            .unwrap()
            .len(),
        11
    );

    for bad in ["", "256", "1,,2", "a", &format!("{all},1")] {
        bucket_ids(&p, bad).await.assert_error(400, "invalid");
    }
    let r = raw(
        &p.s,
        Method::GET,
        &zone_path(p.circle, "buckets"),
        Some(&p.ta),
        None,
        vec![],
    )
    .await;
    r.assert_error(400, "invalid");
}

#[tokio::test]
async fn a_device_publishes_its_own_signed_manifest_with_a_growing_counter() {
    let p = pair().await;
    let a_hex = p.a.peer_hex();
    let m1 = signed_manifest(&p.a, p.circle, 1, 0);
    let r = put_manifest(&p.s, &p.ta, p.circle, &a_hex, &m1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json(), json!({"counter": 1, "divergent": false}));
    // Not greater than the stored counter: 409.
    put_manifest(&p.s, &p.ta, p.circle, &a_hex, &m1)
        .await
        .assert_error(409, "conflict");
    let m5 = signed_manifest(&p.a, p.circle, 5, 0);
    assert_eq!(
        put_manifest(&p.s, &p.ta, p.circle, &a_hex, &m5)
            .await
            .json(),
        json!({"counter": 5, "divergent": false})
    );
    put_manifest(
        &p.s,
        &p.ta,
        p.circle,
        &a_hex,
        &signed_manifest(&p.a, p.circle, 4, 0),
    )
    .await
    .assert_error(409, "conflict");

    // Another peer's path: 403, whoever signed it.
    let b_hex = p.b.peer_hex();
    let by_b = signed_manifest(&p.b, p.circle, 1, 0);
    put_manifest(&p.s, &p.ta, p.circle, &b_hex, &by_b)
        .await
        .assert_error(403, "forbidden");
    // B's manifest on A's own path: its signer is not the path's.
    put_manifest(&p.s, &p.ta, p.circle, &a_hex, &by_b)
        .await
        .assert_error(400, "invalid");
    // A bad signature.
    let mut forged = signed_manifest(&p.a, p.circle, 9, 0);
    forged.signature[0] ^= 1;
    put_manifest(&p.s, &p.ta, p.circle, &a_hex, &forged)
        .await
        .assert_error(400, "invalid");
    // Signed for another circle, or another zone.
    let other = SignedManifest::sign(
        &p.a.identity,
        Uuid::new_v4(),
        ZONE,
        9,
        vault_core::sync::Token { epoch: 1, seq: 0 },
        1,
        [0; 32],
        0,
    );
    put_manifest(&p.s, &p.ta, p.circle, &a_hex, &other)
        .await
        .assert_error(400, "invalid");
    let path = format!("/v1/circles/{}/zones/notes/manifests/{a_hex}", p.circle);
    p.s.call(Method::PUT, &path, Some(&p.ta), Some(manifest_json(&m5)))
        .await
        .assert_error(400, "invalid");
    // Garbage in the body; a malformed peer id in the path.
    let manifests = zone_path(p.circle, &format!("manifests/{a_hex}"));
    for body in [
        json!({"manifest": "AQID", "signature": b64(&[0; 64])}),
        json!({"manifest": "not base64!", "signature": "AA"}),
        json!({"manifest": b64(&m5.body()), "signature": "AA"}),
    ] {
        p.s.call(Method::PUT, &manifests, Some(&p.ta), Some(body))
            .await
            .assert_error(400, "invalid");
    }
    p.s.call(
        Method::PUT,
        &manifests,
        Some(&p.ta),
        Some(json!({"manifest": 1})),
    )
    .await
    .assert_error(400, "bad_json");
    let bad_peer = zone_path(p.circle, &format!("manifests/{}", a_hex.to_uppercase()));
    p.s.call(
        Method::PUT,
        &bad_peer,
        Some(&p.ta),
        Some(manifest_json(&m5)),
    )
    .await
    .assert_error(404, "not_found");

    // B publishes too; both read back byte for byte, with the manifest.
    put_manifest(&p.s, &p.tb, p.circle, &b_hex, &by_b).await;
    let list =
        p.s.get(&zone_path(p.circle, "manifests"), Some(&p.tb))
            .await
            .json();
    let mut want = vec![(a_hex.clone(), &m5), (b_hex.clone(), &by_b)];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    let want: Vec<_> = want
        .into_iter()
        .map(|(peer, m)| {
            json!({"peer_id": peer, "manifest": b64(&m.body()), "signature": b64(&m.signature)})
        })
        .collect();
    assert_eq!(list, json!({"manifests": want}));
    let got = manifest(&p.s, &p.ta, p.circle, false).await;
    assert_eq!(
        got["manifests"],
        json!(want),
        "one round trip: root and peers"
    );
    let back = SignedManifest::decode(
        &unb64(list["manifests"][0]["manifest"].as_str().unwrap()),
        &unb64(list["manifests"][0]["signature"].as_str().unwrap()),
    )
    .unwrap();
    assert!(back == m5 || back == by_b);
}

#[tokio::test]
async fn tombstones_go_once_every_current_members_manifest_passed_them() {
    let p = pair().await;
    // A third member, C.
    let c = Device::new();
    let log =
        p.s.get(&format!("/v1/circles/{}/log", p.circle), Some(&p.ta))
            .await
            .json();
    let head = vault_core::circle::SignedEntry::decode(
        &unb64(log["entries"][1]["entry"].as_str().unwrap()),
        &unb64(log["entries"][1]["signature"].as_str().unwrap()),
    )
    .unwrap();
    let add_c = add_peer(&p.s, &p.ta, p.circle, &p.a, &head, &c).await;
    let tc = login(&p.s, &c, p.circle).await;

    let (u1, u2, u3, u4) = (uuid_in(1, 1), uuid_in(2, 2), uuid_in(3, 3), uuid_in(4, 4));
    let live = |u| tagged(0, record(&p.a, u, 1, false));
    push_ok(&p.s, &p.ta, p.circle, &[live(u1), live(u2), live(u3)]).await;
    let tombs = [
        tagged(2, record(&p.a, u2, 2, true)),
        tagged(3, record(&p.a, u3, 2, true)),
    ];
    assert_eq!(
        saved_seqs(&push_ok(&p.s, &p.ta, p.circle, &tombs).await),
        [4, 5]
    );
    push_ok(&p.s, &p.ta, p.circle, &[live(u4)]).await;
    let root = manifest(&p.s, &p.ta, p.circle, false).await["root"].clone();
    let tags = |page: vault_core::sync::ChangesPage| {
        page.records.iter().map(|r| r.tag).collect::<Vec<_>>()
    };
    assert_eq!(
        tags(changes_ok(&p.s, &p.ta, p.circle, "").await),
        [1, 4, 5, 6]
    );

    // A and C publish; B has not: nothing is collected.
    put_manifest(
        &p.s,
        &p.ta,
        p.circle,
        &p.a.peer_hex(),
        &signed_manifest(&p.a, p.circle, 1, 6),
    )
    .await;
    put_manifest(
        &p.s,
        &tc,
        p.circle,
        &c.peer_hex(),
        &signed_manifest(&c, p.circle, 1, 2),
    )
    .await;
    assert_eq!(
        tags(changes_ok(&p.s, &p.ta, p.circle, "").await),
        [1, 4, 5, 6]
    );
    assert_eq!(
        changes_ok(&p.s, &p.ta, p.circle, "since=1.1")
            .await
            .records
            .len(),
        3
    );

    // B publishes at 6: every member has, the smallest is C's 2. No
    // tombstone is that old, but gc_seq is 2 now: a token at 1 expired.
    let r = put_manifest(
        &p.s,
        &p.tb,
        p.circle,
        &p.b.peer_hex(),
        &signed_manifest(&p.b, p.circle, 1, 6),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        tags(changes_ok(&p.s, &p.ta, p.circle, "").await),
        [1, 4, 5, 6]
    );
    changes(&p.s, &p.ta, p.circle, "since=1.1")
        .await
        .assert_error(410, "token_expired");
    assert_eq!(
        changes_ok(&p.s, &p.ta, p.circle, "since=1.2")
            .await
            .records
            .len(),
        3
    );

    // C is removed: only A and B count, both at 6. The next manifest
    // collects both tombstones.
    // A cut behind the zone's head is refused: the remover must sync.
    let (body, list) = removal(c.peer(), 2, (1, 5));
    let behind = p.a.sign(p.circle, 3, add_c.hash(), body);
    append_removal(&p.s, &p.ta, p.circle, &behind, &list)
        .await
        .assert_error(409, "zone_moved");
    let (body, list) = removal(c.peer(), 2, (1, 6));
    let remove = p.a.sign(p.circle, 3, add_c.hash(), body);
    assert_eq!(
        append_removal(&p.s, &p.ta, p.circle, &remove, &list)
            .await
            .status,
        StatusCode::CREATED
    );
    // The list is served beside the log, to members.
    let served =
        p.s.get(
            &format!("/v1/circles/{}/cuts/3/{CUT_ZONE}", p.circle),
            Some(&p.tb),
        )
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.text.as_bytes(), &list[..]);
    p.s.get(
        &format!("/v1/circles/{}/cuts/2/{CUT_ZONE}", p.circle),
        Some(&p.tb),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(
        tags(changes_ok(&p.s, &p.ta, p.circle, "").await),
        [1, 4, 5, 6]
    );
    put_manifest(
        &p.s,
        &p.tb,
        p.circle,
        &p.b.peer_hex(),
        &signed_manifest(&p.b, p.circle, 2, 6),
    )
    .await;
    assert_eq!(tags(changes_ok(&p.s, &p.ta, p.circle, "").await), [1, 6]);
    for since in ["1.2", "1.5"] {
        changes(&p.s, &p.ta, p.circle, &format!("since={since}"))
            .await
            .assert_error(410, "token_expired");
    }
    assert!(
        changes_ok(&p.s, &p.ta, p.circle, "since=1.6")
            .await
            .records
            .is_empty()
    );
    // Collecting never changes the root (tombstones are not leaves), and
    // the removed peer's manifest is still listed.
    let after = manifest(&p.s, &p.ta, p.circle, false).await;
    assert_eq!(after["root"], root);
    assert_eq!(after["count"], 2);
    assert_eq!(after["manifests"].as_array().unwrap().len(), 3);
    // An item whose tombstone was collected can be created anew (tag 0).
    let again = tagged(0, record(&p.b, u2, 3, false));
    assert_eq!(
        saved_seqs(&push_ok(&p.s, &p.tb, p.circle, &[again]).await),
        [7]
    );
}

#[tokio::test]
async fn two_current_members_with_different_roots_at_one_token_are_a_divergence() {
    let p = pair().await;
    let (a_hex, b_hex) = (p.a.peer_hex(), p.b.peer_hex());
    let token = vault_core::sync::Token { epoch: 1, seq: 0 };
    let root_a = SignedManifest::sign(&p.a.identity, p.circle, ZONE, 1, token, 1, [0xaa; 32], 3);
    let r = put_manifest(&p.s, &p.ta, p.circle, &a_hex, &root_a).await;
    assert_eq!(r.json(), json!({"counter": 1, "divergent": false}));
    // B agrees: no divergence.
    let same = SignedManifest::sign(&p.b.identity, p.circle, ZONE, 1, token, 1, [0xaa; 32], 3);
    let r = put_manifest(&p.s, &p.tb, p.circle, &b_hex, &same).await;
    assert_eq!(r.json(), json!({"counter": 1, "divergent": false}));
    // B signs another root at the same token: flagged and counted.
    let other = SignedManifest::sign(&p.b.identity, p.circle, ZONE, 2, token, 1, [0xbb; 32], 3);
    let r = put_manifest(&p.s, &p.tb, p.circle, &b_hex, &other).await;
    assert_eq!(r.json(), json!({"counter": 2, "divergent": true}));
    let metrics = p.s.get("/metrics", None).await.text;
    assert!(
        metrics.contains("vault_manifest_divergence_total 1"),
        "{metrics}"
    );
    // At a later token, another root is no divergence (the zone moved).
    let later = vault_core::sync::Token { epoch: 1, seq: 1 };
    let moved = SignedManifest::sign(&p.a.identity, p.circle, ZONE, 2, later, 1, [0xcc; 32], 3);
    let r = put_manifest(&p.s, &p.ta, p.circle, &a_hex, &moved).await;
    assert_eq!(r.json(), json!({"counter": 2, "divergent": false}));
}
