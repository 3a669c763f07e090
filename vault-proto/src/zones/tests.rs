//! Change tokens, bucket lists and push answers: pinned JSON, round
//! trips, malformed inputs refused.
#![allow(clippy::unwrap_used)]

use super::*;
use uuid::Uuid;
use vault_core::circle::PeerId;
use vault_core::sync::{RecordParts, SealedRecord, TaggedRecord};

fn ids(text: Option<&str>) -> Result<Vec<u8>, DecodeError> {
    BucketsQuery {
        ids: text.map(str::to_owned),
    }
    .ids()
}

#[test]
fn bucket_lists() {
    assert_eq!(ids(Some("0,17,255")).unwrap(), vec![0, 17, 255]);
    assert_eq!(ids(Some("7")).unwrap(), vec![7]);
    let all = (0..=255)
        .map(|i: u32| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(ids(Some(&all)).unwrap().len(), 256);
    let every: Vec<u8> = (0..=255).collect();
    assert_eq!(BucketsQuery::new(&every).ids.as_deref(), Some(all.as_str()));
    let too_many = format!("{all},0");
    for bad in [
        None,
        Some(""),
        Some("256"),
        Some("1,,2"),
        Some("-1"),
        Some(" 1"),
        Some("1,"),
        Some("0x1"),
        Some("0001"),
        Some(too_many.as_str()),
    ] {
        assert_eq!(
            ids(bad).unwrap_err().to_string(),
            "ids: expected 1 to 256 bucket ids (0-255), comma-separated",
            "{bad:?}"
        );
    }
}

#[test]
fn tokens_parse_or_are_invalid() {
    let q = |s: &str| ChangesQuery {
        since: Some(s.to_owned()),
        after: None,
        limit: None,
    };
    assert_eq!(q("1.5").since().unwrap(), Some(Token { epoch: 1, seq: 5 }));
    assert_eq!(ChangesQuery::default().since().unwrap(), None);
    assert_eq!(
        q("1").since().unwrap_err().to_string(),
        "since: expected EPOCH.SEQ"
    );
    assert!(q("x.1").since().is_err());
    let q = ChangesQuery::new(Token { epoch: 2, seq: 9 }, 12, 100);
    assert_eq!(
        serde_json::to_string(&q).unwrap(),
        r#"{"since":"2.9","after":12,"limit":100}"#
    );
}

fn record(uuid: Uuid) -> TaggedRecord {
    TaggedRecord {
        tag: 9,
        record: SealedRecord::from_parts(RecordParts {
            uuid,
            gencount: 3,
            epoch: 1,
            tomb: false,
            circle_pos: 0,
            writer: PeerId::from_bytes([2; 32]),
            wrappedkey: vec![1],
            encitem: vec![2],
            signature: [3; 64],
        })
        .unwrap(),
    }
}

fn reply() -> PushReply {
    let uuid = Uuid::from_bytes([1; 16]);
    PushReply {
        token: Token { epoch: 1, seq: 10 },
        results: vec![
            PushResult::Saved { uuid, seq: 10 },
            PushResult::Conflict {
                uuid,
                current: Some(Box::new(record(uuid))),
            },
            PushResult::Conflict {
                uuid,
                current: None,
            },
        ],
    }
}

#[test]
fn push_answers_are_pinned() {
    let reply = reply();
    let json = PushResponse::from(&reply);
    let v = serde_json::to_value(&json).unwrap();
    let u = Uuid::from_bytes([1; 16]).hyphenated().to_string();
    let blob = v["results"][1]["current"].as_str().unwrap();
    assert_eq!(
        v,
        serde_json::json!({"token": "1.10", "results": [
            {"status": "saved", "uuid": u, "seq": 10},
            {"status": "conflict", "uuid": u, "current": blob},
            {"status": "conflict", "uuid": u, "current": null},
        ]})
    );
    let back = decode_records(&unb64("current", blob).unwrap()).unwrap();
    assert_eq!(back, vec![record(Uuid::from_bytes([1; 16]))]);
    let text = serde_json::to_string(&json).unwrap();
    assert!(text.starts_with(&format!(
        r#"{{"token":"1.10","results":[{{"status":"saved","uuid":"{u}","seq":10}},{{"status":"conflict","uuid":"{u}","current":""#
    )));
    assert!(text.ends_with(&format!(
        r#"{{"status":"conflict","uuid":"{u}","current":null}}]}}"#
    )));
}

#[test]
fn push_answers_round_trip() {
    let reply = reply();
    let text = serde_json::to_string(&PushResponse::from(&reply)).unwrap();
    let json: PushResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(json.decode().unwrap(), reply);
    // A conflict without `current` reads as one with null.
    let u = Uuid::from_bytes([1; 16]);
    let bare: PushResponse = serde_json::from_str(&format!(
        r#"{{"token":"3.17","results":[{{"status":"conflict","uuid":"{u}"}}]}}"#
    ))
    .unwrap();
    assert_eq!(
        bare.decode().unwrap().results,
        vec![PushResult::Conflict {
            uuid: u,
            current: None
        }]
    );
}

#[test]
fn malformed_push_answers_are_refused() {
    let u = Uuid::from_bytes([1; 16]).to_string();
    let unknown = format!(r#"{{"token":"1.1","results":[{{"status":"what","uuid":"{u}"}}]}}"#);
    assert!(serde_json::from_str::<PushResponse>(&unknown).is_err());
    assert!(serde_json::from_str::<PushResponse>(r#"{"token":"1.1"}"#).is_err());
    let conflict = |current: Option<String>| PushResponse {
        token: "1.1".into(),
        results: vec![PushResultJson::Conflict {
            uuid: u.clone(),
            current,
        }],
    };
    let err = |r: PushResponse| r.decode().unwrap_err().to_string();
    let none = b64(&encode_records(&[]));
    assert_eq!(
        err(conflict(Some(none))),
        "current: expected exactly one record"
    );
    let two = b64(&encode_records(&[record(Uuid::nil()), record(Uuid::max())]));
    assert_eq!(
        err(conflict(Some(two))),
        "current: expected exactly one record"
    );
    assert_eq!(
        err(conflict(Some("AAAA".into()))),
        "current: undecodable record list: unknown format version 0"
    );
    assert_eq!(err(conflict(Some("!".into()))), "current: not base64url");
    let bad_token = PushResponse {
        token: "1".into(),
        ..conflict(None)
    };
    assert_eq!(err(bad_token), "token: expected EPOCH.SEQ");
    let bad_uuid = PushResponse {
        token: "1.1".into(),
        results: vec![PushResultJson::Saved {
            uuid: Uuid::from_bytes([1; 16]).simple().to_string(),
            seq: 1,
        }],
    };
    assert_eq!(err(bad_uuid), "uuid: expected a hyphenated UUID");
}
