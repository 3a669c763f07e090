//! The circle routes (schema/PROTOCOL.md, "Circles"): registration,
//! authentication, the circle log and key shares. They move bytes;
//! every check of what comes back is vault-core's.

use crate::error::ClientError;
use crate::server::{Server, answer};
use uuid::Uuid;
use vault_core::circle::{EntryHash, PeerId, SignedEntry};
use vault_proto::ErrorCode;
use vault_proto::auth::{ChallengeRequest, ChallengeResponse, TokenRequest, TokenResponse};
use vault_proto::circles::{AppendRequest, AppendResponse, CreateRequest, LogResponse};
use vault_proto::shares::{ListResponse, OutgoingShare, PostRequest};

/// A log append's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// Stored.
    Stored,
    /// The head moved: re-read the log and retry.
    HeadMoved,
    /// A zone moved past the removal's cut: sync, prepare it again, retry.
    ZoneMoved,
}

/// The longest cut list read (`vault_core::circle::cut::MAX_CUT_RECORDS`
/// rows of 56 bytes, and its head).
const CUT_LIST_CAP: usize = 12 << 20;

impl Server {
    /// Registers a circle by its genesis entry, with the registration
    /// token the server's admin issued when its policy asks for one (a
    /// refusal is [`ClientError::Refused`] with code `registration_refused`).
    pub async fn register_circle(
        &self,
        genesis: &SignedEntry,
        registration_token: Option<&str>,
    ) -> Result<(), ClientError> {
        // The answer (the circle's id and the genesis hash) tells the
        // device nothing it does not know: it is not read.
        let body = CreateRequest::new(genesis, registration_token.map(str::to_owned));
        self.post("/v1/circles", &body, None).await.map(drop)
    }

    /// Challenge, signature, token: afterwards requests carry the token.
    pub async fn authenticate(
        &mut self,
        circle_id: Uuid,
        peer: &PeerId,
        sign: impl FnOnce(&[u8; 32]) -> [u8; 64],
    ) -> Result<(), ClientError> {
        const CHALLENGE: &str = "the challenge answer";
        const TOKEN: &str = "the token answer";
        let ids = ChallengeRequest::new(circle_id, peer);
        let got: ChallengeResponse = answer(
            &self.post("/v1/auth/challenge", &ids, None).await?,
            CHALLENGE,
        )?;
        let challenge = got
            .challenge()
            .map_err(|_| ClientError::Malformed(CHALLENGE))?;
        let signature = sign(&challenge);
        let body = TokenRequest::new(circle_id, peer, &challenge, &signature);
        let got: TokenResponse = answer(&self.post("/v1/auth/token", &body, None).await?, TOKEN)?;
        // Checked (32 bytes of base64url), kept as the text it came as.
        got.token().map_err(|_| ClientError::Malformed(TOKEN))?;
        self.token = Some(got.token);
        self.token_lifetime = Some(std::time::Duration::from_secs(got.expires_in));
        Ok(())
    }

    /// Every log entry after `after` (all when `None`), following pages.
    pub async fn log(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
    ) -> Result<Vec<SignedEntry>, ClientError> {
        Ok(self.log_with_head(circle_id, after).await?.0)
    }

    /// [`Server::log`], with the head (seq and hash) the server gave with
    /// its last page.
    pub async fn log_with_head(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
    ) -> Result<(Vec<SignedEntry>, (u64, EntryHash)), ClientError> {
        const PAGE: &str = "a log page";
        let mut out = Vec::new();
        let mut cursor = after;
        loop {
            let path = match cursor {
                Some(seq) => format!("/v1/circles/{circle_id}/log?after={seq}"),
                None => format!("/v1/circles/{circle_id}/log"),
            };
            let page: LogResponse = self.get(&path, PAGE).await?;
            let last = page.entries.last().map(|e| e.seq);
            // An entry that does not decode fails the page.
            let page = page.decode().map_err(|_| ClientError::Malformed(PAGE))?;
            out.extend(page.entries);
            match (page.more, last) {
                (true, Some(seq)) => cursor = Some(seq),
                _ => return Ok((out, (page.head_seq, page.head_hash))),
            }
        }
    }

    /// Appends one entry if `prev` is still the head.
    pub async fn append(
        &self,
        circle_id: Uuid,
        prev: EntryHash,
        entry: &SignedEntry,
    ) -> Result<Append, ClientError> {
        self.append_request(circle_id, &AppendRequest::new(prev, entry))
            .await
    }

    /// Appends a removal entry with its cut lists (zone, bytes).
    pub async fn append_removal(
        &self,
        circle_id: Uuid,
        prev: EntryHash,
        entry: &SignedEntry,
        lists: &[(String, Vec<u8>)],
    ) -> Result<Append, ClientError> {
        self.append_request(circle_id, &AppendRequest::with_cuts(prev, entry, lists))
            .await
    }

    async fn append_request(
        &self,
        circle_id: Uuid,
        body: &AppendRequest,
    ) -> Result<Append, ClientError> {
        match self
            .post(&format!("/v1/circles/{circle_id}/log"), body, None)
            .await
        {
            Ok(got) => answer::<AppendResponse>(&got, "the append answer").map(|_| Append::Stored),
            Err(e) if e.code() == Some(ErrorCode::Conflict.as_str()) => Ok(Append::HeadMoved),
            Err(e) if e.code() == Some(ErrorCode::ZoneMoved.as_str()) => Ok(Append::ZoneMoved),
            Err(e) => Err(e),
        }
    }

    /// The cut list of the removal at `seq` for `zone`, unchecked (the
    /// vault checks it against the entry); `None` if the server has none.
    pub async fn cut_list(
        &self,
        circle_id: Uuid,
        seq: u64,
        zone: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let req = self.request(
            reqwest::Method::GET,
            &format!("/v1/circles/{circle_id}/cuts/{seq}/{zone}"),
        );
        let (status, body, _) = self.send_capped(req, CUT_LIST_CAP).await?;
        match status {
            200..=299 => Ok(Some(body)),
            404 => Ok(None),
            _ => Err(crate::server::refusal(status, &body)),
        }
    }

    /// Stores key shares for their recipients.
    pub async fn post_shares(
        &self,
        circle_id: Uuid,
        shares: &[(PeerId, Vec<u8>)],
    ) -> Result<(), ClientError> {
        let body = PostRequest {
            shares: shares
                .iter()
                .map(|(to, blob)| OutgoingShare::new(to, blob))
                .collect(),
        };
        // The answer (how many were stored) is not read.
        self.post(&format!("/v1/circles/{circle_id}/shares"), &body, None)
            .await
            .map(drop)
    }

    /// Every key share addressed to this device.
    pub async fn shares(&self, circle_id: Uuid) -> Result<Vec<Vec<u8>>, ClientError> {
        const LIST: &str = "the shares list";
        let got: ListResponse = self
            .get(&format!("/v1/circles/{circle_id}/shares"), LIST)
            .await?;
        got.shares
            .iter()
            .map(|s| s.decode().map(|s| s.share))
            .collect::<Result<_, _>>()
            .map_err(|_| ClientError::Malformed(LIST))
    }
}
