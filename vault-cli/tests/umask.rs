//! The binary sets its file creation mask to 0o077 before anything else,
//! so what it and the agent it starts create is private whatever umask it
//! was started with (here 022, the usual login default).
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `p` and, for a directory, everything under it, with its permission bits.
fn modes(p: &Path) -> Vec<(String, u32)> {
    let mode = std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    let mut all = vec![(p.display().to_string(), mode)];
    if p.is_dir() {
        for entry in std::fs::read_dir(p).unwrap() {
            all.extend(modes(&entry.unwrap().path()));
        }
    }
    all
}

/// The `Umask:` line of a running process's status (Linux 4.7+).
fn umask_of(pid: u64) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| panic!("no Umask line in /proc/{pid}/status"))
}

#[test]
fn under_umask_022_init_creates_nothing_others_can_read() {
    let env = Env::new();
    // A vault in directories init has to create.
    let top = env.dir.path().join("new");
    let vault = top.join("sub").join("vault.db");
    env.cmd_with_umask("022")
        .args(["--vault", vault.to_str().unwrap(), "init"])
        .assert()
        .success();
    let created = modes(&top);
    assert!(created.len() >= 3, "{created:?}");
    for (path, mode) in created {
        assert_eq!(mode & 0o077, 0, "{path} is {mode:o}");
    }
}

#[test]
fn under_umask_022_the_agent_runs_with_umask_077() {
    let env = Env::new();
    env.cmd_with_umask("022").arg("init").assert().success();
    let out = env
        .cmd_with_umask("022")
        .args(["--json", "unlock", "--timeout", "1m"])
        .assert()
        .success();
    let j: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let pid = j["pid"].as_u64().unwrap();
    // The agent is this binary too (`vault __agent`), started by `vault
    // unlock`: without the umask call in main it keeps the 0022 it inherited.
    assert_eq!(umask_of(pid), "0077");
    for (path, mode) in modes(&env.agent_dir) {
        assert_eq!(mode & 0o077, 0, "{path} is {mode:o}");
    }
    // Env's drop locks the agent.
}
