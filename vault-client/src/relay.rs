//! The pairing relay (schema/PROTOCOL.md, "Invites"): the inviter opens
//! an invite, the joiner claims it, and both exchange opaque pairing
//! messages through the server, long-polling for the other side's.

use crate::error::ClientError;
use crate::server::{REQUEST_TIMEOUT, Server, decode_field};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

impl Server {
    /// Opens an invite on the server (the inviter, authenticated).
    pub async fn create_invite(
        &self,
        circle_id: Uuid,
        invite_id: &str,
        ttl: Duration,
    ) -> Result<(), ClientError> {
        let body = json!({ "invite_id": invite_id, "ttl_secs": ttl.as_secs() });
        self.post(&format!("/v1/circles/{circle_id}/invites"), &body, None)
            .await
            .map(drop)
    }

    /// Claims an invite with the joiner's first message; afterwards this
    /// client relays with the returned relay token.
    pub async fn join(&mut self, invite_id: &str, hello: &[u8]) -> Result<(), ClientError> {
        let body = json!({ "message": B64.encode(hello) });
        let got = self
            .post(&format!("/v1/invites/{invite_id}/join"), &body, None)
            .await?;
        let token = got
            .get("relay_token")
            .and_then(Value::as_str)
            .ok_or(ClientError::Malformed("no relay token"))?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    /// Sends one relay message to the other side of an invite.
    pub async fn send(&self, invite_id: &str, message: &[u8]) -> Result<u64, ClientError> {
        let body = json!({ "message": B64.encode(message) });
        let got = self
            .post(&format!("/v1/invites/{invite_id}/messages"), &body, None)
            .await?;
        got.get("seq")
            .and_then(Value::as_u64)
            .ok_or(ClientError::Malformed("no seq"))
    }

    /// The other side's next relay message after `after`, waiting for it
    /// up to `deadline`. `Ok(None)` when none came in time.
    pub async fn receive(
        &self,
        invite_id: &str,
        after: u64,
        deadline: tokio::time::Instant,
    ) -> Result<Option<(u64, Vec<u8>)>, ClientError> {
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let wait = left.as_secs().clamp(1, 25);
            let got = self
                .get_with_timeout(
                    &format!("/v1/invites/{invite_id}/messages?after={after}&wait={wait}"),
                    REQUEST_TIMEOUT + Duration::from_secs(wait),
                )
                .await?;
            let list = got
                .get("messages")
                .and_then(Value::as_array)
                .ok_or(ClientError::Malformed("no messages list"))?;
            if let Some(first) = list.first() {
                let seq = first
                    .get("seq")
                    .and_then(Value::as_u64)
                    .ok_or(ClientError::Malformed("no seq"))?;
                return Ok(Some((seq, decode_field(first, "message")?)));
            }
        }
    }
}
