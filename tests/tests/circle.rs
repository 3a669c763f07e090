//! The trusted circle end to end: real `vault-server` processes on
//! 127.0.0.1 and devices driven through the `vault` binary.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, Invite, ServerProc, pair};
use serde_json::Value;
use std::collections::BTreeSet;

/// The current epoch's number and key uuid, read from the vault file: what
/// "holding the same vault key epoch" means on disk.
fn epoch_on_disk(d: &Device) -> (u32, Vec<u8>) {
    let c = rusqlite::Connection::open(&d.vault).unwrap();
    c.query_row(
        "SELECT e.epoch, e.key_uuid FROM key_epochs e
         JOIN vault_meta m ON m.current_epoch = e.epoch",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn peer_ids(list: &Value) -> BTreeSet<String> {
    list["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap().to_owned())
        .collect()
}

fn me(list: &Value) -> String {
    let mine: Vec<_> = list["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["this_device"] == true)
        .collect();
    assert_eq!(mine.len(), 1, "exactly one peer is this device: {list}");
    mine[0]["peer_id"].as_str().unwrap().to_owned()
}

#[test]
fn two_devices_pair_and_hold_the_same_vault_key() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    let b = Device::init("beta");
    // B has an item of its own before it joins: it must survive the join.
    b.ok(&[
        "add",
        "genp",
        "--service",
        "b-before",
        "--account",
        "x",
        "--generate",
    ]);
    let before = b.ok(&["get", "b-before"]);

    let created = a.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        "alpha",
    ]);
    assert_eq!(created["server"], server.url.as_str());
    let (inv, joined) = pair(&a, &b);

    // The same SAS on both screens, naming B.
    assert_eq!(inv["sas"], joined["sas"]);
    assert!(inv["sas"].as_str().unwrap().len() >= 6, "{inv}");
    assert_eq!(inv["peer"], joined["peer_id"]);
    // Directional session keys: A's send key is B's receive key and the
    // other way round, and a side's two keys differ.
    assert_eq!(inv["session"]["send"], joined["session"]["recv"]);
    assert_eq!(inv["session"]["recv"], joined["session"]["send"]);
    assert_ne!(inv["session"]["send"], inv["session"]["recv"]);
    assert_ne!(joined["session"]["send"], joined["session"]["recv"]);

    // Both list the same two peers, each marking itself.
    let la = a.json(&["peer", "ls"]);
    let lb = b.json(&["peer", "ls"]);
    assert_eq!(peer_ids(&la), peer_ids(&lb));
    assert_eq!(peer_ids(&la).len(), 2);
    assert_eq!(me(&la), created["peer_id"].as_str().unwrap());
    assert_eq!(me(&lb), joined["peer_id"].as_str().unwrap());
    let names: BTreeSet<_> = la["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["alpha".to_owned(), "beta".to_owned()])
    );
    let b_entry = la["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "beta")
        .unwrap()
        .clone();
    assert_eq!(b_entry["added_by"], created["peer_id"]);

    // The same key epoch, by number and by key id, on disk.
    assert_eq!(epoch_on_disk(&a), epoch_on_disk(&b));
    assert_eq!(la["key_epoch"], lb["key_epoch"]);
    // B's own item is still readable under the circle's key.
    assert_eq!(b.ok(&["get", "b-before"]), before);
    // Both show the same safety number for the pair.
    let va = a.json(&["peer", "verify", "beta"]);
    let vb = b.json(&["peer", "verify", "alpha"]);
    assert_eq!(va["safety_number"], vb["safety_number"]);
    // Status names the circle and server.
    let st = b.json(&["status"]);
    assert_eq!(st["circle"]["circle_id"], created["circle_id"]);
    assert_eq!(st["circle"]["server"], server.url.as_str());
}

#[test]
fn removing_a_device_starts_an_epoch_it_never_gets() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    let b = Device::init("beta");
    let c = Device::init("gamma");
    a.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        "alpha",
    ]);
    pair(&a, &b);
    let (inv_c, _) = pair(&a, &c);
    let c_id = inv_c["peer"].as_str().unwrap().to_owned();
    assert_eq!(peer_ids(&b.json(&["peer", "ls"])).len(), 3);
    let (epoch_before, key_before) = epoch_on_disk(&c);

    let removed = a.json(&["peer", "rm", &c_id[..12]]);
    assert_eq!(removed["removed"], c_id.as_str());
    let new_epoch = removed["key_epoch"].as_u64().unwrap();
    assert_eq!(new_epoch, u64::from(epoch_before) + 1);

    // B picks the new epoch up from its share; A and B agree on it.
    let lb = b.json(&["peer", "ls"]);
    assert_eq!(peer_ids(&lb).len(), 2);
    assert!(!peer_ids(&lb).contains(&c_id));
    assert_eq!(epoch_on_disk(&a), epoch_on_disk(&b));
    assert_eq!(epoch_on_disk(&a).0, new_epoch as u32);
    assert_ne!(epoch_on_disk(&a).1, key_before);

    // C is refused by the server (exit code 6) and keeps its old epoch.
    let (code, err) = c.fails(&["peer", "ls"]);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("not a member"), "{err}");
    assert_eq!(epoch_on_disk(&c), (epoch_before, key_before));
}

#[test]
fn an_invite_code_works_once_and_expires() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    let b = Device::init("beta");
    let c = Device::init("gamma");
    a.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        "alpha",
    ]);
    let invite = Invite::start(&a, &[]);
    let code = invite.code.clone();
    b.json(&["peer", "join", &code, "--name", "beta"]);
    assert_eq!(invite.finish().0, 0);

    // Replayed by another device: refused, and C's vault is untouched.
    let c_before = c.file_bytes();
    // Exit code 9: an invite of its own, not bad usage.
    let (exit, err) = c.fails(&["peer", "join", &code, "--name", "gamma"]);
    assert_eq!(exit, 9, "{err}");
    assert!(err.contains("already used"), "{err}");
    assert_eq!(c.file_bytes(), c_before);
    assert_eq!(peer_ids(&a.json(&["peer", "ls"])).len(), 2);

    // An invite that expires before anyone joins: the inviter gives up and
    // a late joiner is refused.
    let short = Invite::start(&a, &["--ttl", "1s"]);
    let late = short.code.clone();
    let (exit, _, err) = short.finish();
    assert_eq!(exit, 9, "{err}");
    assert!(err.contains("expired"), "{err}");
    let (exit, err) = c.fails(&["peer", "join", &late, "--name", "gamma"]);
    assert_eq!(exit, 9, "{err}");
    assert!(err.contains("expired"), "{err}");
    // With --json, the error is also one object on stdout.
    let (exit, out, _) = c.run(&["--json", "peer", "join", &late, "--name", "gamma"]);
    assert_eq!(exit, 9);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["error"]["code"], "invite", "{out}");
    assert_eq!(j["error"]["exit"], 9, "{out}");
    assert_eq!(c.file_bytes(), c_before);
}

#[test]
fn a_bad_or_unreachable_server_changes_nothing() {
    let a = Device::init("alpha");
    let before = a.file_bytes();
    for (url, code, says) in [
        ("ftp://127.0.0.1:1", 2, "bad server URL"),
        ("http://127.0.0.1:1/some/path", 2, "bad server URL"),
        // Plain http beyond loopback is refused before any connection
        // (192.0.2.1 is TEST-NET-1: nothing is ever sent there).
        (
            "http://192.0.2.1:8625",
            2,
            "plain http is allowed only to a loopback address",
        ),
        // Exit code 8: the server could not be reached.
        ("https://127.0.0.1:1", 8, "cannot reach the server"),
        // Nothing listens on port 1.
        ("http://127.0.0.1:1", 8, "cannot reach the server"),
    ] {
        let (exit, err) = a.fails(&["circle", "create", "--server", url]);
        assert_eq!(exit, code, "{url}: {err}");
        assert!(err.contains(says), "{url}: {err}");
        assert_eq!(a.file_bytes(), before, "{url}");
    }
    assert!(a.json(&["status"])["circle"].is_null());
    // Commands that need a circle say how to get one.
    let (exit, err) = a.fails(&["peer", "ls"]);
    assert_eq!(exit, 2, "{err}");
    assert!(err.contains("not in a circle"), "{err}");
}

#[test]
fn the_invite_code_can_come_from_standard_input() {
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
    let b = Device::init("beta");
    let invite = Invite::start(&a, &[]);
    let (code, out, err) = b.run_stdin(
        &["--json", "peer", "join", "--name", "beta"],
        &format!("{}\n", invite.code),
    );
    assert_eq!(code, 0, "{err}");
    let joined: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(joined["name"], "beta");
    let (code, _, err) = invite.finish();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        b.json(&["peer", "ls"])["peers"].as_array().unwrap().len(),
        2
    );
    // Nothing on standard input: bad usage, nothing sent.
    let c = Device::init("gamma");
    let (code, _, err) = c.run_stdin(&["peer", "join"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no invite code given"), "{err}");
}
