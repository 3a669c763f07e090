//! The circle log: `POST /v1/circles` (a genesis), `GET` and `POST
//! /v1/circles/{circle_id}/log`. Entries travel as the base64url of their
//! canonical bytes and signature; `vault_core::circle` decodes them.

use crate::codec::{DecodeError, Expected, b64, parse_uuid, unb64, unb64_array, uuid_text};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vault_core::circle::{EntryHash, SignedEntry};

/// An entry's bytes and signature, base64-decoded but not yet decoded as
/// an entry (the server checks them with its own rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBytes {
    /// The entry's canonical bytes.
    pub entry: Vec<u8>,
    /// The signer's signature over them (its length is checked with it).
    pub signature: Vec<u8>,
}

impl EntryBytes {
    fn decode(entry: &str, signature: &str) -> Result<EntryBytes, DecodeError> {
        Ok(EntryBytes {
            entry: unb64("entry", entry)?,
            signature: unb64("signature", signature)?,
        })
    }

    /// The signed entry they make.
    pub fn signed(&self) -> Result<SignedEntry, DecodeError> {
        SignedEntry::decode(&self.entry, &self.signature)
            .map_err(|e| DecodeError::new("entry", Expected::Entry(e)))
    }
}

/// `POST /v1/circles` body. Its `Debug` never shows the registration
/// token (a one-time secret).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// The genesis entry, base64url.
    pub entry: String,
    /// Its signature, base64url.
    pub signature: String,
    /// A registration token from the server's admin, when its policy asks
    /// for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token: Option<String>,
}

impl std::fmt::Debug for CreateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateRequest")
            .field("entry", &self.entry)
            .field("signature", &self.signature)
            .field(
                "registration_token",
                &self.registration_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl CreateRequest {
    /// The request registering `genesis`, with `registration_token` if given.
    pub fn new(genesis: &SignedEntry, registration_token: Option<String>) -> CreateRequest {
        CreateRequest {
            entry: b64(genesis.entry_bytes()),
            signature: b64(genesis.signature()),
            registration_token,
        }
    }

    /// The entry's bytes and signature.
    pub fn decode(&self) -> Result<EntryBytes, DecodeError> {
        EntryBytes::decode(&self.entry, &self.signature)
    }
}

/// `POST /v1/circles` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateResponse {
    /// The new circle, a hyphenated UUID.
    pub circle_id: String,
    /// The genesis entry's seq (0).
    pub seq: u64,
    /// The genesis entry's hash, base64url.
    pub hash: String,
}

impl CreateResponse {
    /// The answer for a circle whose genesis entry has `hash`.
    pub fn new(circle_id: Uuid, hash: &EntryHash) -> CreateResponse {
        CreateResponse {
            circle_id: uuid_text(&circle_id),
            seq: 0,
            hash: b64(hash.as_bytes()),
        }
    }

    /// The circle.
    pub fn circle_id(&self) -> Result<Uuid, DecodeError> {
        parse_uuid("circle_id", &self.circle_id)
    }

    /// The genesis entry's hash.
    pub fn hash(&self) -> Result<EntryHash, DecodeError> {
        unb64_array("hash", &self.hash).map(EntryHash)
    }
}

/// `GET .../log` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    /// Entries with a greater seq (default: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Most entries in the page (default and most: 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One entry of a log page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The entry's seq.
    pub seq: u64,
    /// The entry's bytes, base64url.
    pub entry: String,
    /// Its signature, base64url.
    pub signature: String,
}

impl LogEntry {
    /// The entry at `seq` with these bytes and signature.
    pub fn new(seq: u64, entry: &[u8], signature: &[u8]) -> LogEntry {
        LogEntry {
            seq,
            entry: b64(entry),
            signature: b64(signature),
        }
    }

    /// The signed entry (decoded, its signature not verified).
    pub fn decode(&self) -> Result<SignedEntry, DecodeError> {
        EntryBytes::decode(&self.entry, &self.signature)?.signed()
    }
}

/// `GET .../log` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogResponse {
    /// The page's entries, in seq order.
    pub entries: Vec<LogEntry>,
    /// The log's head seq.
    pub head_seq: u64,
    /// The head's hash, base64url.
    pub head_hash: String,
    /// Whether entries past this page exist.
    pub more: bool,
}

/// A [`LogResponse`], decoded.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// The page's entries (decoded, not verified).
    pub entries: Vec<SignedEntry>,
    /// The log's head seq.
    pub head_seq: u64,
    /// The head's hash.
    pub head_hash: EntryHash,
    /// Whether entries past this page exist.
    pub more: bool,
}

impl LogResponse {
    /// The page's entries and head. An entry that does not decode fails
    /// the page.
    pub fn decode(&self) -> Result<LogPage, DecodeError> {
        Ok(LogPage {
            head_hash: unb64_array("head_hash", &self.head_hash).map(EntryHash)?,
            entries: self
                .entries
                .iter()
                .map(LogEntry::decode)
                .collect::<Result<_, _>>()?,
            head_seq: self.head_seq,
            more: self.more,
        })
    }
}

/// `POST .../log` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendRequest {
    /// The head's hash the entry follows, base64url.
    pub prev_hash: String,
    /// The entry's bytes, base64url.
    pub entry: String,
    /// Its signature, base64url.
    pub signature: String,
    /// A removal entry's cut lists, one per zone it cuts (left out for
    /// every other entry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<CutUpload>,
}

/// One zone's cut list, posted with the removal entry that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutUpload {
    /// The zone.
    pub zone: String,
    /// The list's canonical bytes (`vault_core::circle::CutList`), base64url.
    pub list: String,
}

impl AppendRequest {
    /// The request appending `entry` after the head `prev`.
    pub fn new(prev: EntryHash, entry: &SignedEntry) -> AppendRequest {
        AppendRequest {
            prev_hash: b64(prev.as_bytes()),
            entry: b64(entry.entry_bytes()),
            signature: b64(entry.signature()),
            cuts: Vec::new(),
        }
    }

    /// The request appending a removal entry with its cut lists
    /// (zone, list bytes).
    pub fn with_cuts(
        prev: EntryHash,
        entry: &SignedEntry,
        lists: &[(String, Vec<u8>)],
    ) -> AppendRequest {
        AppendRequest {
            cuts: lists
                .iter()
                .map(|(zone, list)| CutUpload {
                    zone: zone.clone(),
                    list: b64(list),
                })
                .collect(),
            ..AppendRequest::new(prev, entry)
        }
    }

    /// The cut lists: (zone, list bytes).
    pub fn cut_lists(&self) -> Result<Vec<(String, Vec<u8>)>, DecodeError> {
        self.cuts
            .iter()
            .map(|c| Ok((c.zone.clone(), unb64("cuts.list", &c.list)?)))
            .collect()
    }

    /// The head's hash, and the entry's bytes and signature.
    pub fn decode(&self) -> Result<([u8; 32], EntryBytes), DecodeError> {
        Ok((
            unb64_array("prev_hash", &self.prev_hash)?,
            EntryBytes::decode(&self.entry, &self.signature)?,
        ))
    }
}

/// `POST .../log` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendResponse {
    /// The entry's seq.
    pub seq: u64,
    /// Its hash, the log's new head, base64url.
    pub hash: String,
}

impl AppendResponse {
    /// The entry's hash.
    pub fn hash(&self) -> Result<EntryHash, DecodeError> {
        unb64_array("hash", &self.hash).map(EntryHash)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn log_pages_are_pinned() {
        let page = LogResponse {
            entries: vec![LogEntry::new(1, &[1, 2], &[3])],
            head_seq: 1,
            head_hash: b64(&[9; 32]),
            more: false,
        };
        let json = serde_json::to_string(&page).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"entries":[{{"seq":1,"entry":"AQI","signature":"Aw"}}],"head_seq":1,"head_hash":"{}","more":false}}"#,
                b64(&[9; 32])
            )
        );
        assert_eq!(serde_json::from_str::<LogResponse>(&json).unwrap(), page);
        // The entry bytes are no entry: the page does not decode.
        assert_eq!(
            page.decode().unwrap_err().to_string(),
            "entry: signature has length 1, expected 64"
        );
        let empty = LogResponse {
            entries: Vec::new(),
            ..page
        };
        let decoded = empty.decode().unwrap();
        assert_eq!(decoded.head_hash, EntryHash([9; 32]));
        assert!(decoded.entries.is_empty());
        let short = LogResponse {
            head_hash: b64(&[9; 31]),
            ..empty
        };
        assert_eq!(
            short.decode().unwrap_err().to_string(),
            "head_hash: expected 32 bytes"
        );
    }

    /// A signed entry (a removal, the simplest body).
    pub(crate) fn signed_entry() -> SignedEntry {
        use vault_core::circle::{Entry, EntryBody};
        use vault_core::crypto::{DeviceIdentity, VaultRng};
        let identity = DeviceIdentity::generate(&mut VaultRng::new().unwrap());
        Entry {
            circle_id: Uuid::from_bytes([1; 16]),
            seq: 1,
            prev: EntryHash([2; 32]),
            signer: identity.peer_id(),
            time: 1_700_000_000,
            body: EntryBody::RemovePeer {
                peer: vault_core::circle::PeerId::from_bytes([3; 32]),
            },
        }
        .sign(&identity)
        .unwrap()
    }

    #[test]
    fn entries_round_trip() {
        let signed = signed_entry();
        let e = LogEntry::new(1, signed.entry_bytes(), signed.signature());
        let back = e.decode().unwrap();
        assert_eq!(back.entry_bytes(), signed.entry_bytes());
        assert_eq!(back.hash(), signed.hash());
        let create = CreateRequest::new(&signed, None);
        assert_eq!(
            create.decode().unwrap().signed().unwrap().hash(),
            signed.hash()
        );
        // The registration token goes on the wire, never into Debug.
        let with = CreateRequest::new(&signed, Some("vreg_secret".into()));
        assert!(
            serde_json::to_string(&with)
                .unwrap()
                .contains("vreg_secret")
        );
        let shown = format!("{with:?}");
        assert!(
            !shown.contains("vreg_secret") && shown.contains("redacted"),
            "{shown}"
        );
        let append = AppendRequest::new(EntryHash([2; 32]), &signed);
        let (prev, bytes) = append.decode().unwrap();
        assert_eq!(prev, [2; 32]);
        assert_eq!(bytes.signed().unwrap().hash(), signed.hash());
        let mut cut = signed.entry_bytes().to_vec();
        cut.pop();
        let cut = LogEntry::new(1, &cut, signed.signature());
        assert_eq!(
            cut.decode().unwrap_err().to_string(),
            "entry: entry is truncated"
        );
        let answer = CreateResponse::new(Uuid::from_bytes([1; 16]), &signed.hash());
        assert_eq!(answer.circle_id().unwrap(), Uuid::from_bytes([1; 16]));
        assert_eq!(answer.hash().unwrap(), signed.hash());
    }

    #[test]
    fn queries_leave_out_what_is_unset() {
        let q = LogQuery::default();
        assert_eq!(serde_json::to_string(&q).unwrap(), "{}");
        let q = LogQuery {
            after: Some(4),
            limit: None,
        };
        assert_eq!(serde_json::to_string(&q).unwrap(), r#"{"after":4}"#);
    }

    #[test]
    fn appends_decode_in_field_order() {
        let req = AppendRequest {
            prev_hash: b64(&[1; 32]),
            entry: "AQ".into(),
            signature: "!".into(),
            cuts: Vec::new(),
        };
        assert_eq!(
            req.decode().unwrap_err().to_string(),
            "signature: not base64url"
        );
        let req = AppendRequest {
            prev_hash: "AQ".into(),
            ..req
        };
        assert_eq!(
            req.decode().unwrap_err().to_string(),
            "prev_hash: expected 32 bytes"
        );
        let ok = AppendRequest {
            prev_hash: b64(&[1; 32]),
            entry: "AQ".into(),
            signature: "Ag".into(),
            cuts: vec![CutUpload {
                zone: "keychain".into(),
                list: "Aw".into(),
            }],
        };
        let (prev, bytes) = ok.decode().unwrap();
        assert_eq!(prev, [1; 32]);
        assert_eq!(bytes.entry, vec![1]);
        assert_eq!(bytes.signature, vec![2]);
        assert_eq!(ok.cut_lists().unwrap(), [("keychain".to_owned(), vec![3])]);
        // Left out of the JSON of an entry that cuts nothing.
        let plain = AppendRequest {
            cuts: Vec::new(),
            ..ok
        };
        assert!(!serde_json::to_string(&plain).unwrap().contains("cuts"));
        let answer: AppendResponse =
            serde_json::from_str(&format!(r#"{{"seq":3,"hash":"{}"}}"#, b64(&[5; 32]))).unwrap();
        assert_eq!(answer.hash().unwrap(), EntryHash([5; 32]));
    }
}
