//! Key shares: `POST` and `GET /v1/circles/{circle_id}/shares`. A share is
//! an opaque blob (base64url) a member sealed to another member's X25519
//! key (`vault_core::circle::KeyShare`).

use crate::codec::{DecodeError, PeerBytes, b64, parse_peer, peer_hex, unb64_nonempty};
use serde::{Deserialize, Serialize};
use vault_core::circle::PeerId;

/// One share in a `POST`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingShare {
    /// The member it is sealed to, 64 lowercase hex digits.
    pub recipient: String,
    /// The sealed share, base64url.
    pub share: String,
}

impl OutgoingShare {
    /// The share `blob` for `recipient`.
    pub fn new(recipient: &PeerId, blob: &[u8]) -> OutgoingShare {
        OutgoingShare {
            recipient: recipient.to_string(),
            share: b64(blob),
        }
    }

    /// The recipient and the blob (at least one byte).
    pub fn decode(&self) -> Result<(PeerBytes, Vec<u8>), DecodeError> {
        Ok((
            parse_peer("recipient", &self.recipient)?,
            unb64_nonempty("share", &self.share)?,
        ))
    }
}

/// `POST .../shares` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRequest {
    /// The shares, stored in one transaction.
    pub shares: Vec<OutgoingShare>,
}

/// `POST .../shares` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostResponse {
    /// How many shares were stored.
    pub stored: u64,
}

/// `GET .../shares` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Shares with a greater id (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
}

/// One share in a `GET`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingShare {
    /// The share's id, for `after`.
    pub id: i64,
    /// The member that sealed it, 64 lowercase hex digits.
    pub sender: String,
    /// The sealed share, base64url.
    pub share: String,
}

/// An [`IncomingShare`], decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedShare {
    /// The share's id, for `after`.
    pub id: i64,
    /// The member that sealed it (as the server says: the blob's own
    /// sender is what counts).
    pub sender: PeerId,
    /// The sealed share.
    pub share: Vec<u8>,
}

impl IncomingShare {
    /// The share `id` from `sender`.
    pub fn new(id: i64, sender: &PeerBytes, blob: &[u8]) -> IncomingShare {
        IncomingShare {
            id,
            sender: peer_hex(sender),
            share: b64(blob),
        }
    }

    /// The sender and the blob.
    pub fn decode(&self) -> Result<ReceivedShare, DecodeError> {
        Ok(ReceivedShare {
            id: self.id,
            sender: PeerId::from_bytes(parse_peer("sender", &self.sender)?),
            share: unb64_nonempty("share", &self.share)?,
        })
    }
}

/// `GET .../shares` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    /// The shares addressed to the caller, oldest first.
    pub shares: Vec<IncomingShare>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn posts_round_trip_and_decode() {
        let to = PeerId::from_bytes([1; 32]);
        let req = PostRequest {
            shares: vec![OutgoingShare::new(&to, &[7, 7])],
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"shares":[{{"recipient":"{to}","share":"Bwc"}}]}}"#)
        );
        let back: PostRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back.shares[0].decode().unwrap(), ([1; 32], vec![7, 7]));
        let empty = OutgoingShare::new(&to, &[]);
        assert_eq!(empty.decode().unwrap_err().to_string(), "share: empty");
        let bad = OutgoingShare {
            recipient: "x".into(),
            share: "!".into(),
        };
        assert_eq!(
            bad.decode().unwrap_err().to_string(),
            "recipient: expected 64 lowercase hex digits"
        );
        assert_eq!(
            serde_json::to_string(&PostResponse { stored: 3 }).unwrap(),
            r#"{"stored":3}"#
        );
    }

    #[test]
    fn lists_round_trip_and_decode() {
        let list = ListResponse {
            shares: vec![IncomingShare::new(5, &[2; 32], &[1])],
        };
        let json = serde_json::to_string(&list).unwrap();
        let back: ListResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
        let got = back.shares[0].decode().unwrap();
        assert_eq!(got.id, 5);
        assert_eq!(got.sender, PeerId::from_bytes([2; 32]));
        assert_eq!(got.share, vec![1]);
        let upper = IncomingShare {
            sender: peer_hex(&[0xab; 32]).to_uppercase(),
            ..list.shares[0].clone()
        };
        assert!(upper.decode().is_err());
        assert!(serde_json::from_str::<ListResponse>(r#"{"shares":[{"id":1}]}"#).is_err());
    }
}
