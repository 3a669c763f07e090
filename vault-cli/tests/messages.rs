//! What the CLI says, pinned by exit code and message: clap's own detail
//! for argument errors, `--json` errors on stdout, `-q`, generated
//! passwords, TOTP checks, weak master passwords, duplicates, the agent and
//! `passwd`, and password files.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn argument_errors_keep_clap_s_detail() {
    let env = Env::init();
    for (args, says) in [
        (&["get"][..], "<QUERY>"),
        (
            &["ls", "--class", "foo"],
            "[possible values: inet, genp, key]",
        ),
        (
            &["gen", "--legnth", "3"],
            "a similar argument exists: '--length'",
        ),
        (
            &["get", "x", "--match-class", "car"],
            "possible values: inet, genp, key",
        ),
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("try '--help'"), "{args:?}: {err}");
    }
    // With --json, also one object on stdout.
    let out = env
        .cmd()
        .args(["--json", "ls", "--class", "foo"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["error"]["code"], "usage");
    assert_eq!(j["error"]["exit"], 2);
}

#[test]
fn help_has_the_exit_code_table_and_no_developer_text() {
    let env = Env::new();
    let help = env.ok(&["--help"]);
    for line in [
        "  4  no such item",
        "  5  the query matches several",
        "  8  the server could not be reached",
        "  9  the invite expired",
    ] {
        assert!(help.contains(line), "{line}: {help}");
    }
    for cmd in ["get", "edit", "add", "ls", "history", "sync"] {
        let text = env.ok(&[cmd, "--help"]);
        assert!(!text.contains("Debug"), "{cmd}: {text}");
        assert!(!text.contains("deliberately"), "{cmd}: {text}");
    }
    assert!(!help.contains("Debug"));
}

#[test]
fn json_errors_are_one_object_on_stdout_too() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-a");
    env.add_inet("github.com", "bob", "pw-b");
    for (args, code, name) in [
        (&["--json", "get", "nothing"][..], 4, "not_found"),
        (&["--json", "get", "github.com"], 5, "ambiguous"),
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["error"]["code"], name, "{j}");
        assert_eq!(j["error"]["exit"], code);
        let msg = j["error"]["message"].as_str().unwrap();
        assert!(stderr(&out).contains(msg), "{msg}");
        assert!(!stdout(&out).contains("pw-"));
    }
    let out = env
        .cmd_nopw()
        .env("VAULT_PASSWORD", "wrong")
        .args(["--json", "ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["error"]["code"], "password");
    assert!(
        !stdout(&out).contains("wrong\""),
        "the password is not echoed"
    );
}

#[test]
fn quiet_prints_only_what_was_asked_for() {
    let env = Env::new();
    let out = env.cmd().args(["-q", "init"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "", "init");
    let id = env.add_inet("github.com", "alice", "pw-a");
    let export = env.dir.path().join("out.json");
    for args in [
        &["-q", "edit", "github.com", "--label", "x"][..],
        &[
            "-q",
            "export",
            "--plaintext",
            "--output",
            export.to_str().unwrap(),
        ],
        &["-q", "rm", &id],
    ] {
        let out = env
            .cmd()
            .env("VAULT_EXPORT_PASSWORD", "unused")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    // Without -q the outcome is told.
    let id = env.add_inet("github.com", "alice", "pw-a");
    assert!(env.ok(&["rm", &id]).starts_with("deleted "));
}

#[test]
fn add_generate_prints_the_password_but_not_with_quiet() {
    let env = Env::init();
    let out = env.ok(&[
        "add",
        "genp",
        "--service",
        "s",
        "--account",
        "a",
        "--generate",
        "24",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[1].chars().count(), 24);
    assert_eq!(env.ok(&["get", lines[0]]).trim_end(), lines[1]);
    let quiet = env.ok(&[
        "-q",
        "add",
        "genp",
        "--service",
        "t",
        "--account",
        "a",
        "--generate",
    ]);
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
    let json = env.json(&[
        "add",
        "genp",
        "--service",
        "u",
        "--account",
        "a",
        "--generate",
    ]);
    assert_eq!(json["generated"], true);
}

#[test]
fn totp_seeds_are_checked_when_saved() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw-a");
    let before = env.snapshot();
    for args in [
        &["edit", &id, "--totp", "not base32!"][..],
        &["edit", &id, "--totp", "otpauth://totp/x?digits=6"],
        &[
            "add",
            "inet",
            "--server",
            "x.example",
            "--account",
            "a",
            "--totp",
            "not base32!",
            "--generate",
        ],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = one_line_error(&out);
        assert!(err.contains("TOTP"), "{err}");
        assert!(
            !err.contains("not base32!"),
            "the value is not echoed: {err}"
        );
    }
    assert_eq!(env.snapshot(), before);
    env.ok(&["edit", &id, "--totp", "JBSWY3DPEHPK3PXP"]);
    assert_eq!(
        env.ok(&["totp", &id])
            .split_whitespace()
            .next()
            .unwrap()
            .len(),
        6
    );
    // "" clears it.
    env.ok(&["edit", &id, "--totp", ""]);
}

#[test]
fn weak_master_passwords_are_warned_about() {
    for (pw, weak) in [
        ("a", true),
        ("short", true),
        ("password1", true),
        ("correct horse battery staple orbit", false),
    ] {
        let env = Env::new();
        std::fs::write(&env.pw_file, format!("{pw}\n")).unwrap();
        let out = env.cmd().args(["-q", "init"]).output().unwrap();
        assert!(out.status.success());
        let err = stderr(&out);
        assert_eq!(
            err.contains("warning: this master password is weak"),
            weak,
            "{pw}: {err}"
        );
        if weak {
            assert!(!err.contains(&format!(" {pw} ")), "{err}");
        }
        // passwd warns the same way about the new one.
        let out = env
            .cmd()
            .env("VAULT_NEW_PASSWORD", "abc123")
            .args(["passwd", "--kdf-iterations", "600000"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("is weak"), "{}", stderr(&out));
    }
}

#[test]
fn an_exact_duplicate_is_added_with_a_warning() {
    let env = Env::init();
    let first = env.add_inet("github.com", "alice", "pw-a");
    let out = env
        .cmd()
        .args([
            "-q",
            "add",
            "inet",
            "--server",
            "GitHub.com",
            "--account",
            "alice",
            "--password-stdin",
        ])
        .write_stdin("pw-b\n")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("warning:") && err.contains("same server and account"),
        "{err}"
    );
    assert!(err.contains(&first.replace('-', "")[..8]), "{err}");
    // Another account: no warning.
    let out = env
        .cmd()
        .args([
            "add",
            "inet",
            "--server",
            "github.com",
            "--account",
            "bob",
            "--password-stdin",
        ])
        .write_stdin("pw-c\n")
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn passwd_with_the_agent_unlocked_says_the_agent_cannot_do_it() {
    let env = Env::init();
    env.cmd()
        .args(["unlock", "--timeout", "5m"])
        .assert()
        .success();
    let out = env
        .cmd_nopw()
        .env("VAULT_NEW_PASSWORD", "a much longer new passphrase here")
        .arg("passwd")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = one_line_error(&out);
    assert!(err.contains("the agent cannot give"), "{err}");
    assert!(!err.contains("run `vault unlock`"), "{err}");
    env.cmd_nopw().arg("lock").assert().success();
}

#[test]
fn an_empty_password_file_variable_is_named() {
    let env = Env::init();
    let out = env
        .cmd_nopw()
        .env("VAULT_PASSWORD_FILE", "")
        .arg("ls")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(
        err.contains("$VAULT_PASSWORD_FILE is set but empty"),
        "{err}"
    );
}

#[test]
fn get_field_url_prints_every_url() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw-a");
    assert_eq!(
        env.ok(&["get", &id, "--field", "url"]),
        "https://github.com\n"
    );
    env.ok(&[
        "edit",
        &id,
        "--url",
        "https://github.com/login",
        "--url",
        "https://gist.github.com",
    ]);
    assert_eq!(
        env.ok(&["get", &id, "--field", "url"]),
        "https://github.com/login\nhttps://gist.github.com\n"
    );
    // And the second URL's host finds the item.
    assert_eq!(env.ok(&["get", "gist.github.com"]), "pw-a\n");
}
