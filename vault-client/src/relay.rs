//! The pairing relay (schema/PROTOCOL.md, "Invites"): the inviter opens
//! an invite, the joiner claims it, and both exchange opaque pairing
//! messages through the server, long-polling for the other side's.

use crate::error::ClientError;
use crate::server::{REQUEST_TIMEOUT, Server, answer};
use std::time::Duration;
use uuid::Uuid;
use vault_proto::invites::{
    CreateRequest, JoinResponse, MessageRequest, PostResponse, ReadResponse,
};

impl Server {
    /// Opens an invite on the server (the inviter, authenticated).
    pub async fn create_invite(
        &self,
        circle_id: Uuid,
        invite_id: &str,
        ttl: Duration,
    ) -> Result<(), ClientError> {
        // The id goes as the caller wrote it (the server checks it).
        let body = CreateRequest {
            invite_id: invite_id.to_owned(),
            ttl_secs: Some(ttl.as_secs()),
        };
        // The answer (the id and its expiry) is not read.
        self.post(&format!("/v1/circles/{circle_id}/invites"), &body, None)
            .await
            .map(drop)
    }

    /// Claims an invite with the joiner's first message; afterwards this
    /// client relays with the returned relay token.
    pub async fn join(&mut self, invite_id: &str, hello: &[u8]) -> Result<(), ClientError> {
        const JOIN: &str = "the join answer";
        let body = MessageRequest::new(hello);
        let got = self
            .post(&format!("/v1/invites/{invite_id}/join"), &body, None)
            .await?;
        let got: JoinResponse = answer(&got, JOIN)?;
        // Checked (32 bytes of base64url), kept as the text it came as.
        got.relay_token()
            .map_err(|_| ClientError::Malformed(JOIN))?;
        self.token = Some(got.relay_token);
        Ok(())
    }

    /// Sends one relay message to the other side of an invite.
    pub async fn send(&self, invite_id: &str, message: &[u8]) -> Result<u64, ClientError> {
        let body = MessageRequest::new(message);
        let got = self
            .post(&format!("/v1/invites/{invite_id}/messages"), &body, None)
            .await?;
        answer::<PostResponse>(&got, "the message answer").map(|got| got.seq)
    }

    /// Every message of the other side after `after`, as the relay holds
    /// them now (no waiting).
    pub async fn messages(
        &self,
        invite_id: &str,
        after: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, ClientError> {
        const LIST: &str = "the messages list";
        let got: ReadResponse = self
            .get(
                &format!("/v1/invites/{invite_id}/messages?after={after}&wait=0"),
                LIST,
            )
            .await?;
        got.messages
            .iter()
            .map(|m| Ok((m.seq, m.decode().map_err(|_| ClientError::Malformed(LIST))?)))
            .collect()
    }

    /// The other side's next relay message after `after`, waiting for it
    /// up to `deadline`. `Ok(None)` when none came in time.
    pub async fn receive(
        &self,
        invite_id: &str,
        after: u64,
        deadline: tokio::time::Instant,
    ) -> Result<Option<(u64, Vec<u8>)>, ClientError> {
        const LIST: &str = "the messages list";
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let wait = left.as_secs().clamp(1, 25);
            let got: ReadResponse = self
                .get_with_timeout(
                    &format!("/v1/invites/{invite_id}/messages?after={after}&wait={wait}"),
                    REQUEST_TIMEOUT + Duration::from_secs(wait),
                    LIST,
                )
                .await?;
            if let Some(first) = got.messages.first() {
                let message = first.decode().map_err(|_| ClientError::Malformed(LIST))?;
                return Ok(Some((first.seq, message)));
            }
        }
    }
}
