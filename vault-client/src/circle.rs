//! The circle routes (schema/PROTOCOL.md, "Circles"): registration,
//! authentication, the circle log and key shares. They move bytes;
//! every check of what comes back is vault-core's.

use crate::error::ClientError;
use crate::server::{Server, decode, decode_field};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use vault_core::circle::{EntryHash, PeerId, SignedEntry};

/// A log append's outcome.
pub enum Append {
    /// Stored.
    Stored,
    /// The head moved: re-read the log and retry.
    HeadMoved,
}

impl Server {
    /// Registers a circle by its genesis entry.
    pub async fn register_circle(&self, genesis: &SignedEntry) -> Result<(), ClientError> {
        let body = json!({
            "entry": B64.encode(genesis.entry_bytes()),
            "signature": B64.encode(genesis.signature()),
        });
        self.post("/v1/circles", &body, None).await.map(drop)
    }

    /// Challenge, signature, token: afterwards requests carry the token.
    pub async fn authenticate(
        &mut self,
        circle_id: Uuid,
        peer: &PeerId,
        sign: impl FnOnce(&[u8; 32]) -> [u8; 64],
    ) -> Result<(), ClientError> {
        let ids = json!({ "circle_id": circle_id.to_string(), "peer_id": peer.to_string() });
        let got = self.post("/v1/auth/challenge", &ids, None).await?;
        let challenge: [u8; 32] = decode_field(&got, "challenge")?
            .try_into()
            .map_err(|_| ClientError::Malformed("challenge is not 32 bytes"))?;
        let signature = sign(&challenge);
        let body = json!({
            "circle_id": circle_id.to_string(),
            "peer_id": peer.to_string(),
            "challenge": B64.encode(challenge),
            "signature": B64.encode(signature),
        });
        let got = self.post("/v1/auth/token", &body, None).await?;
        let token = got
            .get("token")
            .and_then(Value::as_str)
            .ok_or(ClientError::Malformed("no token"))?;
        self.token = Some(token.to_owned());
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
        #[derive(Deserialize)]
        struct Page {
            entries: Vec<WireEntry>,
            more: bool,
            head_seq: u64,
            head_hash: String,
        }
        #[derive(Deserialize)]
        struct WireEntry {
            seq: u64,
            entry: String,
            signature: String,
        }
        let mut out = Vec::new();
        let mut cursor = after;
        loop {
            let path = match cursor {
                Some(seq) => format!("/v1/circles/{circle_id}/log?after={seq}"),
                None => format!("/v1/circles/{circle_id}/log"),
            };
            let page: Page = serde_json::from_value(self.get(&path).await?)
                .map_err(|_| ClientError::Malformed("log page"))?;
            let last = page.entries.last().map(|e| e.seq);
            let head_hash: [u8; 32] = decode(&page.head_hash)?
                .try_into()
                .map_err(|_| ClientError::Malformed("head_hash"))?;
            let head = (page.head_seq, EntryHash(head_hash));
            for e in page.entries {
                let entry = decode(&e.entry)?;
                let signature = decode(&e.signature)?;
                // Undecodable entries are kept out here; the device's chain
                // check reports the gap they leave.
                let signed = SignedEntry::decode(&entry, &signature)
                    .map_err(|_| ClientError::Malformed("an entry does not decode"))?;
                out.push(signed);
            }
            match (page.more, last) {
                (true, Some(seq)) => cursor = Some(seq),
                _ => return Ok((out, head)),
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
        let body = json!({
            "prev_hash": B64.encode(prev.0),
            "entry": B64.encode(entry.entry_bytes()),
            "signature": B64.encode(entry.signature()),
        });
        match self
            .post(&format!("/v1/circles/{circle_id}/log"), &body, None)
            .await
        {
            Ok(v) if v.get("seq").and_then(Value::as_u64).is_some() => Ok(Append::Stored),
            Ok(_) => Err(ClientError::Malformed("no seq in the append answer")),
            Err(e) if e.code() == Some("conflict") => Ok(Append::HeadMoved),
            Err(e) => Err(e),
        }
    }

    /// Stores key shares for their recipients.
    pub async fn post_shares(
        &self,
        circle_id: Uuid,
        shares: &[(PeerId, Vec<u8>)],
    ) -> Result<(), ClientError> {
        let list: Vec<Value> = shares
            .iter()
            .map(|(to, blob)| json!({ "recipient": to.to_string(), "share": B64.encode(blob) }))
            .collect();
        self.post(
            &format!("/v1/circles/{circle_id}/shares"),
            &json!({ "shares": list }),
            None,
        )
        .await
        .map(drop)
    }

    /// Every key share addressed to this device.
    pub async fn shares(&self, circle_id: Uuid) -> Result<Vec<Vec<u8>>, ClientError> {
        let got = self.get(&format!("/v1/circles/{circle_id}/shares")).await?;
        let list = got
            .get("shares")
            .and_then(Value::as_array)
            .ok_or(ClientError::Malformed("no shares list"))?;
        list.iter().map(|s| decode_field(s, "share")).collect()
    }
}
