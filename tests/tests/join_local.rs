//! Joining with a vault that already holds items: the join says how many
//! and refuses without a decision (the invite stays unused), shares them
//! with `--merge-local`, and drops them with `--discard-local`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, Invite, ServerProc, password};

#[test]
fn local_items_are_shared_or_dropped_only_when_asked() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    a.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        "alpha",
    ]);
    a.unlock();
    a.add_inet("circle.example", "a", "circle-pw");
    a.sync();

    // B holds two items of its own.
    let b = Device::init("beta");
    b.unlock();
    b.add_inet("b1.example", "b", "b1-pw");
    b.add_inet("b2.example", "b", "b2-pw");
    let before = b.file_bytes();
    let invite = Invite::start(&a, &[]);
    let (code, err) = b.fails(&["--json", "peer", "join", &invite.code, "--name", "beta"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds 2 items"), "{err}");
    assert!(
        err.contains("--merge-local") && err.contains("--discard-local"),
        "{err}"
    );
    assert_eq!(b.file_bytes(), before, "a refused join changed the vault");

    // The same invite still works: B drops its items and takes the circle's.
    let joined = b.json(&[
        "peer",
        "join",
        &invite.code,
        "--name",
        "beta",
        "--discard-local",
    ]);
    assert_eq!(joined["discarded_local"], 2, "{joined}");
    assert_eq!(invite.finish().0, 0);
    b.unlock();
    let r = b.sync();
    assert_eq!(r["pushed"], 0, "{r}");
    assert_eq!(password(&b, "circle.example"), "circle-pw");
    assert_ne!(b.run(&["get", "b1.example"]).0, 0, "a dropped item is back");

    // C shares its item: after a sync, A has it.
    let c = Device::init("gamma");
    c.unlock();
    c.add_inet("c1.example", "c", "c1-pw");
    let invite = Invite::start(&a, &[]);
    c.json(&[
        "peer",
        "join",
        &invite.code,
        "--name",
        "gamma",
        "--merge-local",
    ]);
    assert_eq!(invite.finish().0, 0);
    c.unlock();
    assert_eq!(c.sync()["pushed"], 1);
    a.sync();
    assert_eq!(password(&a, "c1.example"), "c1-pw");
    assert_ne!(
        a.run(&["get", "b1.example"]).0,
        0,
        "B's dropped item reached A"
    );
}
