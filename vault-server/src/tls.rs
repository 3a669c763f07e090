//! TLS for the server (rustls, TLS 1.3; 1.2 only if configured): the
//! certificate chain and key come from PEM files and are reloaded when the
//! files change or on SIGHUP, for new connections, without dropping open
//! ones; each handshake runs in its own task with a timeout, so a client
//! that opens a connection and stalls holds up no other.

use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

/// How often the certificate files are checked for a change.
const RELOAD_POLL: Duration = Duration::from_secs(2);
/// Handshakes finished but not yet taken by the server.
const READY_QUEUE: usize = 256;

/// Where the certificate and key live, and how TLS is offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Also offer TLS 1.2.
    pub allow_tls12: bool,
    /// How long a client has to finish its handshake.
    pub handshake_timeout: Duration,
}

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{} holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    /// The key file holds no PEM private key.
    #[error("{} holds no PEM private key", .0.display())]
    NoKey(PathBuf),
    /// rustls refused the key, or the key does not belong to the certificate.
    #[error("the key in {} does not fit the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The TLS configuration was refused.
    #[error("the TLS configuration is not usable")]
    Config(#[source] rustls::Error),
}

/// rustls over *ring*: a small, pure build (aws-lc-rs, rustls's default,
/// needs a long C build). *ring* offers no post-quantum key exchange, which
/// rustls marks by deprecating this provider; the X25519 and P-256 groups
/// it offers are those of TLS 1.3 today.
#[allow(deprecated, reason = "ring is chosen knowingly; see the doc above")]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Reads and checks the certificate chain and key.
pub fn load(settings: &TlsSettings) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(&settings.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(settings.cert.clone()));
    }
    let key_pem = read(&settings.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| TlsError::NoKey(settings.key.clone()))?;
    let mismatch = |source| TlsError::Mismatch {
        cert: settings.cert.clone(),
        key: settings.key.clone(),
        source,
    };
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(mismatch)?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(mismatch)?;
    Ok(certified)
}

/// The certificate in use; swapped when the files change.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// A listener whose connections are TLS streams, handshakes done.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS on `tcp` with the certificate of `settings`, which must
    /// load now (a bad or missing file is an error before anything is
    /// served). Starts the accept loop and the reloader on the current
    /// Tokio runtime.
    pub fn bind(tcp: TcpListener, settings: &TlsSettings) -> Result<Self, TlsError> {
        let current = Arc::new(Current(RwLock::new(Arc::new(load(settings)?))));
        let versions: &[&rustls::SupportedProtocolVersion] = if settings.allow_tls12 {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // WebSocket upgrades need HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let local = tcp.local_addr().map_err(|source| TlsError::Read {
            path: PathBuf::from("<listener>"),
            source,
        })?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(tcp, acceptor, tx, settings.handshake_timeout));
        tokio::spawn(reload_loop(settings.clone(), current));
        Ok(Self { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Accepts TCP connections and hands each to its own handshake task.
async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    timeout: Duration,
) {
    loop {
        let (stream, addr) = match tcp.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if ready.is_closed() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, addr)).await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the certificate when a file's modification time changes, or on
/// SIGHUP. A reload that fails keeps the certificate in use.
async fn reload_loop(settings: TlsSettings, current: Arc<Current>) {
    let stamp = |s: &TlsSettings| (modified(&s.cert), modified(&s.key));
    let mut seen = stamp(&settings);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let forced = match hup.as_mut() {
            Some(h) => tokio::select! {
                _ = h.recv() => true,
                () = tokio::time::sleep(RELOAD_POLL) => false,
            },
            None => {
                tokio::time::sleep(RELOAD_POLL).await;
                false
            }
        };
        #[cfg(not(unix))]
        let forced = {
            tokio::time::sleep(RELOAD_POLL).await;
            false
        };
        let now = stamp(&settings);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match load(&settings) {
            Ok(key) => {
                *current.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                tracing::info!(cert = %settings.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the one in use")
            }
        }
    }
}
