//! The wire types the Vault sync server and its clients share: one Rust
//! type per JSON shape of `schema/PROTOCOL.md` (checked against
//! `schema/openapi.json` and `schema/ws/*.json` by the contract test), the
//! text codecs of their fields ([`codec`]), the error envelope
//! ([`error`]), the WebSocket frames ([`frames`]) and the media types of
//! the binary sync bodies ([`media`]).
//!
//! Every type is both `Serialize` and `Deserialize`: the server encodes
//! answers and decodes requests with them, a client the other way round.
//! Fields keep their wire form (base64url and ids as `String`); each type
//! that carries binary values or ids has a `decode` (or a named accessor)
//! that checks and converts them into `vault_core` types, failing with a
//! [`DecodeError`] whose text is the message the server answers a bad
//! request with. No HTTP or async library is used here.
//!
//! ```
//! use vault_proto::codec::b64;
//! use vault_proto::auth::ChallengeResponse;
//! use vault_proto::error::{ErrorBody, ErrorCode};
//!
//! // A client reads an answer...
//! let text = format!(r#"{{"challenge":"{}","expires_in":60}}"#, b64(&[7; 32]));
//! let answer: ChallengeResponse = serde_json::from_str(&text)?;
//! assert_eq!(answer.challenge()?, [7; 32]);
//!
//! // ...and a refusal, whose code it may not know.
//! let refused: ErrorBody =
//!     serde_json::from_str(r#"{"error":{"code":"token_expired","message":"resync"}}"#)?;
//! assert_eq!(refused.error.code, ErrorCode::TokenExpired);
//!
//! // A malformed field is named, as the server would name it.
//! let bad = ChallengeResponse { challenge: "AAAA".into(), expires_in: 60 };
//! assert_eq!(bad.challenge().unwrap_err().to_string(), "challenge: expected 32 bytes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
pub mod circles;
pub mod codec;
pub mod error;
pub mod frames;
pub mod health;
pub mod invites;
pub mod manifests;
pub mod media;
pub mod shares;
pub mod zones;

pub use codec::{DecodeError, Expected};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use frames::{ClientFrame, ServerFrame};
pub use media::{CHANGES_MEDIA_TYPE, JSON_MEDIA_TYPE, RECORDS_MEDIA_TYPE};
