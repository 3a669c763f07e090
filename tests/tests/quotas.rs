//! Quotas per circle through the real binaries: a push past `max_records`
//! or `max_bytes` is refused whole (`quota_exceeded`, nothing of the batch
//! stored) and goes through once the admin raises the circle's quota; a
//! pairing past `max_devices` is refused before anything is appended.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, ServerProc, pair};

/// Live records and ciphertext bytes the server holds, from its tables.
fn stored(server: &ServerProc) -> (i64, i64) {
    server
        .sql()
        .query_row(
            "SELECT count(*), COALESCE(sum(length(wrappedkey) + length(encitem)), 0)
             FROM records WHERE tomb = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[test]
fn a_push_past_the_records_quota_stores_nothing_until_the_admin_raises_it() {
    let server = ServerProc::start_with_config("[quotas]\nmax_records = 100\n");
    let a = Device::init("a");
    let circle = a.create_circle(&server);
    a.import_generated("first", 90);
    a.sync();
    assert_eq!(stored(&server).0, 90);

    // 60 more would make 150: refused whole, with a plain message.
    a.import_generated("more", 60);
    let (_, _, err) = a.sync_fails();
    assert!(
        err.contains("quota_exceeded") && err.contains("records quota is 100"),
        "{err}"
    );
    assert!(err.contains("admin"), "the message says what to do: {err}");
    assert_eq!(stored(&server).0, 90, "nothing of the refused batch");
    let refusals = server
        .metrics()
        .lines()
        .find(|l| l.starts_with("vault_quota_refusals_total{quota=\"records\"}"))
        .map(str::to_owned);
    assert_eq!(
        refusals.as_deref(),
        Some("vault_quota_refusals_total{quota=\"records\"} 1")
    );

    // The admin raises this circle's quota: the same sync goes through.
    let (code, out, err) = server.admin(&["circle", "quota", &circle, "--max-records", "200"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("records 90 of 200 (own)"), "{out}");
    let r = a.sync();
    assert_eq!(r["pushed"], 60, "{r}");
    assert_eq!(stored(&server).0, 150);
    let (_, out, _) = server.admin(&["circle", "show", &circle, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["records"], 150, "{shown}");
    assert_eq!(
        shown["quotas"]["max_records"],
        serde_json::json!({"limit": 200, "own": true})
    );
    let (_, out, _) = server.admin(&["log", "--json"]);
    assert!(out.contains("max_records=200"), "{out}");
}

#[test]
fn a_push_past_the_bytes_quota_is_refused_and_default_restores_the_limit() {
    let server = ServerProc::start();
    let a = Device::init("a");
    let circle = a.create_circle(&server);
    a.import_generated("few", 5);
    a.sync();
    let (_, bytes) = stored(&server);
    // Room for about two more records of that size.
    let limit = (bytes + bytes * 2 / 5).to_string();
    let (code, _, err) = server.admin(&["circle", "quota", &circle, "--max-bytes", &limit]);
    assert_eq!(code, 0, "{err}");
    a.import_generated("many", 10);
    let (_, _, err) = a.sync_fails();
    assert!(
        err.contains("quota_exceeded") && err.contains("bytes quota"),
        "{err}"
    );
    assert_eq!(stored(&server), (5, bytes), "nothing of the refused batch");

    // Bad input changes nothing: an unknown circle, a value out of range.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (code, _, err) = server.admin(&["circle", "quota", &unknown, "--max-bytes", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("no circle"), "{err}");
    let (code, _, err) = server.admin(&[
        "circle",
        "quota",
        &circle,
        "--max-bytes",
        "9223372036854775808",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("largest quota"), "{err}");
    let (_, out, _) = server.admin(&["log", "--json"]);
    assert_eq!(
        out.matches("circle quota").count(),
        1,
        "only the valid change: {out}"
    );
    let (code, _, err) = server.admin(&["circle", "quota", &circle, "--max-bytes", "default"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(a.sync()["pushed"], 10);
    assert_eq!(stored(&server).0, 15);
}

#[test]
fn a_pairing_past_the_devices_quota_is_refused_before_anything_is_appended() {
    let server = ServerProc::start_with_config("[quotas]\nmax_devices = 1\n");
    let (a, b) = (Device::init("a"), Device::init("b"));
    let circle = a.create_circle(&server);
    let entries = || -> i64 {
        server
            .sql()
            .query_row("SELECT count(*) FROM circle_entries", [], |r| r.get(0))
            .unwrap()
    };
    let (code, _, err) = a.run(&["peer", "invite", "--yes", "--ttl", "20s"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("quota_exceeded") && err.contains("devices quota is 1"),
        "{err}"
    );
    assert_eq!(entries(), 1, "only the genesis entry");

    let (code, _, err) = server.admin(&["circle", "quota", &circle, "--max-devices", "2"]);
    assert_eq!(code, 0, "{err}");
    pair(&a, &b);
    assert_eq!(entries(), 2);
    let (_, out, _) = server.admin(&["circle", "show", &circle, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["members"], 2, "{shown}");
}
