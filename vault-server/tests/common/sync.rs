//! Helpers of the sync tests: a circle of two logged-in devices, records
//! built and encoded with vault-core, and raw (binary) requests.

use super::*;
use reqwest::header::CONTENT_TYPE;
use vault_core::sync::{
    ChangesPage, RecordParts, SealedRecord, SignedManifest, TaggedRecord, encode_records,
};

/// The zone the tests use.
pub const ZONE: &str = "keychain";

/// A circle whose founder `a` added `b`; both hold a token.
pub struct Pair {
    pub s: Server,
    pub circle: Uuid,
    pub a: Device,
    pub ta: String,
    pub b: Device,
    pub tb: String,
}

/// A [`Pair`] on a server whose config `tweak` adjusts.
pub async fn pair_with(tweak: impl FnOnce(&mut Config)) -> Pair {
    let s = Server::with(tweak).await;
    let (a, b) = (Device::new(), Device::new());
    let (circle, genesis) = create_circle(&s, &a).await;
    let ta = login(&s, &a, circle).await;
    add_peer(&s, &ta, circle, &a, &genesis, &b).await;
    let tb = login(&s, &b, circle).await;
    Pair {
        s,
        circle,
        a,
        ta,
        b,
        tb,
    }
}

pub async fn pair() -> Pair {
    pair_with(|_| {}).await
}

/// The uuid `n` of `bucket` (its first byte).
pub fn uuid_in(bucket: u8, n: u32) -> Uuid {
    let mut b = [0x42; 16];
    b[0] = bucket;
    b[12..].copy_from_slice(&n.to_be_bytes());
    Uuid::from_bytes(b)
}

/// A record by `writer`; its ciphertext differs with uuid and gencount. The
/// server does not verify record signatures (devices do): any 64 bytes do.
pub fn record(writer: &Device, uuid: Uuid, gencount: u64, tomb: bool) -> SealedRecord {
    let mut encitem = uuid.as_bytes().to_vec();
    encitem.extend(gencount.to_be_bytes());
    encitem.extend([0xe1; 40]);
    SealedRecord::from_parts(RecordParts {
        uuid,
        gencount,
        epoch: 1,
        tomb,
        circle_pos: 1,
        writer: writer.peer(),
        wrappedkey: vec![gencount as u8; 60],
        encitem,
        signature: [0x5a; 64],
    })
    .unwrap()
}

/// `rec` with some parts changed (as a misbehaving device would send it).
pub fn with(rec: SealedRecord, f: impl FnOnce(&mut RecordParts)) -> SealedRecord {
    let mut parts = rec.into_parts();
    f(&mut parts);
    SealedRecord::from_parts(parts).unwrap()
}

/// `record` based on the change tag `tag`.
pub fn tagged(tag: u64, record: SealedRecord) -> TaggedRecord {
    TaggedRecord { tag, record }
}

/// A response with its body as bytes.
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn reply(&self) -> Reply {
        Reply {
            status: self.status,
            headers: self.headers.clone(),
            text: String::from_utf8_lossy(&self.body).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        self.reply().json()
    }

    pub fn assert_error(&self, status: u16, code: &str) {
        self.reply().assert_error(status, code);
    }
}

/// `/v1/circles/{circle}/zones/keychain/{rest}`.
pub fn zone_path(circle: Uuid, rest: &str) -> String {
    format!("/v1/circles/{circle}/zones/{ZONE}/{rest}")
}

/// Any request, with an optional content type and a raw body.
pub async fn raw(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Raw {
    let mut req = s.http.request(method, format!("{}{path}", s.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(c) = content_type {
        req = req.header(CONTENT_TYPE, c);
    }
    let r = req.body(body).send().await.unwrap();
    Raw {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// `POST .../records` with `records` encoded by vault-core.
pub async fn push(s: &Server, token: &str, circle: Uuid, records: &[TaggedRecord]) -> Raw {
    raw(
        s,
        reqwest::Method::POST,
        &zone_path(circle, "records"),
        Some(token),
        Some("application/vnd.vault.records"),
        encode_records(records),
    )
    .await
}

/// A push that must answer 200; its JSON.
pub async fn push_ok(s: &Server, token: &str, circle: Uuid, records: &[TaggedRecord]) -> Value {
    let r = push(s, token, circle, records).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply().text);
    r.json()
}

/// The seq of each saved record of a push answer (panics on a conflict).
pub fn saved_seqs(answer: &Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "saved", "{answer}");
            r["seq"].as_u64().unwrap()
        })
        .collect()
}

/// `GET .../changes?{query}`.
pub async fn changes(s: &Server, token: &str, circle: Uuid, query: &str) -> Raw {
    let path = zone_path(circle, &format!("changes?{query}"));
    raw(
        s,
        reqwest::Method::GET,
        &path,
        Some(token),
        None,
        Vec::new(),
    )
    .await
}

/// A changes page that must answer 200, decoded by vault-core.
pub async fn changes_ok(s: &Server, token: &str, circle: Uuid, query: &str) -> ChangesPage {
    let r = changes(s, token, circle, query).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply().text);
    assert_eq!(r.headers["content-type"], "application/vnd.vault.changes");
    ChangesPage::decode(&r.body).unwrap()
}

/// `GET .../manifest` (with the buckets if asked); its JSON.
pub async fn manifest(s: &Server, token: &str, circle: Uuid, buckets: bool) -> Value {
    let r = s
        .get(
            &zone_path(circle, &format!("manifest?buckets={buckets}")),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()
}

/// `d`'s signed manifest of [`ZONE`] at `counter`, having reached seq `seq`.
pub fn signed_manifest(d: &Device, circle: Uuid, counter: u64, seq: u64) -> SignedManifest {
    let token = vault_core::sync::Token { epoch: 1, seq };
    SignedManifest::sign(&d.identity, circle, ZONE, counter, token, 1, [0xcd; 32], 3)
}

/// The JSON body of a `PUT .../manifests/{peer_id}`.
pub fn manifest_json(m: &SignedManifest) -> Value {
    json!({"manifest": b64(&m.body()), "signature": b64(&m.signature)})
}

/// `PUT .../manifests/{peer_hex}` with `m`.
pub async fn put_manifest(
    s: &Server,
    token: &str,
    circle: Uuid,
    peer_hex: &str,
    m: &SignedManifest,
) -> Reply {
    let path = zone_path(circle, &format!("manifests/{peer_hex}"));
    s.call(
        reqwest::Method::PUT,
        &path,
        Some(token),
        Some(manifest_json(m)),
    )
    .await
}
