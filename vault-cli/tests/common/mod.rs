//! Helpers for the CLI's end-to-end tests: a private directory per test
//! with its own vault, password file and agent directory, and the built
//! `vault` binary run against them.
#![allow(dead_code, clippy::unwrap_used)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub const PASSWORD: &str = "correct horse battery staple";

/// One test's world.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vault: PathBuf,
    pub agent_dir: PathBuf,
    pub pw_file: PathBuf,
}

impl Env {
    /// No vault yet.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pw_file = dir.path().join("pw");
        std::fs::write(&pw_file, format!("{PASSWORD}\n")).unwrap();
        Self {
            vault: dir.path().join("vault.db"),
            agent_dir: dir.path().join("agent"),
            pw_file,
            dir,
        }
    }

    /// A fresh vault (600,000 iterations, the floor).
    pub fn init() -> Self {
        let env = Self::new();
        env.cmd().arg("init").assert().success();
        env
    }

    /// `vault` with this world's vault and password file, and nothing
    /// inherited that could change the outcome.
    pub fn cmd(&self) -> Command {
        let mut c = self.cmd_nopw();
        c.env("VAULT_PASSWORD_FILE", &self.pw_file);
        c
    }

    /// `vault` with no password source.
    pub fn cmd_nopw(&self) -> Command {
        self.isolate(Command::cargo_bin("vault").unwrap())
    }

    /// `vault` with this world's password file, started by `sh` with the
    /// file creation mask `umask` (setting a child's umask from Rust needs
    /// `pre_exec`, which is unsafe).
    pub fn cmd_with_umask(&self, umask: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(r#"umask {umask} && exec "$0" "$@""#))
            .arg(env!("CARGO_BIN_EXE_vault"));
        let mut c = self.isolate(c);
        c.env("VAULT_PASSWORD_FILE", &self.pw_file);
        c
    }

    /// `c` with this world's vault and agent directory, and nothing
    /// inherited that could change the outcome.
    fn isolate(&self, mut c: Command) -> Command {
        for var in [
            "VAULT_PASSWORD",
            "VAULT_PASSWORD_FILE",
            "VAULT_NEW_PASSWORD",
            "VAULT_NEW_PASSWORD_FILE",
            "VAULT_EXPORT_PASSWORD",
            "VAULT_EXPORT_PASSWORD_FILE",
            "XDG_RUNTIME_DIR",
        ] {
            c.env_remove(var);
        }
        c.env("VAULT_PATH", &self.vault)
            .env("VAULT_AGENT_DIR", &self.agent_dir)
            .current_dir(self.dir.path());
        c
    }

    /// Runs `args`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    /// Runs `args` with `--json`, asserts success, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cmd().arg("--json").args(args).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.get_output().stdout)
            )
        })
    }

    /// Adds an internet password (through stdin); returns its uuid.
    pub fn add_inet(&self, server: &str, account: &str, password: &str) -> String {
        let v = self
            .cmd()
            .args([
                "--json",
                "add",
                "inet",
                "--server",
                server,
                "--account",
                account,
                "--password-stdin",
            ])
            .write_stdin(format!("{password}\n"))
            .assert()
            .success();
        let j: serde_json::Value = serde_json::from_slice(&v.get_output().stdout).unwrap();
        j["uuid"].as_str().unwrap().to_owned()
    }

    /// The vault's bytes on disk (file and WAL), to prove nothing changed.
    pub fn snapshot(&self) -> Vec<Vec<u8>> {
        ["", "-wal"]
            .iter()
            .map(|s| {
                let mut p = self.vault.as_os_str().to_owned();
                p.push(s);
                std::fs::read(Path::new(&p)).unwrap_or_default()
            })
            .collect()
    }

    /// The agent socket, once `vault unlock` made one.
    pub fn socket(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.agent_dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "sock"))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Never leave an agent behind.
        let _ = self.cmd_nopw().arg("lock").output();
    }
}

/// The one line a failed command wrote on stderr.
pub fn one_line_error(out: &std::process::Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(
        err.lines().count(),
        1,
        "expected one line on stderr, got: {err:?}"
    );
    assert!(err.starts_with("vault: "), "{err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err:?}"
    );
    err
}
