//! `vault get -c` and `vault totp -c` through the built binary, under a
//! real X server: each test starts its own Xvfb (so tests running at once
//! never share a clipboard) and reads and writes the clipboard with xclip.
//! Both come from scripts/install-test-deps; without them these tests fail.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use predicates::prelude::*;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "run scripts/install-test-deps (as root) to install it";

/// A private X server, killed when this drops.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts Xvfb on a display number it picks itself (free at that
    /// moment) and waits until it accepts clients.
    fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "320x240x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Xvfb ({e}): {INSTALL}"));
        // Xvfb writes the display number to -displayfd once it listens.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let n: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb did not report a display: {line:?}"));
        Self {
            child,
            display: format!(":{n}"),
        }
    }

    /// `xclip` on this display, the CLIPBOARD selection.
    fn xclip(&self) -> Command {
        let mut c = Command::new("xclip");
        c.env("DISPLAY", &self.display)
            .args(["-selection", "clipboard"]);
        c
    }

    /// What the clipboard holds, or None when nothing does.
    fn clipboard(&self) -> Option<String> {
        let out = self
            .xclip()
            .arg("-o")
            .output()
            .unwrap_or_else(|e| panic!("cannot run xclip ({e}): {INSTALL}"));
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    /// Copies `text` as another program would (xclip serves it from the
    /// background until the server goes).
    fn copy(&self, text: &str) {
        let mut child = self
            .xclip()
            .arg("-i")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run xclip ({e}): {INSTALL}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        // xclip forks and its child takes the selection after the parent
        // exits: wait for it (briefly) before the test goes on.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.clipboard().as_deref() != Some(text) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(self.clipboard().as_deref(), Some(text));
    }

    /// `vault` from `env` on this display (and no Wayland).
    fn vault(&self, env: &Env) -> assert_cmd::Command {
        let mut c = env.cmd();
        c.env("DISPLAY", &self.display)
            .env_remove("WAYLAND_DISPLAY");
        c
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PASSWORD_ITEM: &str = "hunter2 with spaces";

#[test]
fn get_clip_copies_then_clears_after_the_timeout() {
    let x = Xvfb::start();
    let env = Env::init();
    env.add_inet("example.org", "alice", PASSWORD_ITEM);
    x.vault(&env)
        .args(["get", "example.org", "-c", "--clip-seconds", "2"])
        .assert()
        .success()
        .stdout("")
        .stderr("copied to the clipboard; clears in 2 s\n");
    let copied = Instant::now();
    assert_eq!(x.clipboard().as_deref(), Some(PASSWORD_ITEM));
    std::thread::sleep(Duration::from_secs(1).saturating_sub(copied.elapsed()));
    assert_eq!(x.clipboard().as_deref(), Some(PASSWORD_ITEM), "at 1 s");
    std::thread::sleep(Duration::from_millis(3500).saturating_sub(copied.elapsed()));
    assert_eq!(x.clipboard(), None, "still on the clipboard after 3.5 s");
}

#[test]
fn get_clip_leaves_what_was_copied_meanwhile() {
    let x = Xvfb::start();
    let env = Env::init();
    env.add_inet("example.org", "alice", PASSWORD_ITEM);
    x.vault(&env)
        .args(["get", "example.org", "--clip", "--clip-seconds", "2"])
        .args(["--field", "account"])
        .assert()
        .success();
    let copied = Instant::now();
    assert_eq!(x.clipboard().as_deref(), Some("alice"));
    x.copy("something else");
    std::thread::sleep(Duration::from_millis(3500).saturating_sub(copied.elapsed()));
    assert_eq!(x.clipboard().as_deref(), Some("something else"));
}

#[test]
fn get_clip_returns_while_the_helper_serves_on() {
    let x = Xvfb::start();
    let env = Env::init();
    env.add_inet("example.org", "alice", PASSWORD_ITEM);
    let started = Instant::now();
    let out = x
        .vault(&env)
        .args(["-q", "get", "example.org", "-c", "--clip-seconds", "30"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    drop(out);
    // The unlock dominates; the 30 s are the helper's, not the command's.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "vault get -c took {took:?}");
    // The command has exited; its helper holds the clipboard.
    assert_eq!(x.clipboard().as_deref(), Some(PASSWORD_ITEM));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(x.clipboard().as_deref(), Some(PASSWORD_ITEM));
    // --json says what happened, without the value.
    let out = x
        .vault(&env)
        .args(["--json", "get", "example.org", "-c", "--clip-seconds", "30"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["copied"], true);
    assert_eq!(j["field"], "password");
    assert_eq!(j["clear_after_secs"], 30);
}

#[test]
fn totp_clip_copies_the_code() {
    let x = Xvfb::start();
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    env.ok(&[
        "edit",
        &id,
        "--totp",
        "otpauth://totp/GitHub:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=GitHub",
    ]);
    let before = env.json(&["totp", "github.com"])["code"]
        .as_str()
        .unwrap()
        .to_owned();
    x.vault(&env)
        .args(["totp", "github.com", "-c"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains(
            "copied to the clipboard; clears in 45 s",
        ));
    let after = env.json(&["totp", "github.com"])["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = x.clipboard().unwrap();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code:?}"
    );
    // A 30 s step may turn between the runs.
    assert!(
        code == before || code == after,
        "{code} not {before} or {after}"
    );
}

#[test]
fn clip_without_a_display_fails_before_asking_anything() {
    let env = Env::init();
    env.add_inet("example.org", "alice", PASSWORD_ITEM);
    for args in [
        &["get", "example.org", "-c"][..],
        &["totp", "example.org", "-c"],
    ] {
        // No password source either: the display is checked first.
        env.cmd_nopw()
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(
                "neither WAYLAND_DISPLAY nor DISPLAY",
            ));
    }
}

#[test]
fn clip_seconds_needs_clip() {
    let env = Env::init();
    env.cmd()
        .args(["get", "example.org", "--clip-seconds", "2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "required arguments were not provided",
        ));
}
