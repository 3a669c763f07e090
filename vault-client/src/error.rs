//! The client's one error type: every way a request to the sync server
//! can fail, as variants a front end can match on. No message carries a
//! token, a secret or a body.

/// Why a request to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server at {url}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (another CA, expired, another host name) or the server does not
    /// speak TLS. No request was sent.
    #[error("cannot connect securely to {url}: {reason}")]
    Tls {
        /// The server's base URL.
        url: String,
        /// What the handshake found, in words.
        reason: String,
    },
    /// The server answered with its JSON error.
    #[error("the server refused: {message} ({status} {code})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code (PROTOCOL.md).
        code: String,
        /// The server's explanation, control characters removed.
        message: String,
    },
    /// The server's answer does not have the documented shape.
    #[error("the server sent a malformed answer: {0}")]
    Malformed(&'static str),
    /// The server's URL is not usable.
    #[error(
        "bad server URL {0:?}: expected https://HOST[:PORT] (or http:// to a loopback address)"
    )]
    BadUrl(String),
    /// Plain http to an address that is not loopback, without the user's
    /// explicit consent: tokens and ciphertext would cross the network in
    /// the clear. Refused before any connection is made.
    #[error(
        "{0}: plain http is allowed only to a loopback address; use https, or pass --allow-insecure-http to accept that tokens cross the network unencrypted"
    )]
    InsecureHttp(String),
    /// The CA file given for the circle's server holds no usable
    /// certificate.
    #[error("the CA file holds no usable certificate: {0}")]
    BadCaFile(String),
    /// No CA certificate could be read from the system, and the circle has
    /// neither a CA file nor a pin.
    #[error(
        "no trusted CA certificates could be read from this system ({0}); give the server's CA with --ca-file"
    )]
    NoTrustStore(String),
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
    /// The server kept answering 429 or 503 past the wait allowed.
    #[error(
        "the server is busy or rate-limiting ({status}); gave up after waiting {waited_secs} s"
    )]
    Throttled {
        /// The last status (429 or 503).
        status: u16,
        /// Seconds waited in all.
        waited_secs: u64,
    },
    /// The operation was stopped by the caller.
    #[error("interrupted")]
    Interrupted,
}

impl ClientError {
    /// Whether another server of the circle may do better: this one was
    /// not reached, failed its TLS handshake, or answered that it (or a
    /// proxy before it) is down (502, 503, 504).
    pub fn is_unavailable(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } | ClientError::Tls { .. } => true,
            ClientError::Refused { status, .. } => (502..=504).contains(status),
            _ => false,
        }
    }

    /// The server's error code, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A failed request to `url`: a TLS failure in its source chain
    /// becomes [`ClientError::Tls`] with the certificate problem in words.
    pub(crate) fn from_reqwest(url: &str, source: reqwest::Error) -> ClientError {
        match crate::tls::handshake_failure(&source) {
            Some(reason) => ClientError::Tls {
                url: url.to_owned(),
                reason,
            },
            None => ClientError::Unreachable {
                url: url.to_owned(),
                source,
            },
        }
    }
}
