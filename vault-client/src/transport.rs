//! The sync engine's [`Transport`] over HTTP: one method per zone route of
//! the circle's server (schema/PROTOCOL.md, "Sync"), on the async
//! [`Server`] client, blocking on a runtime whose worker drives the I/O.
//!
//! It moves and decodes bytes; vault-core verifies everything. A 401 is
//! reported as a [`TransportError::Status`] and remembered
//! ([`HttpTransport::unauthorized`]): the caller re-authenticates (which
//! needs the vault the engine holds while it syncs) and runs the round
//! again.

use crate::error::ClientError;
use crate::runtime::stopped;
use crate::server::{self, Server};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::watch;
use uuid::Uuid;
use vault_core::sync::{
    ChangesPage, Phase, Progress, PushReply, ServerManifest, SignedManifest, TaggedRecord, Token,
    Transport, TransportError, decode_records, encode_records,
};
use vault_proto::manifests::{
    ManifestResponse, ManifestsResponse, PutManifestRequest, PutManifestResponse,
};
use vault_proto::zones::PushResponse;
use vault_proto::{ErrorCode, JSON_MEDIA_TYPE, RECORDS_MEDIA_TYPE};

/// The largest record list read in one answer (a changes page, a bucket
/// read, a push's answer with the conflicting versions): the server's
/// default page limit (16 MiB), one record past it (a page always holds a
/// record, however large), and room for a server configured higher. A
/// longer answer is refused as soon as it passes the cap.
const RECORDS_BODY_CAP: usize = 40 << 20;

/// What a transport sent and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests made.
    pub requests: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
    /// Requests tried again on a new connection after theirs broke.
    pub reconnects: u64,
    /// The server said another current member signed a different root
    /// at the same change token as this device (devices disagree about
    /// the zone).
    pub divergence: bool,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.requests += other.requests;
        self.bytes_received += other.bytes_received;
        self.reconnects += other.reconnects;
        self.divergence |= other.divergence;
    }
}

/// How far a long pull or push has come, in records and bytes: what a
/// front end draws a progress bar from ([`HttpTransport::with_progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferProgress {
    /// Pulling or pushing.
    pub phase: Phase,
    /// Changes pulled (by the server's sequence) or records pushed.
    pub records_done: u64,
    /// What the round expects in all (see vault-core's `Progress`).
    pub records_total: u64,
    /// Bytes of changes pages received, or of pushed batches sent.
    pub bytes_done: u64,
    /// The bytes the whole phase will take at this rate (an estimate:
    /// records differ in size); `None` before the first page or batch.
    pub bytes_total: Option<u64>,
}

/// What receives [`TransferProgress`] reports.
pub type ProgressObserver<'a> = Box<dyn FnMut(TransferProgress) + Send + 'a>;

/// A [`Transport`] to one circle on an authenticated [`Server`].
pub struct HttpTransport<'a> {
    handle: Handle,
    server: &'a Server,
    circle_id: Uuid,
    stop: Option<watch::Receiver<bool>>,
    stats: Stats,
    unauthorized: bool,
    wait_limit: Duration,
    observer: Option<ProgressObserver<'a>>,
    /// Bytes of changes pages received and of push bodies sent.
    pulled_bytes: u64,
    pushed_bytes: u64,
}

/// How long a transport waits out a busy or rate-limiting server in one
/// request before giving up ([`HttpTransport::with_wait_limit`]).
pub const DEFAULT_WAIT_LIMIT: Duration = Duration::from_secs(120);
/// The longest single wait a `Retry-After` may ask for.
const LONGEST_WAIT: Duration = Duration::from_secs(30);

impl<'a> HttpTransport<'a> {
    /// A transport blocking on `handle`, which must belong to a runtime
    /// whose workers drive I/O (see [`crate::background_runtime`]), and
    /// must not be called from inside that runtime.
    pub fn new(handle: Handle, server: &'a Server, circle_id: Uuid) -> Self {
        Self {
            handle,
            server,
            circle_id,
            stop: None,
            stats: Stats::default(),
            unauthorized: false,
            wait_limit: DEFAULT_WAIT_LIMIT,
            observer: None,
            pulled_bytes: 0,
            pushed_bytes: 0,
        }
    }

    /// Reports the progress of the round's pull and push to `observer`,
    /// after each page and each batch.
    pub fn with_progress(mut self, observer: ProgressObserver<'a>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// How long one request may wait out 429 and 503 answers in all
    /// (each wait as `Retry-After` says, at most 30 s, plus jitter).
    pub fn with_wait_limit(mut self, limit: Duration) -> Self {
        self.wait_limit = limit;
        self
    }

    /// Abandons any request in flight once `stop` turns true (the request
    /// fails as unreachable; what the engine committed stays).
    pub fn with_stop(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Requests made and bytes received so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether the server answered 401: the token expired or was revoked.
    pub fn unauthorized(&self) -> bool {
        self.unauthorized
    }

    fn path(&self, zone: &str, rest: &str) -> String {
        format!("/v1/circles/{}/zones/{zone}/{rest}", self.circle_id)
    }

    /// One request; a success's body, or the status mapped to its error.
    fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        cap: usize,
    ) -> Result<Vec<u8>, TransportError> {
        let mut waited = Duration::ZERO;
        let mut reconnected = false;
        let (status, bytes) = loop {
            self.stats.requests += 1;
            let request = raw(self.server, method.clone(), path, body.clone(), cap);
            let mut stop = self.stop.clone();
            let got = self.handle.block_on(async move {
                tokio::select! {
                    got = request => Some(got),
                    () = stopped(stop.as_mut()) => None,
                }
            });
            let (status, bytes, retry_after) = match got {
                Some(Ok(answer)) => answer,
                // A request whose connection failed (reset, closed before
                // the whole answer, refused; not timed out) is tried once
                // more on a new one: every route is idempotent (a push whose
                // records the server already holds comes back as
                // conflicts carrying those very records, which the engine
                // reads as saved).
                Some(Err(e)) if !reconnected && broke_mid_request(&e) => {
                    reconnected = true;
                    self.stats.reconnects += 1;
                    continue;
                }
                Some(Err(e)) => return Err(TransportError::Unreachable(Box::new(e))),
                None => return Err(TransportError::Unreachable("interrupted".into())),
            };
            self.stats.bytes_received += bytes.len() as u64;
            if !matches!(status, 429 | 503) {
                break (status, bytes);
            }
            // Rate-limited or busy: wait as the server says (a little
            // more, at random, so devices do not come back together),
            // up to the limit in all.
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(100), LONGEST_WAIT);
            let jitter = getrandom::u64().unwrap_or(0) % (wait.as_millis() as u64 / 4 + 1);
            let wait = wait + Duration::from_millis(jitter);
            if waited + wait > self.wait_limit {
                return Err(TransportError::Throttled {
                    status,
                    waited_secs: waited.as_secs(),
                });
            }
            let mut stop = self.stop.clone();
            let slept = self.handle.block_on(async move {
                tokio::select! {
                    () = tokio::time::sleep(wait) => true,
                    () = stopped(stop.as_mut()) => false,
                }
            });
            if !slept {
                return Err(TransportError::Unreachable("interrupted".into()));
            }
            waited += wait;
        };
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let (code, message) = match server::refusal(status, &bytes) {
            ClientError::Refused { code, message, .. } => (code, message),
            _ => (String::new(), String::new()),
        };
        Err(match status {
            401 => {
                self.unauthorized = true;
                TransportError::Status { status, code }
            }
            // A 403 of the server's policy (quota_exceeded,
            // circle_disabled) says what to do; `forbidden` (or a body
            // without a code) means this device is not a member.
            403 if !code.is_empty() && code != ErrorCode::Forbidden.as_str() => {
                TransportError::Refused {
                    status,
                    code,
                    message,
                }
            }
            403 => TransportError::NotMember,
            _ if code == ErrorCode::TokenExpired.as_str() => TransportError::TokenExpired,
            _ => TransportError::Status { status, code },
        })
    }

    /// One request with an optional JSON body, its JSON answer as `T`
    /// (`Malformed(what)` if it is not one).
    fn call_json<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        what: &'static str,
    ) -> Result<T, TransportError> {
        let body = match body {
            Some(b) => Some((
                JSON_MEDIA_TYPE,
                serde_json::to_vec(b)
                    .map_err(|_| TransportError::Malformed("a request does not serialize"))?,
            )),
            None => None,
        };
        let bytes = self.call(method, path, body, server::JSON_BODY_CAP)?;
        json(&bytes, what)
    }
}

/// A JSON answer's `bytes` as `T`, or [`TransportError::Malformed`]`(what)`.
fn json<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, TransportError> {
    serde_json::from_slice(bytes).map_err(|_| TransportError::Malformed(what))
}

/// No JSON body (for [`HttpTransport::call_json`]).
const NO_BODY: Option<&()> = None;

/// One request with an optional raw body of a media type; any status
/// comes back with its body: only a failed connection is an error.
async fn raw(
    server: &Server,
    method: Method,
    path: &str,
    body: Option<(&'static str, Vec<u8>)>,
    cap: usize,
) -> Result<(u16, Vec<u8>, Option<Duration>), ClientError> {
    let mut req = server.request(method, path);
    if let Some((content_type, bytes)) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes);
    }
    server.send_capped(req, cap).await
}

impl Transport for HttpTransport<'_> {
    fn changes(
        &mut self,
        zone: &str,
        since: Token,
        after: u64,
        limit: u32,
    ) -> Result<ChangesPage, TransportError> {
        let path = self.path(
            zone,
            &format!(
                "changes?since={}&after={after}&limit={limit}",
                since.to_text()
            ),
        );
        let bytes = self.call(Method::GET, &path, None, RECORDS_BODY_CAP)?;
        self.pulled_bytes += bytes.len() as u64;
        ChangesPage::decode(&bytes)
            .map_err(|_| TransportError::Malformed("a changes page does not decode"))
    }

    fn push(&mut self, zone: &str, records: &[TaggedRecord]) -> Result<PushReply, TransportError> {
        let path = self.path(zone, "records");
        let body = encode_records(records);
        self.pushed_bytes += body.len() as u64;
        let bytes = self.call(
            Method::POST,
            &path,
            Some((RECORDS_MEDIA_TYPE, body)),
            RECORDS_BODY_CAP,
        )?;
        const PUSH: &str = "the push answer";
        json::<PushResponse>(&bytes, PUSH)?
            .decode()
            .map_err(|_| TransportError::Malformed(PUSH))
    }

    fn manifest(&mut self, zone: &str, buckets: bool) -> Result<ServerManifest, TransportError> {
        const MANIFEST: &str = "the manifest answer";
        let path = self.path(zone, &format!("manifest?buckets={buckets}"));
        let got: ManifestResponse = self.call_json(Method::GET, &path, NO_BODY, MANIFEST)?;
        got.decode(buckets)
            .map_err(|_| TransportError::Malformed(MANIFEST))
    }

    fn buckets(&mut self, zone: &str, ids: &[u8]) -> Result<Vec<TaggedRecord>, TransportError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = ids.iter().map(u8::to_string).collect();
        let path = self.path(zone, &format!("buckets?ids={}", list.join(",")));
        let bytes = self.call(Method::GET, &path, None, RECORDS_BODY_CAP)?;
        decode_records(&bytes)
            .map_err(|_| TransportError::Malformed("a bucket list does not decode"))
    }

    fn peer_manifests(&mut self, zone: &str) -> Result<Vec<SignedManifest>, TransportError> {
        const LIST: &str = "the manifests list";
        let path = self.path(zone, "manifests");
        let got: ManifestsResponse = self.call_json(Method::GET, &path, NO_BODY, LIST)?;
        got.decode().map_err(|_| TransportError::Malformed(LIST))
    }

    fn put_manifest(
        &mut self,
        zone: &str,
        manifest: &SignedManifest,
    ) -> Result<bool, TransportError> {
        let path = self.path(zone, &format!("manifests/{}", manifest.signer));
        let body = PutManifestRequest::new(manifest);
        // The counter stored is not read; a divergence is reported.
        let got: PutManifestResponse =
            self.call_json(Method::PUT, &path, Some(&body), "the manifest answer")?;
        self.stats.divergence |= got.divergent;
        Ok(got.divergent)
    }

    fn progress(&mut self, progress: Progress) {
        let Some(observer) = &mut self.observer else {
            return;
        };
        let bytes_done = match progress.phase {
            Phase::Pull => self.pulled_bytes,
            Phase::Push => self.pushed_bytes,
        };
        let bytes_total = (progress.done > 0).then(|| {
            let total =
                u128::from(bytes_done) * u128::from(progress.total) / u128::from(progress.done);
            u64::try_from(total).unwrap_or(u64::MAX)
        });
        observer(TransferProgress {
            phase: progress.phase,
            records_done: progress.done,
            records_total: progress.total,
            bytes_done,
            bytes_total,
        });
    }
}

/// Whether a failed request is worth one more try on a new connection:
/// its connection broke (reset, closed before the whole answer, or
/// refused the moment it was made again, say behind a restarting proxy);
/// not a server that does not answer in time, whose wait would double.
fn broke_mid_request(e: &ClientError) -> bool {
    match e {
        ClientError::Unreachable { source, .. } => !source.is_timeout(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
