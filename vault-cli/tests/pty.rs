//! The interactive prompts on a real terminal (a pty): no echo, asked
//! twice for a new password, three tries for the master password.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

/// `vault ARGS` on a fresh pty with no password source but the prompt.
fn spawn(env: &Env, args: &[&str]) -> PtySession {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vault"));
    cmd.args(args)
        .env("VAULT_PATH", &env.vault)
        .env("VAULT_AGENT_DIR", &env.agent_dir)
        .env_remove("VAULT_PASSWORD")
        .env_remove("VAULT_PASSWORD_FILE")
        .env_remove("VAULT_NEW_PASSWORD")
        .env_remove("VAULT_NEW_PASSWORD_FILE")
        .env_remove("VAULT_EXPORT_PASSWORD")
        .env_remove("VAULT_EXPORT_PASSWORD_FILE");
    spawn_command(cmd, Some(20_000)).unwrap()
}

fn exit_code(p: &PtySession) -> i32 {
    match p.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("did not exit: {other:?}"),
    }
}

#[test]
fn init_asks_twice_without_echo() {
    let env = Env::new();
    let mut p = spawn(&env, &["init"]);
    p.exp_string("New master password: ").unwrap();
    p.send_line("pty-master-pw").unwrap();
    p.exp_string("Repeat: ").unwrap();
    p.send_line("pty-master-pw").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("created"), "{rest:?}");
    assert!(
        !rest.contains("pty-master-pw"),
        "the password was echoed: {rest:?}"
    );
    assert_eq!(exit_code(&p), 0);
    assert!(env.vault.exists());
}

#[test]
fn init_refuses_a_mismatch() {
    let env = Env::new();
    let mut p = spawn(&env, &["init"]);
    p.exp_string("New master password: ").unwrap();
    p.send_line("one").unwrap();
    p.exp_string("Repeat: ").unwrap();
    p.send_line("two").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("do not match"), "{rest:?}");
    assert_eq!(exit_code(&p), 2);
    assert!(!env.vault.exists());
}

#[test]
fn get_prompts_and_retries_a_wrong_password() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-alice");
    let mut p = spawn(&env, &["get", "github.com"]);
    p.exp_string("Master password for").unwrap();
    p.send_line("wrong one").unwrap();
    p.exp_string("wrong password, try again").unwrap();
    p.exp_string("Master password for").unwrap();
    p.send_line(PASSWORD).unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("pw-alice"), "{rest:?}");
    assert!(!rest.contains(PASSWORD));
    assert_eq!(exit_code(&p), 0);
}

#[test]
fn three_wrong_passwords_end_with_exit_3() {
    let env = Env::init();
    let mut p = spawn(&env, &["ls"]);
    for _ in 0..3 {
        p.exp_string("Master password for").unwrap();
        p.send_line("nope").unwrap();
    }
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("vault: error: wrong password"), "{rest:?}");
    assert_eq!(exit_code(&p), 3);
}

#[test]
fn add_asks_for_the_item_password_twice() {
    let env = Env::init();
    let mut p = spawn(
        &env,
        &["add", "genp", "--service", "wifi", "--account", "home"],
    );
    p.exp_string("Item password: ").unwrap();
    p.send_line("pty-item-pw").unwrap();
    p.exp_string("Repeat: ").unwrap();
    p.send_line("pty-item-pw").unwrap();
    p.exp_string("Master password for").unwrap();
    p.send_line(PASSWORD).unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(!rest.contains("pty-item-pw"));
    assert_eq!(exit_code(&p), 0);
    assert_eq!(env.ok(&["get", "wifi"]), "pty-item-pw\n");
}

/// On a terminal, import draws a progress bar on stderr (cleared at the
/// end); with `--json` it draws none.
#[test]
fn import_shows_a_progress_bar_on_a_terminal() {
    let env = Env::init();
    let csv = env.dir.path().join("rows.csv");
    let mut text = String::from("name,url,username,password\n");
    for i in 0..20_000 {
        text.push_str(&format!("h{i},https://h{i}.example/,u{i},p{i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let run = |json: bool| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vault"));
        if json {
            cmd.arg("--json");
        }
        cmd.args(["import", "--format", "chrome-csv"])
            .arg(&csv)
            .env("VAULT_PATH", &env.vault)
            .env("VAULT_AGENT_DIR", &env.agent_dir)
            .env("VAULT_PASSWORD_FILE", &env.pw_file)
            .env_remove("VAULT_PASSWORD");
        let mut p = spawn_command(cmd, Some(60_000)).unwrap();
        let out = p.exp_eof().unwrap();
        assert_eq!(exit_code(&p), 0, "{out:?}");
        out
    };
    let out = run(false);
    assert!(out.contains("/20000"), "no progress bar drawn: {out:?}");
    assert!(out.contains("imported 20000 items"), "{out:?}");
    // The second run skips every row; --json keeps the terminal clean.
    let out = run(true);
    assert!(!out.contains("/20000"), "{out:?}");
    assert!(out.contains("\"skipped_duplicates\":20000"), "{out:?}");
}
