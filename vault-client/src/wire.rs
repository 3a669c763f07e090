//! The JSON answers of the sync routes (schema/PROTOCOL.md, "Sync"),
//! parsed into vault-core's types: base64url without padding for binary
//! values, tokens as `EPOCH.SEQ`. Anything off-shape is
//! [`TransportError::Malformed`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use uuid::Uuid;
use vault_core::sync::{
    Digest, Manifest, PushReply, PushResult, ServerManifest, SignedManifest, Token, TransportError,
    decode_records,
};

fn b64_field(v: &Value, name: &'static str) -> Result<Vec<u8>, TransportError> {
    let text = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or(TransportError::Malformed(name))?;
    B64.decode(text)
        .map_err(|_| TransportError::Malformed("a value is not base64url"))
}

fn token_field(v: &Value) -> Result<Token, TransportError> {
    v.get("token")
        .and_then(Value::as_str)
        .and_then(Token::parse)
        .ok_or(TransportError::Malformed("no token"))
}

/// `[{"peer_id","manifest","signature"}]`, each decoded (not verified).
pub fn parse_signed_manifests(list: &Value) -> Result<Vec<SignedManifest>, TransportError> {
    list.as_array()
        .ok_or(TransportError::Malformed("the manifests are not a list"))?
        .iter()
        .map(|m| {
            let body = b64_field(m, "manifest")?;
            let sig = b64_field(m, "signature")?;
            SignedManifest::decode(&body, &sig)
                .map_err(|_| TransportError::Malformed("a signed manifest does not decode"))
        })
        .collect()
}

/// `{"token","root","count","buckets"?,"manifests"}` (no `manifests`
/// reads as none: what a server that sent an empty list would say).
pub fn parse_manifest(v: &Value, want_buckets: bool) -> Result<ServerManifest, TransportError> {
    let root: Digest = b64_field(v, "root")?
        .try_into()
        .map_err(|_| TransportError::Malformed("the root is not 32 bytes"))?;
    let count = v
        .get("count")
        .and_then(Value::as_u64)
        .ok_or(TransportError::Malformed("no count"))?;
    let buckets = match v.get("buckets") {
        Some(Value::String(_)) if want_buckets => Some(
            Manifest::from_blob(&b64_field(v, "buckets")?)
                .ok_or(TransportError::Malformed("the buckets are not 8192 bytes"))?,
        ),
        _ => None,
    };
    let manifests = match v.get("manifests") {
        Some(list) => parse_signed_manifests(list)?,
        None => Vec::new(),
    };
    Ok(ServerManifest {
        token: token_field(v)?,
        root,
        count,
        buckets,
        manifests,
    })
}

/// `{"token","results":[{"uuid","status":"saved","seq"} |
/// {"uuid","status":"conflict","current"}]}`.
pub fn parse_push(v: &Value) -> Result<PushReply, TransportError> {
    let list = v
        .get("results")
        .and_then(Value::as_array)
        .ok_or(TransportError::Malformed("no results list"))?;
    let results = list.iter().map(parse_result).collect::<Result<_, _>>()?;
    Ok(PushReply {
        token: token_field(v)?,
        results,
    })
}

fn parse_result(r: &Value) -> Result<PushResult, TransportError> {
    let uuid = r
        .get("uuid")
        .and_then(Value::as_str)
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or(TransportError::Malformed("a result has no uuid"))?;
    match r.get("status").and_then(Value::as_str) {
        Some("saved") => {
            let seq = r
                .get("seq")
                .and_then(Value::as_u64)
                .ok_or(TransportError::Malformed("no seq"))?;
            Ok(PushResult::Saved { uuid, seq })
        }
        Some("conflict") => {
            let current = match r.get("current") {
                None | Some(Value::Null) => None,
                Some(_) => {
                    let bytes = b64_field(r, "current")?;
                    let mut list = decode_records(&bytes).map_err(|_| {
                        TransportError::Malformed("a conflict's record does not decode")
                    })?;
                    if list.len() != 1 {
                        return Err(TransportError::Malformed("a conflict carries one record"));
                    }
                    list.pop().map(Box::new)
                }
            };
            Ok(PushResult::Conflict { uuid, current })
        }
        _ => Err(TransportError::Malformed("a result's status is unknown")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use vault_core::sync::encode_records;

    #[test]
    fn push_replies_parse() {
        let u = Uuid::new_v4();
        let v = json!({"token": "3.17", "results": [
            {"uuid": u.to_string(), "status": "saved", "seq": 17},
            {"uuid": u.to_string(), "status": "conflict", "current": null},
        ]});
        let reply = parse_push(&v).unwrap();
        assert_eq!(reply.token, Token { epoch: 3, seq: 17 });
        assert_eq!(reply.results[0], PushResult::Saved { uuid: u, seq: 17 });
        assert_eq!(
            reply.results[1],
            PushResult::Conflict {
                uuid: u,
                current: None
            }
        );
        let bad = json!({"token": "3.17", "results": [{"uuid": u.to_string(), "status": "what"}]});
        assert!(matches!(
            parse_push(&bad),
            Err(TransportError::Malformed(_))
        ));
        let none = B64.encode(encode_records(&[]));
        let empty = json!({"token": "1.1", "results": [{"uuid": u.to_string(), "status": "conflict", "current": none}]});
        assert!(
            parse_push(&empty).is_err(),
            "a conflict must carry exactly one record"
        );
    }

    #[test]
    fn manifests_parse() {
        let m = Manifest::default();
        let v = json!({"token": "1.5", "root": B64.encode(m.root()), "count": 2,
                       "buckets": B64.encode(m.to_blob())});
        let got = parse_manifest(&v, true).unwrap();
        assert_eq!(got.buckets, Some(m.clone()));
        assert_eq!(got.root, m.root());
        assert_eq!(parse_manifest(&v, false).unwrap().buckets, None);
        let short = json!({"token": "1.5", "root": "AAAA", "count": 2});
        assert!(parse_manifest(&short, false).is_err());
        let no_token = json!({"root": B64.encode(m.root()), "count": 2});
        assert!(parse_manifest(&no_token, false).is_err());
    }

    #[test]
    fn signed_manifests_decode_or_are_malformed() {
        let signed = SignedManifest {
            circle_id: Uuid::new_v4(),
            zone: "keychain".into(),
            signer: vault_core::circle::PeerId::from_bytes([7; 32]),
            counter: 3,
            token: Token { epoch: 1, seq: 4 },
            circle_pos: 2,
            root: [9; 32],
            count: 1,
            signature: [1; 64],
        };
        let entry = json!({"peer_id": signed.signer.to_string(),
                           "manifest": B64.encode(signed.body()),
                           "signature": B64.encode(signed.signature)});
        let v = json!({"token": "1.4", "root": B64.encode([0u8; 32]), "count": 1,
                       "manifests": [entry]});
        assert_eq!(
            parse_manifest(&v, false).unwrap().manifests,
            vec![signed.clone()]
        );
        assert_eq!(
            parse_signed_manifests(&json!([entry])).unwrap(),
            vec![signed]
        );
        let cut = json!([{"peer_id": "x", "manifest": "AAAA", "signature": "AAAA"}]);
        assert!(matches!(
            parse_signed_manifests(&cut),
            Err(TransportError::Malformed(_))
        ));
    }
}
