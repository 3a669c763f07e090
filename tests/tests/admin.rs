//! `vault-server admin` against a running server, through the real
//! binaries: `circles` counts what the devices pushed, `circle disable`
//! stops one circle's devices (and no other's) with a clear error, and
//! `circle enable` serves it again with nothing lost; every action is in
//! the admin log.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, ServerProc};

#[test]
fn circles_are_counted_disabled_and_enabled_with_nothing_lost() {
    let server = ServerProc::start();
    let (a, b) = (Device::init("a"), Device::init("b"));
    let circle_a = a.create_circle(&server);
    let circle_b = b.create_circle(&server);
    for i in 0..5 {
        a.add_inet(&format!("a{i}.example"), "alice", "pw");
    }
    b.add_inet("b.example", "bob", "pw");
    a.sync();
    b.sync();

    // Counts match what the devices pushed; bytes are the ciphertext the
    // server holds for that circle.
    let (code, out, err) = server.admin(&["circles", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 2);
    let row_a = rows.iter().find(|r| r["id"] == circle_a.as_str()).unwrap();
    assert_eq!(
        (row_a["members"].as_u64(), row_a["records"].as_u64()),
        (Some(1), Some(5))
    );
    let bytes: i64 = server
        .sql()
        .query_row(
            "SELECT sum(length(r.wrappedkey) + length(r.encitem)) FROM records r
             JOIN zones z ON z.zone_id = r.zone_id WHERE z.circle_id = ?1",
            [uuid::Uuid::parse_str(&circle_a).unwrap().as_bytes()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(row_a["bytes"].as_i64(), Some(bytes));
    assert!(bytes > 5 * 100, "{bytes}");
    assert!(
        row_a["last_active"].is_i64() && row_a["disabled"].is_null(),
        "{row_a}"
    );

    // Disabled: A's device is refused with a clear error; B's is not.
    let (code, _, err) = server.admin(&["circle", "disable", &circle_a]);
    assert_eq!(code, 0, "{err}");
    a.add_inet("while-disabled.example", "alice", "pw");
    let (code, _, err) = a.run(&["sync"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("circle_disabled") && err.contains("admin"),
        "{err}"
    );
    b.sync();
    let (_, out, _) = server.admin(&["circle", "show", &circle_a, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(shown["disabled"].is_i64(), "{shown}");

    // Enabled: the edit made meanwhile goes up, nothing was lost.
    let (code, _, err) = server.admin(&["circle", "enable", &circle_a]);
    assert_eq!(code, 0, "{err}");
    let r = a.sync();
    assert_eq!(r["pushed"], 1, "{r}");
    let (_, out, _) = server.admin(&["circle", "show", &circle_a, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["records"], 6, "{shown}");
    assert!(shown["disabled"].is_null());
    assert_ne!(
        server
            .admin(&["circle", "disable", &uuid::Uuid::new_v4().to_string()])
            .0,
        0
    );

    let (_, out, _) = server.admin(&["log", "--json"]);
    let log: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["circle disable", "circle enable"]);
    let _ = circle_b;
}

/// Rows of each table of the server that belong to `circle` (by its id,
/// or by one of its zones or invites).
fn rows_of(server: &ServerProc, circle: &str) -> Vec<(&'static str, i64)> {
    let id = uuid::Uuid::parse_str(circle).unwrap();
    let zones = "(SELECT zone_id FROM zones WHERE circle_id = ?1)";
    let invites = "(SELECT invite_id FROM invites WHERE circle_id = ?1)";
    let by_circle = "WHERE circle_id = ?1";
    let queries: Vec<(&'static str, String)> = vec![
        ("circles", by_circle.into()),
        ("circle_entries", by_circle.into()),
        ("members", by_circle.into()),
        ("tokens", by_circle.into()),
        ("shares", by_circle.into()),
        ("invites", by_circle.into()),
        ("circle_cuts", by_circle.into()),
        ("zones", by_circle.into()),
        ("records", format!("WHERE zone_id IN {zones}")),
        ("zone_buckets", format!("WHERE zone_id IN {zones}")),
        ("zone_manifests", format!("WHERE zone_id IN {zones}")),
        ("relay_messages", format!("WHERE invite_id IN {invites}")),
    ];
    let db = server.sql();
    queries
        .into_iter()
        .map(|(table, filter)| {
            let n: i64 = db
                .query_row(
                    &format!("SELECT count(*) FROM {table} {filter}"),
                    [id.as_bytes()],
                    |r| r.get(0),
                )
                .unwrap();
            (table, n)
        })
        .collect()
}

/// Two circles on one server: A's with a paired phone, and B's.
struct Two {
    a: Device,
    b: Device,
    circle_a: String,
    circle_b: String,
    phone: Device,
}

fn two_circles(server: &ServerProc) -> Two {
    let (a, b) = (Device::init("a"), Device::init("b"));
    let circle_a = a.create_circle(server);
    let circle_b = b.create_circle(server);
    let phone = Device::init("phone");
    common::pair(&a, &phone);
    Two {
        a,
        b,
        circle_a,
        circle_b,
        phone,
    }
}

#[test]
fn a_deleted_circle_leaves_no_row_and_the_others_untouched() {
    let server = ServerProc::start();
    let Two {
        a,
        b,
        circle_a,
        circle_b,
        phone,
    } = two_circles(&server);
    for d in [&a, &b] {
        d.unlock();
        d.add_inet("x.example", "alice", "pw");
        d.sync();
    }
    phone.sync();
    let b_before = rows_of(&server, &circle_b);
    assert!(rows_of(&server, &circle_a).iter().all(|(t, n)| {
        *n > 0
            || [
                "tokens",
                "invites",
                "circle_cuts",
                "relay_messages",
                "shares",
            ]
            .contains(t)
    }));

    // Not without --yes, and not while it is enabled.
    assert_ne!(server.admin(&["circle", "delete", &circle_a]).0, 0);
    let (code, _, err) = server.admin(&["circle", "delete", &circle_a, "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("disable it first"), "{err}");
    assert!(rows_of(&server, &circle_a).iter().any(|(_, n)| *n > 0));

    server.admin(&["circle", "disable", &circle_a]);
    let (code, _, err) = server.admin(&["circle", "delete", &circle_a, "--yes"]);
    assert_eq!(code, 0, "{err}");
    let left: Vec<_> = rows_of(&server, &circle_a)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "rows left: {left:?}");
    assert_eq!(
        rows_of(&server, &circle_b),
        b_before,
        "the other circle is untouched"
    );
    b.sync();
    assert_ne!(
        a.run(&["sync"]).0,
        0,
        "a deleted circle's device is refused"
    );
    let (_, out, _) = server.admin(&["log", "--json"]);
    assert!(out.contains("circle delete"), "{out}");
}

#[test]
fn check_reports_a_log_entry_edited_in_the_database() {
    let server = ServerProc::start();
    // Only the server's database is checked: the devices may go.
    let Two {
        circle_a, circle_b, ..
    } = two_circles(&server);
    let (code, out, err) = server.admin(&["check", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["circles"].as_array().unwrap().len(), 2);

    // One byte of A's second entry, changed behind the server's back.
    let id = uuid::Uuid::parse_str(&circle_a).unwrap();
    let db = server.sql();
    let mut entry: Vec<u8> = db
        .query_row(
            "SELECT entry FROM circle_entries WHERE circle_id = ?1 AND seq = 1",
            [id.as_bytes()],
            |r| r.get(0),
        )
        .unwrap();
    let last = entry.len() - 1;
    entry[last] ^= 1;
    db.execute(
        "UPDATE circle_entries SET entry = ?2 WHERE circle_id = ?1 AND seq = 1",
        rusqlite::params![id.as_bytes(), entry],
    )
    .unwrap();
    let (code, out, _) = server.admin(&["check", "--json"]);
    assert_ne!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    let circles = v["circles"].as_array().unwrap();
    let broken = circles
        .iter()
        .find(|c| c["id"] == circle_a.as_str())
        .unwrap();
    assert_eq!(broken["ok"], false, "{broken}");
    let fine = circles
        .iter()
        .find(|c| c["id"] == circle_b.as_str())
        .unwrap();
    assert_eq!(fine["ok"], true, "{fine}");
    let (_, text, _) = server.admin(&["check"]);
    assert!(
        text.contains(&format!("circle {circle_a}: BROKEN")),
        "{text}"
    );
}
