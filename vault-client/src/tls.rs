//! TLS for the client (rustls, ring provider): the server's certificate
//! is verified against the system trust store, or against the circle's
//! own CA when it has one; a certificate pinned by an invite code is
//! accepted besides. The verifier remembers the SHA-256 of the last
//! certificate it accepted, so an inviter can pin what it saw.

use crate::error::ClientError;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use vault_core::circle::ServerTrust;

/// The SHA-256 of a certificate's DER bytes: what an invite code pins.
pub fn cert_sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// rustls over *ring*, as the server: a small, pure build (aws-lc-rs
/// needs a long C build). rustls deprecates this provider because *ring*
/// offers no post-quantum key exchange; X25519 and P-256 remain.
#[allow(deprecated, reason = "ring is chosen knowingly; see the doc above")]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client TLS setup for one circle's server.
#[derive(Clone)]
pub(crate) struct Tls {
    /// What reqwest and the WebSocket connector use.
    pub config: Arc<rustls::ClientConfig>,
    /// The SHA-256 of the end-entity certificate last accepted.
    seen: Arc<Mutex<Option<[u8; 32]>>>,
}

impl Tls {
    /// The configuration `trust` describes: its CA (PEM) instead of the
    /// system trust store when given, and its pin besides. For a server
    /// over plain http (`for_https` false) the system store is not read:
    /// the configuration only satisfies reqwest and refuses any
    /// certificate.
    pub fn new(trust: &ServerTrust, for_https: bool) -> Result<Tls, ClientError> {
        let provider = provider();
        let anchors: Option<Arc<dyn ServerCertVerifier>> = match &trust.ca_pem {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| ClientError::BadCaFile(e.to_string()))?;
                    roots
                        .add(cert)
                        .map_err(|e| ClientError::BadCaFile(e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(ClientError::BadCaFile("no PEM certificate in it".into()));
                }
                Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| ClientError::BadCaFile(e.to_string()))?,
                )
            }
            None if !for_https => None,
            None => match rustls_platform_verifier::Verifier::new(provider.clone()) {
                Ok(system) => Some(Arc::new(system)),
                // A pin alone still names the server.
                Err(_) if trust.cert_pin.is_some() => None,
                Err(e) => return Err(ClientError::NoTrustStore(e.to_string())),
            },
        };
        let seen = Arc::new(Mutex::new(None));
        let verifier = Arc::new(Anchored {
            anchors,
            pin: trust.cert_pin,
            provider: provider.clone(),
            seen: seen.clone(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::BadCaFile(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
            seen,
        })
    }

    /// The SHA-256 of the server certificate last accepted, if any.
    pub fn seen(&self) -> Option<[u8; 32]> {
        self.seen.lock().ok().and_then(|s| *s)
    }
}

/// Accepts a chain the anchors verify, or one holding the pinned
/// certificate; records the end-entity certificate accepted.
#[derive(Debug)]
struct Anchored {
    /// None: no certificate is trusted but a pinned one.
    anchors: Option<Arc<dyn ServerCertVerifier>>,
    pin: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Option<[u8; 32]>>>,
}

impl ServerCertVerifier for Anchored {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let leaf = cert_sha256(end_entity);
        // A pin names one exact certificate the inviter saw: it stands
        // for the chain and the name (the handshake's signature is still
        // checked against that certificate's key).
        let pinned = self
            .pin
            .is_some_and(|pin| leaf == pin || intermediates.iter().any(|c| cert_sha256(c) == pin));
        if !pinned {
            let Some(anchors) = &self.anchors else {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                ));
            };
            anchors.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            )?;
        }
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(leaf);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The TLS failure in an error's source chain, in words, if there is
/// one (a rustls error travels inside `io::Error`s, whose own `source`
/// skips what they wrap, so each `io::Error` is opened too).
pub(crate) fn handshake_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(describe(tls));
        }
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

fn describe(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "the server's certificate is not signed by a trusted CA \
                 (for a private CA, give its certificate with --ca-file)"
                    .into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is for another host name".into()
            }
            other => format!("the server's certificate is refused: {other}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server does not answer in TLS (is it serving plain http?)".into()
        }
        other => other.to_string(),
    }
}
