//! The client's TLS against a recording HTTPS server on 127.0.0.1 (test
//! certificates made at run time with rcgen): a server of the circle's CA
//! is accepted; another CA's, an expired and a wrong-name certificate are
//! each refused with a clear error before any request reaches the server;
//! a pinned certificate is accepted without any CA, a wrong pin is not.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use vault_client::{ClientError, Server, cert_sha256};
use vault_core::circle::ServerTrust;

/// The tests' CA (also used by the end-to-end TLS tests).
#[path = "../../tests/tests/common/testca.rs"]
#[allow(dead_code, reason = "shared helper; this test uses part of it")]
mod testca;

use testca::TestCa as Ca;

/// A leaf of `ca` for `names` as DER and its key, expired if `expired`.
fn issue(
    ca: &Ca,
    names: &[&str],
    expired: bool,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let (cert, key) = ca.issue(names, expired);
    (
        CertificateDer::from_pem_slice(cert.as_bytes()).unwrap(),
        PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
    )
}

/// Trust in `ca` alone.
fn trust(ca: &Ca) -> ServerTrust {
    ServerTrust {
        ca_pem: Some(ca.pem()),
        ..ServerTrust::default()
    }
}

/// What reached the application: request lines read after a handshake.
type Seen = Arc<Mutex<Vec<String>>>;

/// An HTTPS server on 127.0.0.1 serving `cert`; answers `{}` to every
/// request and records its request line.
async fn serve(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> (String, Seen) {
    #[allow(deprecated, reason = "ring, as the server and client")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&got)
                    .lines()
                    .next()
                    .unwrap()
                    .to_owned();
                log.lock().unwrap().push(line);
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                              content-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://localhost:{port}"), seen)
}

async fn get(server: &Server) -> Result<u16, ClientError> {
    let req = server.request(reqwest::Method::GET, "/v1/probe");
    server
        .send_capped(req, 1024)
        .await
        .map(|(status, _, _)| status)
}

#[tokio::test]
async fn the_circles_ca_is_trusted_and_what_was_seen_is_pinnable() {
    let ca = Ca::new("circle CA");
    let (cert, key) = issue(&ca, &["localhost"], false);
    let leaf = cert_sha256(&cert);
    let (url, seen) = serve(cert, key).await;
    let server = Server::new(&url, &trust(&ca)).unwrap();
    assert_eq!(
        server.cert_sha256(),
        None,
        "nothing seen before a connection"
    );
    assert_eq!(get(&server).await.unwrap(), 200);
    assert_eq!(*seen.lock().unwrap(), vec!["GET /v1/probe HTTP/1.1"]);
    assert_eq!(server.cert_sha256(), Some(leaf));
}

#[tokio::test]
async fn bad_certificates_are_refused_before_any_request() {
    let ca = Ca::new("circle CA");
    let other = Ca::new("someone else");
    let cases = [
        (
            issue(&other, &["localhost"], false),
            "not signed by a trusted CA",
        ),
        (issue(&ca, &["localhost"], true), "expired"),
        (issue(&ca, &["vault.example"], false), "another host name"),
    ];
    for ((cert, key), why) in cases {
        let (url, seen) = serve(cert, key).await;
        let server = Server::new(&url, &trust(&ca)).unwrap();
        match get(&server).await {
            Err(e @ ClientError::Tls { .. }) => {
                let text = e.to_string();
                assert!(text.contains(why), "{why}: {text}");
                assert!(text.contains(&url), "{text}");
            }
            other => panic!("{why}: {other:?}"),
        }
        assert!(seen.lock().unwrap().is_empty(), "{why}: a request arrived");
        assert_eq!(server.cert_sha256(), None);
    }
}

#[tokio::test]
async fn a_pin_stands_for_the_ca_and_a_wrong_pin_does_not() {
    // A certificate no trust store knows, for another name even: the
    // pin names it exactly.
    let ca = Ca::new("private CA nobody has");
    let (cert, key) = issue(&ca, &["vault.internal"], false);
    let leaf = cert_sha256(&cert);
    let (url, seen) = serve(cert, key).await;
    let pinned = ServerTrust {
        cert_pin: Some(leaf),
        ..ServerTrust::default()
    };
    let server = Server::new(&url, &pinned).unwrap();
    assert_eq!(get(&server).await.unwrap(), 200);
    assert_eq!(seen.lock().unwrap().len(), 1);

    let wrong = ServerTrust {
        cert_pin: Some([7; 32]),
        ..ServerTrust::default()
    };
    let server = Server::new(&url, &wrong).unwrap();
    assert!(matches!(get(&server).await, Err(ClientError::Tls { .. })));
    assert_eq!(seen.lock().unwrap().len(), 1, "no request with a wrong pin");
}

#[tokio::test]
async fn plain_http_to_a_tls_server_and_tls_to_a_plain_one_fail_clearly() {
    let ca = Ca::new("circle CA");
    // https to a server that speaks plain HTTP.
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = plain.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = plain.accept().await.unwrap();
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let server = Server::new(&format!("https://localhost:{port}"), &trust(&ca)).unwrap();
    match get(&server).await {
        Err(ClientError::Tls { reason, .. }) => assert!(reason.contains("TLS"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_ca_file_without_a_certificate_is_refused() {
    let bad = ServerTrust {
        ca_pem: Some("not a certificate".into()),
        ..ServerTrust::default()
    };
    assert!(matches!(
        Server::new("https://localhost:1", &bad),
        Err(ClientError::BadCaFile(_))
    ));
}
