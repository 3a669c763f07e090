//! Pairing: `POST /v1/circles/{circle_id}/invites`, and the relay of
//! `/v1/invites/{invite_id}/join` and `/messages`. Relay messages are
//! opaque bytes (base64url) to the server; `vault_core::circle::pairing`
//! defines them.

use crate::auth::BearerToken;
use crate::codec::{DecodeError, InviteBytes, b64, invite_hex, parse_invite, unb64_nonempty};
use serde::{Deserialize, Serialize};

/// `POST /v1/circles/{circle_id}/invites` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// The invite's id, 32 lowercase hex digits.
    pub invite_id: String,
    /// Seconds until it expires (default 600, at most 3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

impl CreateRequest {
    /// The request opening `invite_id` for `ttl_secs` (the server's default
    /// if `None`).
    pub fn new(invite_id: &InviteBytes, ttl_secs: Option<u64>) -> CreateRequest {
        CreateRequest {
            invite_id: invite_hex(invite_id),
            ttl_secs,
        }
    }

    /// The invite's id.
    pub fn invite_id(&self) -> Result<InviteBytes, DecodeError> {
        parse_invite("invite_id", &self.invite_id)
    }
}

/// `POST /v1/circles/{circle_id}/invites` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateResponse {
    /// The invite's id, 32 lowercase hex digits.
    pub invite_id: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// A relay message body (`join` and `messages`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    /// The message, base64url of at least one byte.
    pub message: String,
}

impl MessageRequest {
    /// The body carrying `message`.
    pub fn new(message: &[u8]) -> MessageRequest {
        MessageRequest {
            message: b64(message),
        }
    }

    /// The message's bytes: at least one (the size limit is the server's).
    pub fn decode(&self) -> Result<Vec<u8>, DecodeError> {
        unb64_nonempty("message", &self.message)
    }
}

/// `POST /v1/invites/{invite_id}/join` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The joiner's token for this invite's messages, base64url.
    pub relay_token: String,
}

impl JoinResponse {
    /// The answer carrying `token`.
    pub fn new(token: &BearerToken) -> JoinResponse {
        JoinResponse {
            relay_token: token.to_text(),
        }
    }

    /// The relay token.
    pub fn relay_token(&self) -> Result<BearerToken, DecodeError> {
        BearerToken::parse("relay_token", &self.relay_token)
    }
}

/// `POST /v1/invites/{invite_id}/messages` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostResponse {
    /// The message's seq in the invite's session.
    pub seq: u64,
}

/// `GET /v1/invites/{invite_id}/messages` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadQuery {
    /// Messages with a greater seq (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Seconds to wait for one (default 0, at most 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
}

/// One relay message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its seq in the invite's session.
    pub seq: u64,
    /// Its bytes, base64url.
    pub message: String,
}

impl Message {
    /// The message `seq` of these bytes.
    pub fn new(seq: u64, message: &[u8]) -> Message {
        Message {
            seq,
            message: b64(message),
        }
    }

    /// The message's bytes.
    pub fn decode(&self) -> Result<Vec<u8>, DecodeError> {
        unb64_nonempty("message", &self.message)
    }
}

/// `GET /v1/invites/{invite_id}/messages` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResponse {
    /// The other side's messages, in seq order.
    pub messages: Vec<Message>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_leave_out_an_unset_ttl() {
        let req = CreateRequest::new(&[0xab; 16], None);
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(json, format!(r#"{{"invite_id":"{}"}}"#, "ab".repeat(16)));
        let back: CreateRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back.invite_id().unwrap(), [0xab; 16]);
        let req = CreateRequest {
            invite_id: "AB".repeat(16),
            ttl_secs: Some(60),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap()["ttl_secs"],
            serde_json::json!(60)
        );
        assert_eq!(
            req.invite_id().unwrap_err().to_string(),
            "invite_id: expected 32 lowercase hex digits"
        );
    }

    #[test]
    fn messages_round_trip_and_are_never_empty() {
        let read = ReadResponse {
            messages: vec![Message::new(2, b"hi")],
        };
        let json = serde_json::to_string(&read).unwrap();
        assert_eq!(json, r#"{"messages":[{"seq":2,"message":"aGk"}]}"#);
        let back: ReadResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back.messages[0].decode().unwrap(), b"hi");
        assert_eq!(MessageRequest::new(b"x").decode().unwrap(), b"x");
        assert_eq!(
            MessageRequest::new(b"").decode().unwrap_err().to_string(),
            "message: empty"
        );
        assert!(
            serde_json::from_str::<ReadResponse>(r#"{"messages":[{"seq":-1,"message":"aGk"}]}"#)
                .is_err()
        );
    }

    #[test]
    fn relay_tokens_decode() {
        let join = JoinResponse::new(&BearerToken::from_bytes([9; 32]));
        let json = serde_json::to_string(&join).unwrap();
        let back: JoinResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back.relay_token().unwrap().expose_secret(), &[9; 32]);
        let bad = JoinResponse {
            relay_token: "AAAA".into(),
        };
        assert_eq!(
            bad.relay_token().unwrap_err().to_string(),
            "relay_token: expected 32 bytes"
        );
    }
}
