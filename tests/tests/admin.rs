//! `vault-server admin` against a running server, through the real
//! binaries: `circles` counts what the devices pushed, `circle disable`
//! stops one circle's devices (and no other's) with a clear error, and
//! `circle enable` serves it again with nothing lost; every action is in
//! the admin log.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, ServerProc};

fn circle_of(d: &Device, server: &ServerProc) -> String {
    let v = d.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        &d.name,
    ]);
    v["circle_id"].as_str().unwrap().to_owned()
}

#[test]
fn circles_are_counted_disabled_and_enabled_with_nothing_lost() {
    let server = ServerProc::start();
    let (a, b) = (Device::init("a"), Device::init("b"));
    let circle_a = circle_of(&a, &server);
    let circle_b = circle_of(&b, &server);
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
