//! One sync server as the client sees it: its URL checked (https, or
//! http to loopback only unless allowed), an HTTP client that follows no
//! redirect and sends no Referer, TLS as the circle's [`ServerTrust`]
//! says, the session token, and the capped reading of answers with the
//! waits 429 and 503 ask for. The routes are in `circle`, `relay` and
//! `transport`.

use crate::error::ClientError;
use crate::tls::Tls;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::time::Duration;
use vault_core::circle::ServerTrust;
use vault_proto::ErrorBody;

/// How long one HTTP request may take (a long-poll adds its wait).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the TCP connect and TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long an idle pooled connection is kept: well below the server's
/// header timeout (10 s by default), which also ends idle keep-alive
/// connections, so a request never races the server closing the one it
/// reuses.
const POOL_IDLE: Duration = Duration::from_secs(5);

/// How long one request to the circle routes waits out 429 and 503.
const WAIT_LIMIT: Duration = Duration::from_secs(120);

/// The largest JSON answer read from the server (a circle log of the
/// largest circles is far below it); a longer body is refused unread.
pub const JSON_BODY_CAP: usize = 4 << 20;

/// A server URL that passed [`check_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    /// The base URL, without a trailing slash.
    pub base: String,
    /// Whether it is https.
    pub tls: bool,
}

/// Checks a server URL before any connection: `https://HOST[:PORT]`, or
/// `http://` to a loopback address (127.0.0.0/8, ::1, `localhost`), or
/// `http://` anywhere when `allow_insecure_http`; no path, query,
/// fragment or credentials.
pub fn check_url(url: &str, allow_insecure_http: bool) -> Result<CheckedUrl, ClientError> {
    let base = url.trim_end_matches('/').to_owned();
    let bad = || ClientError::BadUrl(without_credentials(url));
    let parsed = url::Url::parse(&base).map_err(|_| bad())?;
    if !parsed.path().is_empty() && parsed.path() != "/"
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(bad());
    }
    let loopback = match parsed.host().ok_or_else(bad)? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
    };
    match parsed.scheme() {
        "https" => Ok(CheckedUrl { base, tls: true }),
        "http" if loopback || allow_insecure_http => Ok(CheckedUrl { base, tls: false }),
        "http" => Err(ClientError::InsecureHttp(base)),
        _ => Err(bad()),
    }
}

/// `url` as an error message may quote it: whatever stands before an `@`
/// in its authority (a user name and password) is replaced by `***`. Done
/// on the text, so a URL the parser refuses is covered too.
fn without_credentials(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// One server, with the session token once authenticated.
pub struct Server {
    base: String,
    http: reqwest::Client,
    tls: Option<Tls>,
    pub(crate) token: Option<String>,
    /// The session token's lifetime as the server gave it.
    pub(crate) token_lifetime: Option<Duration>,
}

impl Server {
    /// A client of the server at `url`, authenticated as `trust` says
    /// ([`check_url`] first: nothing is sent to a refused URL).
    pub fn new(url: &str, trust: &ServerTrust) -> Result<Self, ClientError> {
        let checked = check_url(url, trust.allow_insecure_http)?;
        // reqwest needs a TLS setup even for http (it builds one with the
        // process's default provider otherwise, and there is none); for
        // http it reads no trust store and is never used.
        let config = Tls::new(trust, checked.tls)?;
        let tls = checked.tls.then(|| config.clone());
        // No redirect is followed and no Referer sent: the device talks to
        // the server it was given and to nothing else.
        let builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false);
        let http = builder
            .tls_backend_preconfigured((*config.config).clone())
            .build()
            .map_err(|e| ClientError::from_reqwest(&checked.base, e))?;
        Ok(Self {
            base: checked.base,
            http,
            tls,
            token: None,
            token_lifetime: None,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The SHA-256 of the certificate the server presented on the last
    /// TLS connection, if any: what an invite code pins.
    pub fn cert_sha256(&self) -> Option<[u8; 32]> {
        self.tls.as_ref().and_then(Tls::seen)
    }

    /// The TLS client setup, for the WebSocket (none over http).
    pub(crate) fn tls_config(&self) -> Option<std::sync::Arc<rustls::ClientConfig>> {
        self.tls.as_ref().map(|t| t.config.clone())
    }

    /// How long the session token was issued for (renew it before).
    pub fn token_lifetime(&self) -> Option<Duration> {
        self.token_lifetime
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
    pub fn unreachable(&self, source: reqwest::Error) -> ClientError {
        ClientError::from_reqwest(&self.base, source)
    }

    /// `GET path`, its JSON answer as `T` (`Malformed(what)` if it is
    /// not one).
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &'static str,
    ) -> Result<T, ClientError> {
        self.get_with_timeout(path, REQUEST_TIMEOUT, what).await
    }

    /// [`Server::get`] with another timeout (a long-poll).
    pub(crate) async fn get_with_timeout<T: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
        what: &'static str,
    ) -> Result<T, ClientError> {
        let req = self.request(reqwest::Method::GET, path).timeout(timeout);
        answer(&self.finish(req).await?, what)
    }

    /// `POST path` with a JSON body; the answer's bytes (a route that
    /// reads them parses them with [`answer`]).
    pub(crate) async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, ClientError> {
        let req = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .timeout(timeout.unwrap_or(REQUEST_TIMEOUT));
        self.finish(req).await
    }

    /// Sends `req`, waiting out 429 and 503; a success's body, or the
    /// server's refusal.
    async fn finish(&self, mut req: reqwest::RequestBuilder) -> Result<Vec<u8>, ClientError> {
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
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(refusal(status, &body))
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
    ) -> Result<(u16, Vec<u8>, Option<Duration>), ClientError> {
        let mut resp = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if (300..400).contains(&status) {
            return Err(ClientError::Redirected { status });
        }
        if resp.content_length().is_some_and(|n| n > cap as u64) {
            return Err(ClientError::TooLarge { limit: cap });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(e))? {
            if body.len() + chunk.len() > cap {
                return Err(ClientError::TooLarge { limit: cap });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body, retry_after))
    }
}

/// The server's JSON error ([`ErrorBody`], `{"error":{"code","message"}}`)
/// in an answer's `body` as a [`ClientError::Refused`], its code and
/// message stripped of control characters and cut at 200 characters; a
/// body that is no error envelope leaves both empty.
pub fn refusal(status: u16, body: &[u8]) -> ClientError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => (clean(error.code.as_str()), clean(&error.message)),
        Err(_) => (String::new(), String::new()),
    };
    ClientError::Refused {
        status,
        code,
        message,
    }
}

/// A server's text as the client shows it: no control characters, at
/// most 200 characters.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// A JSON answer's `body` as `T`, or [`ClientError::Malformed`]`(what)`.
pub(crate) fn answer<T: DeserializeOwned>(
    body: &[u8],
    what: &'static str,
) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|_| ClientError::Malformed(what))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_are_checked_before_any_connection() {
        let ok = |u: &str, allow| check_url(u, allow).unwrap();
        assert_eq!(
            ok("https://vault.example:8625/", false),
            CheckedUrl {
                base: "https://vault.example:8625".into(),
                tls: true
            }
        );
        for loopback in [
            "http://127.0.0.1:8625",
            "http://127.8.9.10",
            "http://[::1]:8625",
            "http://localhost:8625",
            "http://LOCALHOST",
        ] {
            assert!(!ok(loopback, false).tls, "{loopback}");
        }
        for remote in [
            "http://192.168.1.10:8625",
            "http://10.0.0.1",
            "http://vault.example",
            "http://[2001:db8::1]",
            "http://0.0.0.0:8625",
            "http://localhost.evil.example",
        ] {
            assert!(
                matches!(check_url(remote, false), Err(ClientError::InsecureHttp(_))),
                "{remote}"
            );
            assert!(!ok(remote, true).tls, "{remote} with --allow-insecure-http");
        }
        for bad in [
            "vault.example",
            "ftp://vault.example",
            "https://vault.example/path",
            "https://vault.example/?q=1",
            "https://user:pw@vault.example",
            "https://vault.example#frag",
            "https://",
        ] {
            assert!(
                matches!(check_url(bad, true), Err(ClientError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_refused_url_is_quoted_without_its_credentials() {
        for (url, quoted) in [
            (
                "https://alice:hunter2@vault.example",
                "https://***@vault.example",
            ),
            (
                "http://hunter2@10.0.0.1:8443/x",
                "http://***@10.0.0.1:8443/x",
            ),
            ("alice:hunter2@bad host", "***@bad host"),
            ("https://vault.example/a@b", "https://vault.example/a@b"),
        ] {
            let e = check_url(url, false).unwrap_err();
            assert!(
                matches!(&e, ClientError::BadUrl(q) if q == quoted),
                "{url}: {e:?}"
            );
            let text = e.to_string();
            assert!(
                !text.contains("hunter2") && !text.contains("alice"),
                "{text}"
            );
        }
    }

    #[test]
    fn refusals_read_the_error_envelope() {
        let refused = |body: &[u8]| match refusal(409, body) {
            ClientError::Refused {
                status,
                code,
                message,
            } => (status, code, message),
            other => panic!("{other:?}"),
        };
        let body = br#"{"error":{"code":"conflict","message":"the head moved"}}"#;
        assert_eq!(
            refused(body),
            (409, "conflict".into(), "the head moved".into())
        );
        // A newer server's code is kept; control characters go, and both
        // texts stop at 200 characters.
        let long = "x".repeat(300);
        let body = format!(r#"{{"error":{{"code":"tea\u001bpot","message":"a\nb\u0007{long}"}}}}"#);
        let (_, code, message) = refused(body.as_bytes());
        assert_eq!(code, "teapot");
        assert_eq!(message, format!("ab{}", &long[..198]));
        // Not an error envelope: no code, no message.
        for body in [
            &b"<html>busy</html>"[..],
            b"{}",
            br#"{"error":{"code":"x"}}"#,
        ] {
            assert_eq!(refused(body), (409, String::new(), String::new()));
        }
    }

    #[test]
    fn a_refused_url_builds_no_client() {
        // Nothing listens on the address; the check fails before any
        // connection would be tried.
        let err = Server::new("http://192.0.2.1:8625", &ServerTrust::default())
            .err()
            .unwrap();
        assert!(matches!(err, ClientError::InsecureHttp(_)));
        assert!(err.to_string().contains("--allow-insecure-http"));
    }
}
