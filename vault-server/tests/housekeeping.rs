//! Housekeeping through the real binary and an in-process server: a
//! server that cannot listen creates no database, expired rows are purged
//! on the configured interval, and an unknown `VAULT_SERVER_*` variable is
//! an error like an unknown config key.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_vault-server");

#[test]
fn a_server_that_cannot_listen_creates_no_database() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    for args in [
        vec!["--listen", addr.as_str(), "--metrics-listen", "off"],
        vec!["--listen", "127.0.0.1:0", "--metrics-listen", addr.as_str()],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .args(["--db", db.to_str().unwrap()])
            .env_remove("VAULT_SERVER_CONFIG")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&addr), "{err}");
        assert!(!db.exists(), "{args:?} created the database");
    }
}

#[tokio::test]
async fn expired_rows_are_purged_on_the_configured_interval() {
    let s = Server::with(|c| {
        c.purge_interval_secs = 1;
        c.token_ttl_secs = 1;
    })
    .await;
    let founder = Device::new();
    let (circle, _) = create_circle(&s, &founder).await;
    login(&s, &founder, circle).await;
    use vault_server::storage::AdminStore;
    let mut admin =
        vault_server::storage::AdminDb::open(s.config.db.sqlite_path().unwrap()).unwrap();
    let now = vault_server::state::unix_now();
    admin.create_token(&[1; 32], None, now, Some(now)).unwrap();
    admin.create_token(&[2; 32], None, now, None).unwrap();
    let db = rusqlite::Connection::open(s.config.db.sqlite_path().unwrap()).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((count("tokens"), count("registration_tokens")), (1, 2));
    let t = std::time::Instant::now();
    while count("tokens") > 0 || count("registration_tokens") > 1 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "not purged within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The token that never expires stays.
    let left: i64 = db
        .query_row(
            "SELECT count(*) FROM registration_tokens WHERE expires IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 1);
}

#[test]
fn an_unknown_server_variable_is_an_error() {
    let out = Command::new(BIN)
        .arg("config")
        .env_remove("VAULT_SERVER_CONFIG")
        .env("VAULT_SERVER_LISEN", "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("VAULT_SERVER_LISEN"), "{err}");
}
