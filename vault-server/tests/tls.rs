//! TLS in the server, through the real binary: a test CA and certificates
//! made at test time (rcgen), a TLS client that trusts that CA only, a
//! client of another CA refused, a certificate rotated on disk served to
//! new connections without a restart while an open one keeps working,
//! stalled handshakes that hold up nobody, and a bad file refused at start.
#![allow(clippy::unwrap_used)]

mod common;

use common::spawn_binary;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

const BIN: &str = env!("CARGO_BIN_EXE_vault-server");

/// A test certificate authority.
struct Ca {
    params: CertificateParams,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { params, cert, key }
    }

    /// A server certificate for `localhost` and 127.0.0.1: (cert PEM, key PEM).
    fn issue(&self, serial: u64) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.serial_number = Some(serial.into());
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        #[allow(deprecated, reason = "the server's provider: ring")]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// Starts the binary with TLS; returns it and its address.
fn spawn_tls(dir: &Path, extra: &[&str]) -> (Child, String) {
    let db = dir.join("s.db");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let mut args = vec!["--listen", "127.0.0.1:0", "--log-level", "warn"];
    args.extend(["--db", db.to_str().unwrap()]);
    args.extend(["--tls-cert", cert.to_str().unwrap()]);
    args.extend(["--tls-key", key.to_str().unwrap()]);
    args.extend_from_slice(extra);
    spawn_binary(BIN, &args)
}

fn write_pair(dir: &Path, (cert, key): &(String, String)) {
    // Written next to the files, then renamed: the server never reads half.
    for (name, text) in [("cert.pem", cert), ("key.pem", key)] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

async fn connect(client: &TlsConnector, addr: &str) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    client
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// `GET /healthz` on an open connection (kept alive): the status line.
async fn healthz(tls: &mut TlsStream<TcpStream>) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") || !got.ends_with(b"}") {
        let n = tls.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

fn served_cert(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn serves_tls_refuses_other_cas_and_reloads_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("vault test CA");
    let first = ca.issue(1);
    write_pair(dir.path(), &first);
    let (child, addr) = spawn_tls(dir.path(), &[]);
    let client = ca.client();

    let mut open = connect(&client, &addr).await.unwrap();
    assert_eq!(healthz(&mut open).await, "HTTP/1.1 200 OK");
    let old = served_cert(&open);

    // A client that trusts another CA refuses the server.
    let stranger = Ca::new("another CA").client();
    let err = connect(&stranger, &addr).await.unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // The certificate rotated on disk: new connections get it, without a
    // restart, and the connection opened before keeps working.
    write_pair(dir.path(), &ca.issue(2));
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let tls = connect(&client, &addr).await.unwrap();
        if served_cert(&tls) != old {
            break tls;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut new = new;
    assert_eq!(healthz(&mut new).await, "HTTP/1.1 200 OK");
    assert_eq!(healthz(&mut open).await, "HTTP/1.1 200 OK");
    stop(child);
}

#[tokio::test]
async fn stalled_handshakes_hold_up_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("vault test CA");
    write_pair(dir.path(), &ca.issue(1));
    let (child, addr) = spawn_tls(dir.path(), &[]);
    // 50 connections that open TCP and send nothing.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let start = Instant::now();
    let mut tls = connect(&ca.client(), &addr).await.unwrap();
    assert_eq!(healthz(&mut tls).await, "HTTP/1.1 200 OK");
    // Far below the handshake timeout (10 s): nobody waited for the idle.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    drop(idle);
    stop(child);
}

#[test]
fn a_missing_or_mismatched_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let run = |cert: &Path, key: &Path| {
        Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()])
            .args(["--tls-cert", cert.to_str().unwrap()])
            .args(["--tls-key", key.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run(&dir.path().join("none.pem"), &dir.path().join("none.pem"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot use the TLS certificate"), "{err}");
    assert!(err.contains("none.pem"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
    assert!(!db.exists(), "the database was opened first");

    // A key of another certificate.
    let ca = Ca::new("vault test CA");
    let (cert, _) = ca.issue(1);
    let (_, other_key) = ca.issue(2);
    write_pair(dir.path(), &(cert, other_key));
    let out = run(&dir.path().join("cert.pem"), &dir.path().join("key.pem"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not fit the certificate"), "{err}");
}
