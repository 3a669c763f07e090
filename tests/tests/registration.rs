//! Who may create a circle, through the real `vault` and `vault-server`
//! binaries: `registration = "open"`, `"token"` (the default) and
//! `"closed"`; one-time tokens from `vault-server admin token create`,
//! issued while the server runs; refused tokens (none, wrong, used,
//! expired, revoked) create nothing; and the admin log records each
//! admin action.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, ServerProc};

/// `vault circle create` on `server` with `extra` flags.
fn create(d: &Device, server: &ServerProc, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        &d.name,
    ];
    args.extend_from_slice(extra);
    d.run(&args)
}

fn refused(d: &Device, server: &ServerProc, extra: &[&str], why: &str) {
    let before = server.circle_count();
    let (code, _, err) = create(d, server, extra);
    assert_ne!(code, 0, "{extra:?} should be refused");
    assert!(err.contains("registration_refused"), "{extra:?}: {err}");
    assert!(err.contains(why), "{extra:?}: expected {why:?} in: {err}");
    assert_eq!(server.circle_count(), before, "{extra:?} created nothing");
}

#[test]
fn open_registration_lets_anyone_create_a_circle() {
    let server = ServerProc::start_with(&["--registration", "open"]);
    let d = Device::init("anyone");
    let (code, _, err) = create(&d, &server, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(server.circle_count(), 1);
}

#[test]
fn closed_registration_creates_nothing() {
    let server = ServerProc::start_with(&["--registration", "closed"]);
    let (token, _) = server.registration_token(&[]);
    let d = Device::init("nobody");
    refused(&d, &server, &[], "registers no new circles");
    refused(
        &d,
        &server,
        &["--registration-token", &token],
        "registers no new circles",
    );
}

#[test]
fn a_token_registers_one_circle_and_every_other_token_is_refused() {
    // "token" is the default.
    let config = std::process::Command::new(common::bin("vault-server"))
        .arg("config")
        .env_remove("VAULT_SERVER_CONFIG")
        .env_remove("VAULT_SERVER_REGISTRATION")
        .output()
        .unwrap();
    let config = String::from_utf8_lossy(&config.stdout);
    assert!(config.contains("registration = \"token\""), "{config}");
    let server = ServerProc::start_with(&["--registration", "token"]);
    // A refused device keeps nothing of it: it creates its circle later.
    let a = Device::init("a");
    refused(&a, &server, &[], "registration token");
    refused(
        &a,
        &server,
        &["--registration-token", "vreg_wrong"],
        "not known",
    );

    // Issued while the server runs; used once.
    let (token, id) = server.registration_token(&["--note", "for a"]);
    let (code, _, err) = create(&a, &server, &["--registration-token", &token]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(server.circle_count(), 1);
    let b = Device::init("b");
    refused(
        &b,
        &server,
        &["--registration-token", &token],
        "already used",
    );

    // Through the environment too.
    let (second, _) = server.registration_token(&[]);
    let c = Device::init("c").with_env("VAULT_REGISTRATION_TOKEN", &second);
    let (code, _, err) = create(&c, &server, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(server.circle_count(), 2);

    // Expired, and revoked.
    let (short, _) = server.registration_token(&["--expires", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refused(&b, &server, &["--registration-token", &short], "expired");
    let (revoked, revoked_id) = server.registration_token(&[]);
    let (code, _, err) = server.admin(&["token", "revoke", &revoked_id]);
    assert_eq!(code, 0, "{err}");
    refused(&b, &server, &["--registration-token", &revoked], "revoked");
    // A used token cannot be revoked; an unknown id is an error.
    assert_ne!(server.admin(&["token", "revoke", &id]).0, 0);
    assert_ne!(server.admin(&["token", "revoke", "000000000000"]).0, 0);

    // `token ls` shows each token's state, never its text.
    let (code, out, _) = server.admin(&["token", "ls", "--json"]);
    assert_eq!(code, 0);
    assert!(!out.contains(&token) && !out.contains("vreg_"), "{out}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 4);
    let first = rows.iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(first["note"], "for a");
    assert!(
        first["used"].is_i64() && first["used_by"].is_string(),
        "{first}"
    );
    let gone = rows
        .iter()
        .find(|r| r["id"] == revoked_id.as_str())
        .unwrap();
    assert!(gone["revoked"].is_i64(), "{gone}");

    // The admin log: every create and the revoke, in order, no token text.
    let (code, out, _) = server.admin(&["log", "--json"]);
    assert_eq!(code, 0);
    assert!(!out.contains("vreg_"), "{out}");
    let log: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "token create",
            "token create",
            "token create",
            "token create",
            "token revoke"
        ]
    );
    // Append-only: the database refuses to change it.
    let err = server
        .sql()
        .execute("DELETE FROM admin_log", [])
        .unwrap_err()
        .to_string();
    assert!(err.contains("append-only"), "{err}");
}

#[test]
fn the_first_token_can_be_issued_before_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let out = std::process::Command::new(common::bin("vault-server"))
        .args(["--db", db.to_str().unwrap(), "admin", "token", "create"])
        .env_remove("VAULT_SERVER_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("vreg_") && token.len() > 40, "{token}");
    let stored: Vec<u8> = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT token_hash FROM registration_tokens", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored.len(), 32, "only the hash is stored");
}
