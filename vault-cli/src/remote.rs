//! The HTTP client of the sync server's circle routes (schema/PROTOCOL.md):
//! registration, authentication, the circle log, key shares and the
//! pairing relay. It moves bytes; every check of what comes back is
//! vault-core's.
//! (Over 500 lines until issue 13's vault-client takes these routes over
//! and splits them by resource.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;
use vault_core::circle::{EntryHash, PeerId, SignedEntry};

/// How long one HTTP request may take (a long-poll adds its wait).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one request to the circle routes waits out 429 and 503.
const WAIT_LIMIT: Duration = Duration::from_secs(120);

/// The largest JSON answer read from the server (a circle log of the
/// largest circles is far below it); a longer body is refused unread.
pub const JSON_BODY_CAP: usize = 4 << 20;

/// Why a request to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server at {url}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with its JSON error.
    #[error("the server refused: {message} ({status} {code})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code (PROTOCOL.md).
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The server's answer does not have the documented shape.
    #[error("the server sent a malformed answer: {0}")]
    Malformed(&'static str),
    /// This build has no TLS client yet.
    #[error(
        "{0}: https is not supported by this build yet; use http:// on a trusted network or a TLS-terminating tunnel"
    )]
    NoTls(String),
    /// The server's URL is not usable.
    #[error("bad server URL {0:?}: expected http://HOST[:PORT]")]
    BadUrl(String),
    /// The server answered with a redirect, which is never followed (a
    /// redirect would send the device's requests to another host).
    #[error("the server answered with a redirect ({status}), which vault does not follow")]
    Redirected {
        /// The 3xx status.
        status: u16,
    },
    /// The answer is longer than this route's cap.
    #[error("the server's answer is longer than {limit} bytes; refused")]
    TooLarge {
        /// The route's cap, in bytes.
        limit: usize,
    },
}

impl RemoteError {
    /// The server's error code, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            RemoteError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A log append's outcome.
pub enum Append {
    /// Stored.
    Stored,
    /// The head moved: re-read the log and retry.
    HeadMoved,
}

/// One server, with the session token once authenticated.
pub struct Server {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Server {
    /// A client of the server at `url` (`http://host:port`, no path).
    pub fn new(url: &str) -> Result<Self, RemoteError> {
        let base = url.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&base).map_err(|_| RemoteError::BadUrl(url.into()))?;
        if parsed.scheme() == "https" {
            return Err(RemoteError::NoTls(url.into()));
        }
        if parsed.scheme() != "http"
            || parsed.host().is_none()
            || parsed.path() != "/" && !parsed.path().is_empty()
        {
            return Err(RemoteError::BadUrl(url.into()));
        }
        // No redirect is followed and no Referer sent: the device talks to
        // the server it was given and to nothing else.
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|source| RemoteError::Unreachable {
                url: base.clone(),
                source,
            })?;
        Ok(Self {
            base,
            http,
            token: None,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Registers a circle by its genesis entry.
    pub async fn register_circle(&self, genesis: &SignedEntry) -> Result<(), RemoteError> {
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
    ) -> Result<(), RemoteError> {
        let ids = json!({ "circle_id": circle_id.to_string(), "peer_id": peer.to_string() });
        let got = self.post("/v1/auth/challenge", &ids, None).await?;
        let challenge: [u8; 32] = decode_field(&got, "challenge")?
            .try_into()
            .map_err(|_| RemoteError::Malformed("challenge is not 32 bytes"))?;
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
            .ok_or(RemoteError::Malformed("no token"))?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    /// Every log entry after `after` (all when `None`), following pages.
    pub async fn log(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
    ) -> Result<Vec<SignedEntry>, RemoteError> {
        Ok(self.log_with_head(circle_id, after).await?.0)
    }

    /// [`Server::log`], with the head (seq and hash) the server gave with
    /// its last page.
    pub async fn log_with_head(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
    ) -> Result<(Vec<SignedEntry>, (u64, EntryHash)), RemoteError> {
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
                .map_err(|_| RemoteError::Malformed("log page"))?;
            let last = page.entries.last().map(|e| e.seq);
            let head_hash: [u8; 32] = decode(&page.head_hash)?
                .try_into()
                .map_err(|_| RemoteError::Malformed("head_hash"))?;
            let head = (page.head_seq, EntryHash(head_hash));
            for e in page.entries {
                let entry = decode(&e.entry)?;
                let signature = decode(&e.signature)?;
                // Undecodable entries are kept out here; the device's chain
                // check reports the gap they leave.
                let signed = SignedEntry::decode(&entry, &signature)
                    .map_err(|_| RemoteError::Malformed("an entry does not decode"))?;
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
    ) -> Result<Append, RemoteError> {
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
            Ok(_) => Err(RemoteError::Malformed("no seq in the append answer")),
            Err(e) if e.code() == Some("conflict") => Ok(Append::HeadMoved),
            Err(e) => Err(e),
        }
    }

    /// Stores key shares for their recipients.
    pub async fn post_shares(
        &self,
        circle_id: Uuid,
        shares: &[(PeerId, Vec<u8>)],
    ) -> Result<(), RemoteError> {
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
    pub async fn shares(&self, circle_id: Uuid) -> Result<Vec<Vec<u8>>, RemoteError> {
        let got = self.get(&format!("/v1/circles/{circle_id}/shares")).await?;
        let list = got
            .get("shares")
            .and_then(Value::as_array)
            .ok_or(RemoteError::Malformed("no shares list"))?;
        list.iter().map(|s| decode_field(s, "share")).collect()
    }

    /// Opens an invite on the server (the inviter, authenticated).
    pub async fn create_invite(
        &self,
        circle_id: Uuid,
        invite_id: &str,
        ttl: Duration,
    ) -> Result<(), RemoteError> {
        let body = json!({ "invite_id": invite_id, "ttl_secs": ttl.as_secs() });
        self.post(&format!("/v1/circles/{circle_id}/invites"), &body, None)
            .await
            .map(drop)
    }

    /// Claims an invite with the joiner's first message; afterwards this
    /// client relays with the returned relay token.
    pub async fn join(&mut self, invite_id: &str, hello: &[u8]) -> Result<(), RemoteError> {
        let body = json!({ "message": B64.encode(hello) });
        let got = self
            .post(&format!("/v1/invites/{invite_id}/join"), &body, None)
            .await?;
        let token = got
            .get("relay_token")
            .and_then(Value::as_str)
            .ok_or(RemoteError::Malformed("no relay token"))?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    /// Sends one relay message to the other side of an invite.
    pub async fn send(&self, invite_id: &str, message: &[u8]) -> Result<u64, RemoteError> {
        let body = json!({ "message": B64.encode(message) });
        let got = self
            .post(&format!("/v1/invites/{invite_id}/messages"), &body, None)
            .await?;
        got.get("seq")
            .and_then(Value::as_u64)
            .ok_or(RemoteError::Malformed("no seq"))
    }

    /// The other side's next relay message after `after`, waiting for it
    /// up to `deadline`. `Ok(None)` when none came in time.
    pub async fn receive(
        &self,
        invite_id: &str,
        after: u64,
        deadline: tokio::time::Instant,
    ) -> Result<Option<(u64, Vec<u8>)>, RemoteError> {
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
                .ok_or(RemoteError::Malformed("no messages list"))?;
            if let Some(first) = list.first() {
                let seq = first
                    .get("seq")
                    .and_then(Value::as_u64)
                    .ok_or(RemoteError::Malformed("no seq"))?;
                return Ok(Some((seq, decode_field(first, "message")?)));
            }
        }
    }

    /// The session token, once authenticated (a WebSocket upgrade carries
    /// it too).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A request to `path` with the session token and the usual timeout
    /// (the sync routes build on it: their bodies are binary).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(REQUEST_TIMEOUT);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// A failed connection to this server.
    pub fn unreachable(&self, source: reqwest::Error) -> RemoteError {
        RemoteError::Unreachable {
            url: self.base.clone(),
            source,
        }
    }

    async fn get(&self, path: &str) -> Result<Value, RemoteError> {
        self.get_with_timeout(path, REQUEST_TIMEOUT).await
    }

    async fn get_with_timeout(&self, path: &str, timeout: Duration) -> Result<Value, RemoteError> {
        let req = self.request(reqwest::Method::GET, path).timeout(timeout);
        self.finish(req).await
    }

    async fn post(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<Value, RemoteError> {
        let req = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .timeout(timeout.unwrap_or(REQUEST_TIMEOUT));
        self.finish(req).await
    }

    async fn finish(&self, mut req: reqwest::RequestBuilder) -> Result<Value, RemoteError> {
        // A rate-limited or busy answer (429, 503) is waited out as its
        // Retry-After says (at most 30 s a time, 2 min in all).
        let mut waited = Duration::ZERO;
        let (status, body) = loop {
            let again = req.try_clone();
            let (status, body, retry_after) = self.send_capped(req, JSON_BODY_CAP).await?;
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(100), Duration::from_secs(30));
            match again {
                Some(next) if matches!(status, 429 | 503) && waited + wait <= WAIT_LIMIT => {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    req = next;
                }
                _ => break (status, body),
            }
        };
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(refusal(status, &value))
    }

    /// Sends a request and reads its answer: the status, at most `cap`
    /// bytes of body, read as a stream (a longer body is refused as soon
    /// as it passes the cap, or unread if its length says so), and the
    /// `Retry-After` it gives in seconds, if any. A redirect is an error,
    /// never followed.
    pub async fn send_capped(
        &self,
        req: reqwest::RequestBuilder,
        cap: usize,
    ) -> Result<(u16, Vec<u8>, Option<Duration>), RemoteError> {
        let mut resp = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if (300..400).contains(&status) {
            return Err(RemoteError::Redirected { status });
        }
        if resp.content_length().is_some_and(|n| n > cap as u64) {
            return Err(RemoteError::TooLarge { limit: cap });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(e))? {
            if body.len() + chunk.len() > cap {
                return Err(RemoteError::TooLarge { limit: cap });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body, retry_after))
    }
}

/// The server's JSON error (`{"error":{"code","message"}}`) as a
/// [`RemoteError::Refused`], its text stripped of control characters.
pub fn refusal(status: u16, value: &Value) -> RemoteError {
    let err = value.get("error");
    let field = |name| {
        err.and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect::<String>()
    };
    RemoteError::Refused {
        status,
        code: field("code"),
        message: field("message"),
    }
}

fn decode(text: &str) -> Result<Vec<u8>, RemoteError> {
    B64.decode(text)
        .map_err(|_| RemoteError::Malformed("a value is not base64url"))
}

fn decode_field(v: &Value, name: &'static str) -> Result<Vec<u8>, RemoteError> {
    decode(
        v.get(name)
            .and_then(Value::as_str)
            .ok_or(RemoteError::Malformed(name))?,
    )
}

/// A single-threaded runtime for one command's requests.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
