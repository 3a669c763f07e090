//! The circle over real TLS, through the real binaries: a test CA and
//! server certificate made at run time (rcgen), `vault-server` with
//! `--tls-cert`/`--tls-key`, and three devices that trust it three ways:
//! the system trust store (`SSL_CERT_FILE`), the circle's CA file, and
//! the certificate pin an invite code carries. Pairing, sync and watch
//! all run over https/wss; a certificate rotated on disk is served
//! without a restart while an open WebSocket stays up; certificates of
//! another CA, expired or for another name are refused and create
//! nothing.
#![allow(clippy::unwrap_used)]

mod common;

use common::testca::TestCa;
use common::{Device, Invite, ServerProc, password};
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The number of circles the server stores.
fn circles(server: &ServerProc) -> i64 {
    server
        .sql()
        .query_row("SELECT count(*) FROM circles", [], |r| r.get(0))
        .unwrap()
}

/// Polls `d` until its password for `query` is `want`.
fn wait_for_password(d: &Device, query: &str, want: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let (code, out, _) = d.run(&["get", query]);
        if code == 0 && out.trim_end() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never saw {want:?} (last: {out:?})",
            d.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `vault sync --watch` on `d`, killed on drop; its stderr on `stop`.
struct Watch(Child);

impl Watch {
    fn start(d: &Device) -> Watch {
        let child = d
            .cmd()
            .args(["sync", "--watch"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Watch(child)
    }

    fn stop(mut self) -> String {
        let pid = rustix::process::Pid::from_child(&self.0);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let _ = self.0.wait();
        let mut err = String::new();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pairing_sync_and_watch_over_https_with_each_kind_of_trust() {
    let ca = TestCa::new("circle test CA");
    let stranger = TestCa::new("a CA nobody here trusts");
    let (cert, key) = ca.issue(&["localhost"], false);
    let server = ServerProc::start_tls(&cert, &key);
    let url = server.url.clone();
    assert!(url.starts_with("https://localhost:"), "{url}");

    // A trusts the server through the system store (SSL_CERT_FILE is
    // where rustls-platform-verifier reads it on Linux); B through the
    // circle's CA file; C through the pin in B's invite only. B's system
    // store holds another CA; C has none at all.
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let other_file = stranger.write(dir.path(), "other.pem");
    let a = Device::init("alpha").with_env("SSL_CERT_FILE", &ca_file);
    let b = Device::init("beta").with_env("SSL_CERT_FILE", &other_file);
    let nowhere = dir.path().join("no-such-store");
    let c = Device::init("gamma")
        .with_env("SSL_CERT_FILE", &nowhere)
        .with_env("SSL_CERT_DIR", &nowhere);
    // With no trust store and no CA file, https cannot be verified.
    let (_, err) = c.fails(&["circle", "create", "--server", &url]);
    assert!(err.contains("no trusted CA certificates"), "{err}");
    assert!(c.json(&["status"])["circle"].is_null());

    // Without the CA, B cannot even create a circle on it.
    let (exit, err) = b.fails(&["circle", "create", "--server", &url]);
    assert!(err.contains("not signed by a trusted CA"), "{exit}: {err}");

    a.json(&["circle", "create", "--server", &url, "--name", "alpha"]);
    let invite = Invite::start(&a, &[]);
    assert!(
        !invite.code.contains("#sha256-"),
        "a server the system store trusts needs no pin: {}",
        invite.code
    );
    let ca_arg = ca_file.to_str().unwrap();
    b.json(&[
        "peer",
        "join",
        &invite.code,
        "--name",
        "beta",
        "--ca-file",
        ca_arg,
    ]);
    assert_eq!(invite.finish().0, 0);

    // B holds the CA, so its invite pins the certificate it sees.
    let invite = Invite::start(&b, &[]);
    let code = invite.code.clone();
    assert!(code.contains("#sha256-"), "{code}");
    c.json(&["peer", "join", &code, "--name", "gamma"]);
    assert_eq!(invite.finish().0, 0);
    // Without the pin, a device with no CA has no way to trust the
    // server (this code is spent, but the handshake fails first).
    let bare =
        code.split("#sha256-").next().unwrap().to_owned() + "#" + code.rsplit('#').next().unwrap();
    let d = Device::init("delta").with_env("SSL_CERT_FILE", &other_file);
    let (_, err) = d.fails(&["peer", "join", &bare, "--name", "delta"]);
    assert!(err.contains("not signed by a trusted CA"), "{err}");

    for dev in [&a, &b, &c] {
        dev.unlock();
    }
    a.add_inet("mail.example", "me", "first");
    a.sync();
    b.sync();
    c.sync();
    assert_eq!(password(&b, "mail.example"), "first");
    assert_eq!(password(&c, "mail.example"), "first");

    // C watches over wss: A's next change arrives without C asking.
    let watch = Watch::start(&c);
    // Let the socket come up (the watcher's first round syncs at once).
    std::thread::sleep(Duration::from_secs(1));
    a.set_password("mail.example", "second");
    a.sync();
    wait_for_password(&c, "mail.example", "second", Duration::from_secs(10));

    // The certificate is rotated on disk (same CA, new key): new
    // connections get it, and C's open WebSocket stays up. C trusts by
    // pin, so its watcher keeps working only on the socket it holds; A
    // and B (CA) verify the new certificate.
    let (cert2, key2) = ca.issue(&["localhost"], false);
    server.rotate_tls(&cert2, &key2);
    std::thread::sleep(Duration::from_millis(500));
    b.set_password("mail.example", "third");
    b.sync();
    a.sync();
    assert_eq!(password(&a, "mail.example"), "third");
    wait_for_password(&c, "mail.example", "third", Duration::from_secs(10));
    let err = watch.stop();
    assert!(
        !err.contains("no connection to the sync server"),
        "the watcher's socket dropped: {err}"
    );
    // Now a new connection from C meets a certificate its pin does not
    // name, from a CA it does not hold: refused, with the way out.
    let (_, err) = c.fails(&["sync"]);
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    assert!(err.contains("--ca-file"), "{err}");
    c.ok(&["circle", "trust", "--ca-file", ca_arg]);
    c.sync();
    assert_eq!(password(&c, "mail.example"), "third");
}

#[test]
fn bad_certificates_are_refused_and_create_nothing() {
    let ca = TestCa::new("circle test CA");
    let other = TestCa::new("another CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "ca.pem");
    let cases = [
        (
            other.issue(&["localhost"], false),
            "not signed by a trusted CA",
        ),
        (ca.issue(&["localhost"], true), "expired"),
        (ca.issue(&["vault.example"], false), "another host name"),
    ];
    for ((cert, key), why) in cases {
        let server = ServerProc::start_tls(&cert, &key);
        let a = Device::init("alpha");
        let before = a.file_bytes();
        let (exit, err) = a.fails(&[
            "circle",
            "create",
            "--server",
            &server.url,
            "--ca-file",
            ca_file.to_str().unwrap(),
        ]);
        assert!(err.contains(why), "{why}: {exit}: {err}");
        assert!(err.contains("cannot connect securely"), "{err}");
        assert_eq!(a.file_bytes(), before, "{why}: the vault changed");
        assert_eq!(circles(&server), 0, "{why}: the server stored a circle");
    }
}

#[test]
fn insecure_http_is_kept_and_shown_only_when_allowed() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    a.json(&["circle", "create", "--server", &server.url]);
    // Loopback http needs no consent and gets no warning.
    assert_eq!(a.json(&["status"])["circle"]["insecure_http"], false);
    assert!(!a.ok(&["status"]).contains("warning"));
    a.ok(&["circle", "trust", "--allow-insecure-http"]);
    assert_eq!(a.json(&["status"])["circle"]["insecure_http"], true);
    let text = a.ok(&["status"]);
    assert!(text.contains("warning: plain http"), "{text}");
    a.ok(&["circle", "trust", "--deny-insecure-http"]);
    assert_eq!(a.json(&["status"])["circle"]["insecure_http"], false);

    // A CA file that holds no usable certificate is refused, and the
    // trust stays as it was.
    let bad = a.dir.path().join("bad-ca.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let before = a.file_bytes();
    let (code, err) = a.fails(&["circle", "trust", "--ca-file", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("CA file"), "{err}");
    assert_eq!(a.file_bytes(), before);
    a.sync();
}
