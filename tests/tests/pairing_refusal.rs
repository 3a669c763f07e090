//! A refused pairing ends both sides at once: the inviter's person
//! answers "n" to the short authentication string on a real terminal
//! (a pty), the joiner is told in the session and exits within seconds
//! with a clear message, and the circle gains no member.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, ServerProc};
use rexpect::process::WaitStatus;
use rexpect::session::spawn_command;
use std::time::{Duration, Instant};

#[test]
fn a_refused_sas_ends_the_joiner_within_seconds() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    let b = Device::init("beta");
    a.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        "alpha",
    ]);

    // The inviter on a terminal, so that it asks.
    let mut invite = a.cmd();
    // The pty becomes the child's stdin (the harness's default is none).
    invite
        .args(["peer", "invite"])
        .stdin(std::process::Stdio::inherit());
    let mut p = spawn_command(invite, Some(30_000)).unwrap();
    let (_, code) = p.exp_regex(r"http://\S+#[a-z2-7-]+").unwrap();

    let mut join = b.cmd();
    join.args(["peer", "join", &code, "--name", "beta"]);
    let joiner = std::thread::spawn(move || {
        let out = join.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            Instant::now(),
        )
    });

    p.exp_string("[y/N] ").unwrap();
    let refused_at = Instant::now();
    p.send_line("n").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("not added"), "{rest:?}");
    match p.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => assert_eq!(code, 2),
        other => panic!("the inviter did not exit: {other:?}"),
    }

    let (code, err, ended_at) = joiner.join().unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("refused this one"), "{err}");
    let waited = ended_at.saturating_duration_since(refused_at);
    assert!(
        waited < Duration::from_secs(5),
        "the joiner waited {waited:?}"
    );

    // Nobody joined: A's circle is A alone, and B holds no circle.
    let peers = a.json(&["peer", "ls"]);
    assert_eq!(peers["peers"].as_array().unwrap().len(), 1, "{peers}");
    assert!(b.json(&["status"])["circle"].is_null());
}
