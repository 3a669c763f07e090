//! Sync end to end: real `vault-server` processes on 127.0.0.1 and devices
//! driven through the `vault` binary: both directions with exact counts,
//! conflicts merged through the server, duplicates, incremental transfer,
//! two devices syncing at the same moment, and a seeded property run of
//! three devices that must converge and lose no value.
//!
//! Three tests FAIL today on two related product bugs (an honest server
//! is reported as failing verification, exit 7, when two devices sync at
//! once), described in their doc comments:
//! `a_push_that_loses_a_race_is_not_reported_as_a_malicious_server`,
//! `a_peer_that_signs_during_my_sync_is_not_reported_as_withholding` and
//! `simultaneous_syncs_of_the_same_item_converge`.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{Cut, Proxy};
use common::{Device, ServerProc, circle_at, settle};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// The counts of a `vault --json sync` answer, in a fixed order:
/// (pulled, pushed, merged, conflicts, quarantined).
fn counts(r: &Value) -> (u64, u64, u64, u64, u64) {
    let n = |k: &str| {
        r[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing from {r}"))
    };
    (
        n("pulled"),
        n("pushed"),
        n("merged"),
        n("conflicts"),
        n("quarantined"),
    )
}

fn password(d: &Device, query: &str) -> String {
    d.ok(&["get", query]).trim_end().to_owned()
}

/// Every password in an item's history (`vault --json history
/// --show-secrets`).
fn history_passwords(d: &Device, query: &str) -> Vec<String> {
    d.json(&["history", query, "--show-secrets"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["password"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn two_devices_sync_both_ways_with_exact_counts() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);

    // A → B: a new item.
    let id = a.add_inet("mail.example", "alice", "pw-1");
    assert_eq!(a.json(&["status"])["sync"]["pending"], 1);
    let ra = a.sync();
    assert_eq!(counts(&ra), (0, 1, 0, 0, 0), "{ra}");
    assert_eq!(ra["records_received"], 0, "{ra}");
    assert_eq!(a.json(&["status"])["sync"]["pending"], 0);
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 0, 0, 0, 0), "{rb}");
    assert_eq!(rb["records_received"], 1, "{rb}");
    assert_eq!(rb["token"], ra["token"]);
    assert_eq!(password(b, &id), "pw-1");
    let item_b = b.json(&["get", &id]);
    assert_eq!(item_b["server"], "mail.example");
    assert_eq!(item_b["account"], "alice");
    assert_eq!(item_b["gencount"], 1);

    // B → A: an edit.
    assert_eq!(b.set_password(&id, "pw-2"), 2);
    let rb = b.sync();
    assert_eq!(counts(&rb), (0, 1, 0, 0, 0), "{rb}");
    let ra = a.sync();
    assert_eq!(counts(&ra), (1, 0, 0, 0, 0), "{ra}");
    assert_eq!(ra["records_received"], 1, "{ra}");
    assert_eq!(password(a, &id), "pw-2");
    assert_eq!(a.json(&["get", &id])["gencount"], 2);
    // The replaced version is in A's history.
    assert_eq!(history_passwords(a, &id), ["pw-1"]);

    // Nothing new: one request each, nothing received.
    for d in [a, b] {
        let r = d.sync();
        assert_eq!(counts(&r), (0, 0, 0, 0, 0), "{}: {r}", d.name);
        assert_eq!(r["requests"], 1, "{}: {r}", d.name);
        assert_eq!(r["records_received"], 0, "{}: {r}", d.name);
    }

    // A delete travels too.
    a.ok(&["rm", &id]);
    assert_eq!(counts(&a.sync()), (0, 1, 0, 0, 0));
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 0, 0, 0, 0), "{rb}");
    let (code, err) = b.fails(&["get", &id]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(b.json(&["ls"]), serde_json::json!([]));
    assert_eq!(a.manifest_root(), b.manifest_root());
}

#[test]
fn concurrent_edits_merge_through_the_server() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let x = a.add_inet("bank.example", "alice", "pw-0");
    a.sync();
    b.sync();

    // Different fields: both edits survive on both devices.
    a.set_password(&x, "pw-a");
    b.ok(&["edit", &x, "--notes", "note-b", "--field", "pin=1234"]);
    assert_eq!(counts(&a.sync()), (0, 1, 0, 0, 0));
    let rb = b.sync();
    // B pulled A's edit onto its own waiting one, merged, pushed the result.
    assert_eq!(counts(&rb), (1, 1, 1, 0, 0), "{rb}");
    let ra = a.sync();
    assert_eq!(counts(&ra), (1, 0, 0, 0, 0), "{ra}");
    for d in [a, b] {
        assert_eq!(password(d, &x), "pw-a", "{}", d.name);
        assert_eq!(d.ok(&["get", &x, "--field", "notes"]).trim(), "note-b");
        assert_eq!(d.ok(&["get", &x, "--field", "pin"]).trim(), "1234");
    }
    assert_eq!(a.json(&["get", &x]), b.json(&["get", &x]));

    // The same field, the later edit on the merging device: B's value
    // wins everywhere and A's is in B's history.
    a.set_password(&x, "pw-a2");
    std::thread::sleep(std::time::Duration::from_millis(20));
    b.set_password(&x, "pw-b2");
    assert_eq!(counts(&a.sync()), (0, 1, 0, 0, 0));
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 1, 1, 1, 0), "{rb}");
    assert!(history_passwords(b, &x).contains(&"pw-a2".to_owned()));
    assert_eq!(counts(&a.sync()), (1, 0, 0, 0, 0));
    for d in [a, b] {
        assert_eq!(password(d, &x), "pw-b2", "{}", d.name);
    }

    // The same field, the later edit on the device that pushed first: A's
    // value wins on B too (the time decides, not who merges), and B's own
    // value is in B's history.
    b.set_password(&x, "pw-b3");
    std::thread::sleep(std::time::Duration::from_millis(20));
    a.set_password(&x, "pw-a3");
    assert_eq!(counts(&a.sync()), (0, 1, 0, 0, 0));
    let rb = b.sync();
    // Nothing of B's edit survives: A's version stands, nothing to push.
    assert_eq!(counts(&rb), (1, 0, 1, 1, 0), "{rb}");
    assert!(history_passwords(b, &x).contains(&"pw-b3".to_owned()));
    assert_eq!(counts(&a.sync()), (0, 0, 0, 0, 0));
    for d in [a, b] {
        assert_eq!(password(d, &x), "pw-a3", "{}", d.name);
    }
    assert_eq!(a.json(&["get", &x]), b.json(&["get", &x]));

    // Delete against edit, the delete pushed first: the edit is kept.
    a.ok(&["rm", &x]);
    b.set_password(&x, "pw-keep");
    assert_eq!(counts(&a.sync()), (0, 1, 0, 0, 0));
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 1, 1, 0, 0), "{rb}");
    assert_eq!(counts(&a.sync()), (1, 0, 0, 0, 0));
    for d in [a, b] {
        assert_eq!(password(d, &x), "pw-keep", "{}", d.name);
    }

    // Delete against edit, the edit pushed first: the edit is kept, and
    // the device that deleted sees the item again.
    b.set_password(&x, "pw-keep2");
    a.ok(&["rm", &x]);
    assert_eq!(counts(&b.sync()), (0, 1, 0, 0, 0));
    let ra = a.sync();
    assert_eq!(counts(&ra), (1, 0, 1, 0, 0), "{ra}");
    assert_eq!(counts(&b.sync()), (0, 0, 0, 0, 0));
    for d in [a, b] {
        assert_eq!(password(d, &x), "pw-keep2", "{}", d.name);
        assert_eq!(d.json(&["ls"]).as_array().unwrap().len(), 1);
    }
    assert_eq!(a.json(&["get", &x]), b.json(&["get", &x]));
    assert_eq!(a.manifest_root(), b.manifest_root());
}

#[test]
fn the_same_account_created_on_two_devices_is_kept_twice_and_reported() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let ua = a.add_inet("shop.example", "alice", "from-a");
    let ub = b.add_inet("shop.example", "alice", "from-b");
    let mut pair = [ua.clone(), ub.clone()];
    pair.sort();
    let pair = serde_json::json!([pair]);

    assert_eq!(counts(&a.sync()), (0, 1, 0, 0, 0));
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 1, 0, 0, 0), "{rb}");
    assert_eq!(rb["duplicates"], pair, "{rb}");
    let ra = a.sync();
    assert_eq!(counts(&ra), (1, 0, 0, 0, 0), "{ra}");
    assert_eq!(ra["duplicates"], pair, "{ra}");
    // Reported once: a quiet sync names no pair.
    assert_eq!(b.sync()["duplicates"], serde_json::json!([]));

    for d in [a, b] {
        let ls = d.json(&["ls"]);
        let list = ls.as_array().unwrap();
        assert_eq!(list.len(), 2, "{}: {ls}", d.name);
        assert!(
            list.iter()
                .all(|s| s["name"] == "shop.example" && s["account"] == "alice")
        );
        assert_eq!(password(d, &ua), "from-a");
        assert_eq!(password(d, &ub), "from-b");
        // Asked by name alone, the two are ambiguous.
        let (code, _) = d.fails(&["get", "shop.example"]);
        assert_eq!(code, 5);
    }
}

#[test]
fn an_edit_among_ten_thousand_items_transfers_one_record() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    const N: usize = 10_000;
    let t = Instant::now();
    a.import_generated("site", N);
    eprintln!("imported in {:?}", t.elapsed());
    // An engine that stops after 16 batches (see
    // `ten_thousand_new_items_push_in_one_sync`) needs a second sync here:
    // tolerated, so that this test measures the incremental transfer only.
    let mut pushed = 0;
    for _ in 0..3 {
        let (code, out, err) = a.run(&["--json", "sync"]);
        if code == 0 {
            let ra: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(ra["quarantined"], 0, "{ra}");
            pushed += ra["pushed"].as_u64().unwrap();
            break;
        }
        assert!(err.contains("did not settle"), "{err}");
    }
    assert_eq!(a.json(&["status"])["sync"]["pending"], 0);
    assert!(pushed > 0 && pushed <= N as u64);
    assert_eq!(server_records(&server), N as i64);
    // Each record saved once: the zone's seq counts every save.
    let seq: i64 = server
        .sql()
        .query_row("SELECT seq FROM zones", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seq, N as i64);
    let rb = b.sync();
    assert_eq!(counts(&rb), (N as u64, 0, 0, 0, 0), "{rb}");
    assert_eq!(rb["records_received"], N);
    eprintln!(
        "10,000 items imported, pushed and pulled in {:?}",
        t.elapsed()
    );
    assert_eq!(password(b, "site4321.example"), "site-pw4321");

    // One edit: B receives that record and nothing else.
    a.set_password("site5000.example", "changed");
    let ra = a.sync();
    assert_eq!(counts(&ra), (0, 1, 0, 0, 0), "{ra}");
    assert_eq!(ra["records_received"], 0, "{ra}");
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 0, 0, 0, 0), "{rb}");
    assert_eq!(rb["records_received"], 1, "{rb}");
    let bytes = rb["bytes_received"].as_u64().unwrap();
    eprintln!(
        "an edit among {N} items: B received {bytes} bytes in {} requests",
        rb["requests"]
    );
    assert!(
        bytes < 20_000,
        "B received {bytes} bytes for one record: {rb}"
    );
    assert_eq!(password(b, "site5000.example"), "changed");

    // Nothing new: one request, no record.
    let rb = b.sync();
    assert_eq!(counts(&rb), (0, 0, 0, 0, 0), "{rb}");
    assert_eq!(rb["requests"], 1, "{rb}");
    assert_eq!(rb["records_received"], 0, "{rb}");
    assert!(rb["bytes_received"].as_u64().unwrap() < 4_000, "{rb}");
    assert_eq!(a.manifest_root(), b.manifest_root());
}

/// Both devices edit the same item and sync at the same moment, thirty
/// times: one push meets the other's record on the server (a conflict the
/// server decides) or merges on pull; either way both converge, and no
/// value is lost. FAILS today (in about one round in ten, which one
/// depends on the interleaving) with the false exit 7 of the two
/// deterministic tests below.
#[test]
fn simultaneous_syncs_of_the_same_item_converge() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let x = a.add_inet("race.example", "alice", "r0");
    a.sync();
    b.sync();
    let mut written = vec!["r0".to_owned()];
    let (mut merged, mut conflicts) = (0, 0);
    const ROUNDS: usize = 30;
    for i in 0..ROUNDS {
        let (va, vb) = (format!("a{i}"), format!("b{i}"));
        a.set_password(&x, &va);
        if i % 2 == 0 {
            b.set_password(&x, &vb);
        } else {
            b.ok(&["edit", &x, "--notes", &vb]);
        }
        written.extend([va, vb]);
        let (ca, cb) = (spawn_sync(a), spawn_sync(b));
        for (d, c) in [(a, ca), (b, cb)] {
            let out = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: round {i}: {err}", d.name);
            let r: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(r["quarantined"], 0, "{r}");
            merged += r["merged"].as_u64().unwrap();
            conflicts += r["conflicts"].as_u64().unwrap();
        }
    }
    settle(&[a, b]);
    eprintln!("{ROUNDS} races: {merged} merges, {conflicts} conflicting fields");
    assert!(merged > 0);
    assert_eq!(a.json(&["get", &x]), b.json(&["get", &x]));
    assert_eq!(a.manifest_root(), b.manifest_root());
    // B's last notes (odd rounds edit them) and nobody else's.
    let last = (0..ROUNDS).rev().find(|i| i % 2 == 1).unwrap();
    assert_eq!(
        b.ok(&["get", &x, "--field", "notes"]).trim(),
        format!("b{last}")
    );
    // Every password and note of the last three rounds is current or in
    // a history (a history keeps the 20 newest versions of an item, so
    // the first rounds' values are gone by now).
    let recent = &written[written.len() - 6..];
    let mut have = BTreeSet::new();
    for d in [a, b] {
        for v in d
            .json(&["history", &x, "--show-secrets"])
            .as_array()
            .unwrap()
            .iter()
            .chain([&d.json(&["get", &x])])
        {
            for k in ["password", "notes"] {
                if let Some(s) = v[k].as_str() {
                    have.insert(s.to_owned());
                }
            }
        }
    }
    for v in recent {
        assert!(have.contains(v), "{v} was lost: {have:?}");
    }
}

/// Waits for a background `vault` run: (exit code, stdout, stderr).
fn finish(child: std::process::Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vault --json sync` started in the background.
fn spawn_sync(d: &Device) -> std::process::Child {
    d.cmd()
        .args(["--json", "sync"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// An honest server, two devices, one race: B's push lands between A's
/// pull and A's push, so A's push of the same item conflicts and A merges
/// the server's record from the conflict answer. FAILS today with exit 7:
/// the merge keeps the server's version whole (B's edit is the later
/// one), so A saves nothing, and then neither pulls again nor moves its
/// token past the seq of the record it just took from the conflict
/// answer. Its check then blames the server: "B signed the zone at seq 2,
/// but the server stops at 1" when B's new manifest is already stored (as
/// here), or "the zone differs from the manifest B signed at the same
/// token" (B's older manifest at seq 1 against A's root, which already
/// holds seq 2's record) when A checks before B signs. The next
/// `vault sync` passes. (vault-core/src/store/sync_engine.rs `run`/`push`:
/// `if pushed { self.pull()? }` skips the pull after a push that only
/// brought back conflicts.)
#[test]
fn a_push_that_loses_a_race_is_not_reported_as_a_malicious_server() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let x = a.add_inet("race.example", "alice", "r0");
    a.sync();
    b.sync();
    a.set_password(&x, "from-a");
    std::thread::sleep(std::time::Duration::from_millis(20));
    b.set_password(&x, "from-b");

    // A's push waits at the proxy while B syncs.
    proxy.cut("/records", 0, Cut::Hold);
    let child = spawn_sync(a);
    proxy.wait_held(std::time::Duration::from_secs(10));
    assert_eq!(counts(&b.sync()), (0, 1, 0, 0, 0));
    proxy.release();
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "A's sync failed after losing the race: {err}");
    let ra: Value = serde_json::from_str(&out).unwrap();
    // Merged, B's (later) password kept, A's in its history, nothing to
    // push.
    let (_, pushed, merged, conflicts, quarantined) = counts(&ra);
    assert_eq!(
        (pushed, merged, conflicts, quarantined),
        (0, 1, 1, 0),
        "{ra}"
    );
    for d in [a, b] {
        assert_eq!(password(d, &x), "from-b", "{}", d.name);
    }
    assert!(history_passwords(a, &x).contains(&"from-a".to_owned()));
}

/// An honest server, two devices: B pushes and signs a newer manifest
/// while A is between its last pull and its check of the peers'
/// manifests. FAILS today with exit 7, "B signed the zone at seq 3, but
/// the server stops at 2": A compares B's manifest with the token of its
/// own last pull instead of catching up to what the server now holds
/// (vault-core/src/store/sync_verify.rs `compare`).
#[test]
fn a_peer_that_signs_during_my_sync_is_not_reported_as_withholding() {
    let server = ServerProc::start_unthrottled();
    let proxy = Proxy::start(&server.url);
    let devs = circle_at(&proxy.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.add_inet("one.example", "alice", "1");
    a.sync();
    b.sync();
    a.add_inet("two.example", "alice", "2");
    b.add_inet("three.example", "bob", "3");

    // A's read of the peers' manifests waits at the proxy while B syncs.
    proxy.cut("/manifests HTTP", 0, Cut::Hold);
    let child = spawn_sync(a);
    proxy.wait_held(std::time::Duration::from_secs(10));
    let rb = b.sync();
    assert_eq!(counts(&rb), (1, 1, 0, 0, 0), "{rb}");
    proxy.release();
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "A's sync failed while B synced: {err}");
    let ra: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ra["pushed"], 1, "{ra}");
    settle(&[a, b]);
    assert_eq!(a.ok(&["get", "three.example"]).trim(), "3");
    assert_eq!(b.ok(&["get", "two.example"]).trim(), "2");
    assert_eq!(a.manifest_root(), b.manifest_root());
}

/// The records the server holds.
fn server_records(server: &ServerProc) -> i64 {
    server
        .sql()
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap()
}

/// A large import is pushed by one `vault sync`. Found failing on the
/// committed engine: it pushed at most 16 batches of 500 records per round
/// (`MAX_PUSH_ROUNDS` in vault-core/src/store/sync_engine.rs counted every
/// batch, not only the ones that conflicted), so a sync with more than
/// 8,000 records waiting exited 1 with "the push did not settle after 16
/// rounds" after saving 8,000 of them, without signing its manifest.
#[test]
fn ten_thousand_new_items_push_in_one_sync() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha"]);
    let a = &devs[0];
    const N: usize = 10_000;
    a.import_generated("s", N);
    let (code, out, err) = a.run(&["--json", "sync"]);
    let saved = server_records(&server);
    assert_eq!(
        code, 0,
        "one sync of {N} new items failed after the server saved {saved}: {err}"
    );
    let ra: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(counts(&ra), (0, N as u64, 0, 0, 0), "{ra}");
    assert_eq!(saved, N as i64);
    assert_eq!(a.json(&["status"])["sync"]["pending"], 0);
}

/// xorshift64*: a tiny seeded generator, so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// Every value (password, notes, label) item `id` has on `vault`, now or
/// in its history, read with vault-core (the CLI shows no history of a
/// deleted item).
fn values_on(vault: &mut vault_core::UnlockedVault, id: uuid::Uuid) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut versions = vault.history(id).unwrap_or_default();
    if let Ok(item) = vault.get(id) {
        versions.push(item);
    }
    for v in versions {
        if let vault_core::item::ItemData::Inet(x) = v.data {
            out.insert(x.password.expose().to_owned());
            out.insert(x.notes.expose().to_owned());
            out.insert(x.label);
        }
    }
    out
}

/// Three devices make ~25 random adds, edits (password, notes, label),
/// deletes and syncs through the CLI; then they sync until a whole pass
/// moves nothing, and must agree on every item, every password and the
/// manifest root, with no value ever written lost.
fn converge(seed: u64) {
    const OPS: usize = 30;
    let t = Instant::now();
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["d0", "d1", "d2"]);
    let mut rng = Rng::new(seed);
    let mut known: Vec<Vec<String>> = vec![Vec::new(); 3];
    let mut written: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut log = Vec::new();
    let (mut merged, mut conflicts) = (0, 0);
    // Items in the order they were added: edits and deletes favour the
    // first three, so devices often change the same items between syncs.
    let mut order: Vec<String> = Vec::new();
    let pick = |rng: &mut Rng, known: &[String], order: &[String]| -> Option<String> {
        let hot: Vec<&String> = known
            .iter()
            .filter(|u| order.iter().take(3).any(|h| h == *u))
            .collect();
        if !hot.is_empty() && rng.below(3) < 2 {
            return Some(hot[rng.below(hot.len())].clone());
        }
        (!known.is_empty()).then(|| known[rng.below(known.len())].clone())
    };
    for n in 0..OPS {
        let dev = rng.below(3);
        let d = &devs[dev];
        match rng.below(11) {
            0..3 => {
                let value = format!("add-{seed}-{n}");
                let site = rng.below(4);
                let id = d.add_inet(&format!("site{site}.example"), &format!("acct{n}"), &value);
                log.push(format!("{n}: d{dev} add {id}"));
                known[dev].push(id.clone());
                order.push(id.clone());
                written.entry(id).or_default().push(value);
            }
            3..7 => {
                let Some(id) = pick(&mut rng, &known[dev], &order) else {
                    continue;
                };
                let value = format!("edit-{seed}-{n}");
                let field = rng.below(3);
                let (code, _, err) = match field {
                    0 => d.run_stdin(&["edit", &id, "--password-stdin"], &format!("{value}\n")),
                    1 => d.run(&["edit", &id, "--notes", &value]),
                    _ => d.run(&["edit", &id, "--label", &value]),
                };
                log.push(format!("{n}: d{dev} edit {id} field {field} (exit {code})"));
                match code {
                    0 => written.entry(id).or_default().push(value),
                    // Deleted here since this device listed it.
                    4 => {}
                    _ => panic!("seed {seed}: edit failed: {err}"),
                }
            }
            7 => {
                let Some(id) = pick(&mut rng, &known[dev], &order) else {
                    continue;
                };
                let (code, _, err) = d.run(&["rm", &id]);
                log.push(format!("{n}: d{dev} rm {id} (exit {code})"));
                assert!(code == 0 || code == 4, "seed {seed}: rm failed: {err}");
            }
            _ => {
                let r = d.sync();
                merged += r["merged"].as_u64().unwrap();
                conflicts += r["conflicts"].as_u64().unwrap();
                log.push(format!("{n}: d{dev} sync {r}"));
                assert_eq!(r["quarantined"], 0, "seed {seed}: {r}\n{log:#?}");
                known[dev] = d
                    .json(&["ls"])
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["uuid"].as_str().unwrap().to_owned())
                    .collect();
            }
        }
    }
    // Sync every device until a whole pass pulls, pushes and merges
    // nothing.
    let mut passes = 0;
    loop {
        passes += 1;
        assert!(passes <= 8, "seed {seed}: no quiet pass in 8\n{log:#?}");
        let mut quiet = true;
        for (i, d) in devs.iter().enumerate() {
            let r = d.sync();
            log.push(format!("settle: d{i} sync {r}"));
            assert_eq!(r["quarantined"], 0, "seed {seed}: {r}\n{log:#?}");
            merged += r["merged"].as_u64().unwrap();
            conflicts += r["conflicts"].as_u64().unwrap();
            quiet &= r["pulled"] == 0 && r["pushed"] == 0 && r["merged"] == 0;
        }
        if quiet {
            break;
        }
    }

    // The same items, names and accounts everywhere.
    let listing = |d: &Device| -> Vec<(String, String, String, String)> {
        let mut v: Vec<_> = d
            .json(&["ls"])
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let f = |k: &str| s[k].as_str().unwrap().to_owned();
                (f("uuid"), f("name"), f("account"), f("label"))
            })
            .collect();
        v.sort();
        v
    };
    let first = listing(&devs[0]);
    for d in &devs[1..] {
        assert_eq!(
            listing(d),
            first,
            "seed {seed}: {} differs\n{log:#?}",
            d.name
        );
    }
    // The same passwords.
    for (uuid, ..) in &first {
        let pw = password(&devs[0], uuid);
        for d in &devs[1..] {
            assert_eq!(password(d, uuid), pw, "seed {seed}: {uuid} on {}", d.name);
        }
    }
    // The same manifest root.
    let root = devs[0].manifest_root();
    assert_eq!(root.len(), 32);
    for d in &devs[1..] {
        assert_eq!(d.manifest_root(), root, "seed {seed}: {}'s root", d.name);
    }
    // No value ever written is lost: each is current or in the history of
    // some device.
    let mut vaults: Vec<_> = devs
        .iter()
        .map(|d| {
            vault_core::Vault::open(&d.vault)
                .unwrap()
                .unlock(common::PASSWORD)
                .unwrap()
        })
        .collect();
    for (id, values) in &written {
        let id = uuid::Uuid::parse_str(id).unwrap();
        let mut have = BTreeSet::new();
        for v in &mut vaults {
            have.extend(values_on(v, id));
        }
        for value in values {
            assert!(
                have.contains(value),
                "seed {seed}: {value} written to {id} was lost\n{log:#?}"
            );
        }
    }
    eprintln!(
        "seed {seed}: {} items, {} values, {merged} merges ({conflicts} conflicting \
         fields) before settling in {passes} passes, {:?}",
        first.len(),
        written.values().map(Vec::len).sum::<usize>(),
        t.elapsed()
    );
}

#[test]
fn three_devices_converge_and_lose_nothing_seed_1() {
    converge(1);
}

#[test]
fn three_devices_converge_and_lose_nothing_seed_2() {
    converge(2);
}

#[test]
fn three_devices_converge_and_lose_nothing_seed_3() {
    converge(3);
}

#[test]
fn three_devices_converge_and_lose_nothing_seed_4() {
    converge(4);
}

#[test]
fn three_devices_converge_and_lose_nothing_seed_5() {
    converge(5);
}
