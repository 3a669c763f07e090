//! Failures: one line on stderr, a documented exit code, no stack trace,
//! and the vault's bytes unchanged.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;

/// A vault with two items for one server, settled on disk.
fn settled() -> (Env, String) {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw-alice");
    env.add_inet("github.com", "bob", "pw-bob");
    env.ok(&["ls"]);
    (env, id)
}

#[test]
fn wrong_password() {
    let (env, _) = settled();
    let bad = env.dir.path().join("bad-pw");
    std::fs::write(&bad, "not the password\n").unwrap();
    let before = env.snapshot();
    for args in [
        &["get", "github.com", "--match-account", "alice"][..],
        &["ls"],
        &["rotate"],
        &["passwd"],
    ] {
        let out = env
            .cmd_nopw()
            .env("VAULT_PASSWORD_FILE", &bad)
            .env("VAULT_NEW_PASSWORD", "x")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(one_line_error(&out), "vault: error: wrong password\n");
        assert!(out.stdout.is_empty());
    }
    // $VAULT_PASSWORD is a source too, after the file.
    let out = env
        .cmd_nopw()
        .env("VAULT_PASSWORD", "nope")
        .args(["ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(env.snapshot(), before);
}

#[test]
fn no_password_source_and_no_terminal() {
    let (env, _) = settled();
    let out = env.cmd_nopw().args(["ls"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(one_line_error(&out).contains("vault unlock"));
    // An unreadable password file is named, its content never shown.
    let out = env
        .cmd_nopw()
        .env("VAULT_PASSWORD_FILE", env.dir.path().join("missing"))
        .args(["ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("VAULT_PASSWORD_FILE"));
}

#[test]
fn unknown_item() {
    let (env, _) = settled();
    let before = env.snapshot();
    for args in [
        &["get", "nothing.example"][..],
        &["get", "00000000-0000-4000-8000-000000000000"],
        &["get", "ffff"],
        &["rm", "nothing.example"],
        &["edit", "nothing.example", "--label", "x"],
        &["history", "nothing.example"],
        &["totp", "nothing.example"],
        &["get", "github.com", "--match-account", "carol"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        let err = one_line_error(&out);
        assert!(err.contains("no item matches"), "{args:?}");
        assert!(err.contains("try `vault search TEXT`"), "{err}");
    }
    assert_eq!(env.snapshot(), before);
}

#[test]
fn ambiguous_query_lists_the_matches() {
    let (env, id) = settled();
    let before = env.snapshot();
    for args in [
        &["get", "github.com"][..],
        &["rm", "github.com"],
        &["edit", "github.com", "--label", "x"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        let err = one_line_error(&out);
        assert!(err.contains("matches 2 items"), "{err}");
        assert!(err.contains("alice") && err.contains("bob"), "{err}");
        assert!(err.contains(&id[..8]), "{err}");
        assert!(!err.contains("pw-"), "{err}");
        assert!(err.contains("--match-account ACCOUNT"), "{err}");
    }
    assert_eq!(env.snapshot(), before);
    // The advice works in every command, edit's included, where
    // --account is the new user name.
    assert_eq!(
        env.ok(&["get", "github.com", "--match-account", "bob"]),
        "pw-bob\n"
    );
    env.ok(&[
        "edit",
        "github.com",
        "--match-account",
        "BOB",
        "--label",
        "bob's",
    ]);
    assert_eq!(env.ok(&["get", "bob's", "--field", "account"]), "bob\n");
}

#[test]
fn identical_items_are_told_apart_by_uuid_prefix() {
    let env = Env::init();
    let ids: Vec<String> = (0..2)
        .map(|_| env.add_inet("twin.example", "same", "pw-twin"))
        .collect();
    let out = env.cmd().args(["get", "twin.example"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = one_line_error(&out);
    // Same account: --match-account would not help, so it is not offered.
    assert!(!err.contains("--match-account"), "{err}");
    assert!(err.contains("uuid prefix"), "{err}");
    let prefix = &ids[0].replace('-', "")[..8];
    assert!(err.contains(prefix), "{err}");
    assert_eq!(env.ok(&["get", prefix]), "pw-twin\n");
}

#[test]
fn missing_vault() {
    let env = Env::new();
    for args in [
        &["ls"][..],
        &["get", "x"],
        &["status"],
        &["unlock"],
        &[
            "add",
            "genp",
            "--service",
            "s",
            "--account",
            "a",
            "--generate",
        ],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        assert!(one_line_error(&out).contains("no vault at"), "{args:?}");
    }
    assert!(!env.vault.exists(), "nothing was created");
}

#[test]
fn a_file_that_is_not_a_vault() {
    let env = Env::new();
    std::fs::write(&env.vault, b"just some text, not SQLite").unwrap();
    let out = env.cmd().args(["ls"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("cannot open"));
    assert_eq!(
        std::fs::read(&env.vault).unwrap(),
        b"just some text, not SQLite"
    );
}

#[test]
fn bad_flag_values() {
    let (env, _) = settled();
    let before = env.snapshot();
    for args in [
        &[
            "add",
            "inet",
            "--server",
            "s",
            "--account",
            "a",
            "--port",
            "99999",
            "--generate",
        ][..],
        &[
            "add",
            "inet",
            "--server",
            "s",
            "--account",
            "a",
            "--field",
            "novalue",
            "--generate",
        ],
        &["add", "inet", "--server", "s"],
        &["ls", "--class", "car"],
        &["gen", "--length", "abc"],
        &["unlock", "--timeout", "soon"],
        &["import", "--format", "lastpass", "x.csv"],
        &["frobnicate"],
        &[
            "add",
            "genp",
            "--service",
            "s",
            "--account",
            "a",
            "--password-stdin",
            "--generate",
        ],
        &["passwd", "--kdf-iterations", "10"],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        // clap's errors keep their detail over several lines; the vault's
        // own stay one line.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") || err.starts_with("vault: error: "),
            "{args:?}: {err}"
        );
        if err.starts_with("vault: ") {
            one_line_error(&out);
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // No item password source and no terminal.
    let out = env
        .cmd()
        .args(["add", "genp", "--service", "s", "--account", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("--password-stdin"));
    // An empty stdin line is not a password.
    let out = env
        .cmd()
        .args([
            "add",
            "genp",
            "--service",
            "s",
            "--account",
            "a",
            "--password-stdin",
        ])
        .write_stdin("\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(env.snapshot(), before);
}
