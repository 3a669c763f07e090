//! `vault sync` and the sync lines of `vault status`, where no server is
//! needed (the end-to-end sync tests run a real server in `tests/`).
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn sync_without_a_circle_is_a_usage_error() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw");
    let before = env.snapshot();
    for args in [&["sync"][..], &["sync", "--watch"], &["--json", "sync"]] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = one_line_error(&out);
        assert!(err.contains("not in a circle"), "{err}");
        assert!(err.contains("vault circle create"), "{err}");
        if args[0] == "--json" {
            let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(j["error"]["code"], "usage");
        } else {
            assert!(out.stdout.is_empty());
        }
    }
    // It fails before asking for a password.
    env.cmd_nopw().arg("sync").assert().code(2);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn status_counts_changes_waiting_to_sync() {
    let env = Env::init();
    let s = env.json(&["status"]);
    assert_eq!(s["sync"]["pending"], 0);
    assert_eq!(s["sync"]["last_sync_ms"], serde_json::Value::Null);
    assert_eq!(s["sync"]["token"], "0.0");
    assert_eq!(s["sync"]["quarantined"], 0);
    env.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "sync:      0 changes waiting; last sync never; 0 quarantined",
        ));

    let id = env.add_inet("github.com", "alice", "pw-alice");
    env.add_inet("example.com", "bob", "pw-bob");
    assert_eq!(env.json(&["status"])["sync"]["pending"], 2);
    // An edit of an item already waiting is still one change.
    env.ok(&["edit", &id, "--label", "work"]);
    assert_eq!(env.json(&["status"])["sync"]["pending"], 2);
    env.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "sync:      2 changes waiting; last sync never",
        ));
}

#[test]
fn help_documents_sync_and_exit_code_7() {
    let env = Env::new();
    env.cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "7  the sync server failed verification",
        ))
        .stdout(predicate::str::contains("sync"));
    env.cmd()
        .args(["sync", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--watch"));
}
