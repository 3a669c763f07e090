//! How a device authenticates its circle's server over TLS, kept with the
//! circle: a private CA, a certificate pinned by an invite code, and
//! whether plain http to a non-loopback address was explicitly allowed.
//! None of it is secret; the sync client (vault-client) applies it.

/// What anchors the server's certificate, besides the URL's scheme.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTrust {
    /// A private CA's certificates (PEM). When set they replace the
    /// system trust store for this circle's server.
    pub ca_pem: Option<String>,
    /// The SHA-256 of a certificate (DER) the server may present, taken
    /// from an invite code: a chain holding it is accepted besides the
    /// anchors (system store or CA).
    pub cert_pin: Option<[u8; 32]>,
    /// Plain `http://` to a non-loopback address was allowed by the user
    /// (`--allow-insecure-http`): tokens and ciphertext cross the network
    /// unencrypted, so front ends show a warning.
    pub allow_insecure_http: bool,
}
