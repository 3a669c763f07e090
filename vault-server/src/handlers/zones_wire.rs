//! The JSON shapes and query parameters of the sync routes, and their
//! parsing: change tokens as `EPOCH.SEQ`, bucket id lists, binary values as
//! base64url without padding.

use crate::error::ApiError;
use crate::storage::{ManifestRow, PushReply, PushResult, ServerManifest};
use crate::wire::{b64, peer_hex};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use vault_core::sync::{BUCKETS, Token, encode_records};

/// `GET .../changes` query.
#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    /// The token to go on from, `EPOCH.SEQ` (default: the start).
    pub since: Option<String>,
    /// The seq a read that began at `since` has reached (its previous
    /// page's token seq); default `since`'s seq.
    pub after: Option<u64>,
    /// Most records in the page.
    pub limit: Option<u32>,
}

impl ChangesQuery {
    /// The parsed `since`; 400 `invalid` if it is not `EPOCH.SEQ`.
    pub fn since(&self) -> Result<Option<Token>, ApiError> {
        self.since
            .as_deref()
            .map(|t| Token::parse(t).ok_or_else(|| ApiError::invalid("since: expected EPOCH.SEQ")))
            .transpose()
    }
}

/// `GET .../manifest` query.
#[derive(Debug, Deserialize)]
pub struct ManifestQuery {
    /// Whether to include every bucket hash.
    pub buckets: Option<bool>,
}

/// `GET .../buckets` query.
#[derive(Debug, Deserialize)]
pub struct BucketsQuery {
    /// Bucket ids, comma-separated decimals 0 to 255.
    pub ids: Option<String>,
}

impl BucketsQuery {
    /// The bucket ids: 1 to 256 decimals from 0 to 255, comma-separated;
    /// anything else is 400 `invalid`.
    pub fn ids(&self) -> Result<Vec<u8>, ApiError> {
        let bad =
            || ApiError::invalid("ids: expected 1 to 256 bucket ids (0-255), comma-separated");
        let text = self.ids.as_deref().ok_or_else(bad)?;
        let ids = text
            .split(',')
            .map(|id| {
                if id.is_empty() || id.len() > 3 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                id.parse::<u8>().map_err(|_| bad())
            })
            .collect::<Result<Vec<u8>, ApiError>>()?;
        if ids.len() > BUCKETS {
            return Err(bad());
        }
        Ok(ids)
    }
}

/// One record's outcome in a push answer.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum PushResultJson {
    /// Saved at `seq` (its new change tag).
    Saved {
        /// The record's uuid, hyphenated.
        uuid: String,
        /// Its seq.
        seq: u64,
    },
    /// Not saved: the server's current record, as a one-record list
    /// (base64url), or null if it holds none.
    Conflict {
        /// The record's uuid, hyphenated.
        uuid: String,
        /// The current record, `tag` being its seq.
        current: Option<String>,
    },
}

/// `POST .../records` answer.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PushResponse {
    /// The zone's token after the batch.
    pub token: String,
    /// One result per record, in the batch's order.
    pub results: Vec<PushResultJson>,
}

impl PushResponse {
    /// The answer to a push, and how many records it saved and refused.
    pub fn of(reply: &PushReply) -> (PushResponse, u64, u64) {
        let (mut saved, mut conflicts) = (0, 0);
        let results = reply
            .results
            .iter()
            .map(|r| match r {
                PushResult::Saved { uuid, seq } => {
                    saved += 1;
                    PushResultJson::Saved {
                        uuid: uuid.hyphenated().to_string(),
                        seq: *seq,
                    }
                }
                PushResult::Conflict { uuid, current } => {
                    conflicts += 1;
                    PushResultJson::Conflict {
                        uuid: uuid.hyphenated().to_string(),
                        current: current
                            .as_deref()
                            .map(|c| b64(&encode_records(std::slice::from_ref(c)))),
                    }
                }
            })
            .collect();
        let response = PushResponse {
            token: reply.token.to_text(),
            results,
        };
        (response, saved, conflicts)
    }
}

/// `GET .../manifest` answer.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ManifestResponse {
    /// The zone's token.
    pub token: String,
    /// The root over the bucket hashes.
    pub root: String,
    /// Live records.
    pub count: u64,
    /// The 256 bucket hashes, concatenated (8192 bytes), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<String>,
    /// Every peer's latest signed manifest of the zone, by peer id.
    pub manifests: Vec<PeerManifest>,
}

impl From<&ServerManifest> for ManifestResponse {
    fn from(m: &ServerManifest) -> Self {
        ManifestResponse {
            token: m.token.to_text(),
            root: b64(&m.root),
            count: m.count,
            buckets: m.buckets.as_ref().map(|b| b64(&b.to_blob())),
            manifests: m
                .manifests
                .iter()
                .map(|s| PeerManifest {
                    peer_id: peer_hex(s.signer.as_bytes()),
                    manifest: b64(&s.body()),
                    signature: b64(&s.signature),
                })
                .collect(),
        }
    }
}

/// `PUT .../manifests/{peer_id}` body.
#[derive(Debug, Deserialize)]
pub struct PutManifestRequest {
    /// The signed manifest's body (`SignedManifest::body`).
    pub manifest: String,
    /// The signer's Ed25519 signature over it.
    pub signature: String,
}

/// `PUT .../manifests/{peer_id}` answer.
#[derive(Debug, Serialize)]
pub struct PutManifestResponse {
    /// The counter stored.
    pub counter: u64,
}

/// One peer's signed manifest in `GET .../manifests` and `GET .../manifest`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PeerManifest {
    /// The signer.
    pub peer_id: String,
    /// The body, as signed.
    pub manifest: String,
    /// The signature.
    pub signature: String,
}

/// `GET .../manifests` answer.
#[derive(Debug, Serialize)]
pub struct ManifestsResponse {
    /// Every stored manifest of the zone, by peer id.
    pub manifests: Vec<PeerManifest>,
}

impl From<Vec<ManifestRow>> for ManifestsResponse {
    fn from(rows: Vec<ManifestRow>) -> Self {
        ManifestsResponse {
            manifests: rows
                .into_iter()
                .map(|r| PeerManifest {
                    peer_id: peer_hex(&r.peer),
                    manifest: b64(&r.body),
                    signature: b64(&r.signature),
                })
                .collect(),
        }
    }
}

/// A 400 `invalid` with a message built at run time.
pub fn invalid(message: String) -> ApiError {
    ApiError::Invalid(Cow::Owned(message))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use uuid::Uuid;
    use vault_core::circle::PeerId;
    use vault_core::sync::{RecordParts, SealedRecord, TaggedRecord, decode_records};

    fn ids(text: Option<&str>) -> Result<Vec<u8>, ApiError> {
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
            assert!(ids(bad).is_err(), "{bad:?}");
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
        assert!(q("1").since().is_err());
        assert!(q("x.1").since().is_err());
    }

    #[test]
    fn push_answers_are_pinned() {
        let uuid = Uuid::from_bytes([1; 16]);
        let current = TaggedRecord {
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
        };
        let reply = PushReply {
            token: Token { epoch: 1, seq: 10 },
            results: vec![
                PushResult::Saved { uuid, seq: 10 },
                PushResult::Conflict {
                    uuid,
                    current: Some(Box::new(current.clone())),
                },
                PushResult::Conflict {
                    uuid,
                    current: None,
                },
            ],
        };
        let (json, saved, conflicts) = PushResponse::of(&reply);
        assert_eq!((saved, conflicts), (1, 2));
        let v = serde_json::to_value(&json).unwrap();
        let u = uuid.hyphenated().to_string();
        let blob = v["results"][1]["current"].as_str().unwrap();
        assert_eq!(
            v,
            serde_json::json!({"token": "1.10", "results": [
                {"status": "saved", "uuid": u, "seq": 10},
                {"status": "conflict", "uuid": u, "current": blob},
                {"status": "conflict", "uuid": u, "current": null},
            ]})
        );
        let back = decode_records(&crate::wire::unb64("current", blob).unwrap()).unwrap();
        assert_eq!(back, vec![current]);
    }
}
