//! Harness of the circle's end-to-end tests: a real `vault-server` process
//! on 127.0.0.1 with its own database, and devices that each have their own
//! vault, password file and agent directory, driven through the built
//! `vault` binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "end-to-end password";

/// A workspace binary built next to this test (`cargo test --workspace`
/// builds both `vault` and `vault-server`).
pub fn bin(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace` (or `cargo build --bins`) first",
        path.display()
    );
    path
}

/// A `vault-server` child process; stopped (SIGTERM, then SIGKILL) on drop.
pub struct ServerProc {
    pub child: Child,
    pub url: String,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl ServerProc {
    /// A fresh server with its own database on an OS-chosen port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A fresh server with extra flags.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), extra)
    }

    /// A fresh server reading `toml` as its config file.
    pub fn start_with_config(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("server.toml");
        std::fs::write(&cfg, toml).unwrap();
        Self::start_in(dir, &["--config", cfg.to_str().unwrap()])
    }

    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let db = dir.path().join("server.db");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, url) = spawn(&db, "127.0.0.1:0", &extra);
        Self {
            child,
            url,
            db,
            dir,
            extra,
        }
    }

    /// A fresh server whose rate limits do not get in a fast test's way.
    pub fn start_unthrottled() -> Self {
        Self::start_with_config(
            "[limits]\nper_ip_per_sec = 100000\nper_ip_burst = 100000\n\
             per_device_per_sec = 100000\nper_device_burst = 100000\n",
        )
    }

    /// Kills the process with SIGKILL and starts it again on the same port
    /// and database.
    pub fn kill9_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let addr = self.url.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The port may take a moment to be free again.
            let (child, url) = spawn(&self.db, &addr, &self.extra);
            let mut child = child;
            if url == self.url {
                self.child = child;
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "the server did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server gracefully (SIGTERM) and returns its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection to the server's database, for the malicious-server
    /// tests that edit it behind the server's back.
    pub fn sql(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vault-server` and waits for its "listening on ADDR" line.
fn spawn(db: &Path, listen: &str, extra: &[String]) -> (Child, String) {
    let mut child = Command::new(bin("vault-server"))
        .args(["--listen", listen, "--db"])
        .arg(db)
        .args(extra)
        .env_remove("VAULT_SERVER_CONFIG")
        .env_remove("VAULT_SERVER_LISTEN")
        .env_remove("VAULT_SERVER_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut sent = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if !sent && let Some(pos) = line.find("listening on ") {
                let addr = line[pos + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(addr);
                sent = true;
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => (child, format!("http://{addr}")),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!("vault-server did not report its address ({status:?})");
        }
    }
}

/// One device: its own vault, password file and agent directory.
pub struct Device {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub vault: PathBuf,
}

impl Device {
    /// A device with a new vault.
    pub fn init(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), format!("{PASSWORD}\n")).unwrap();
        let d = Self {
            name: name.to_owned(),
            vault: dir.path().join("vault.db"),
            dir,
        };
        d.ok(&["init"]);
        d
    }

    /// `vault ARGS` for this device.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin("vault"));
        for var in ["VAULT_PASSWORD", "XDG_RUNTIME_DIR", "VAULT_NEW_PASSWORD"] {
            c.env_remove(var);
        }
        c.env("VAULT_PATH", &self.vault)
            .env("VAULT_PASSWORD_FILE", self.dir.path().join("pw"))
            .env("VAULT_AGENT_DIR", self.dir.path().join("agent"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    /// Runs and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{} {args:?} failed: {err}", self.name);
        out
    }

    /// Runs with `--json`, asserts success, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{} {args:?}: not JSON ({e}): {out}", self.name))
    }

    /// Runs, asserts failure, returns (exit code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let (code, _, err) = self.run(args);
        assert_ne!(code, 0, "{} {args:?} should have failed", self.name);
        (code, err)
    }

    /// The vault file's bytes (with its WAL), to show nothing changed.
    pub fn file_bytes(&self) -> Vec<u8> {
        let mut all = std::fs::read(&self.vault).unwrap();
        let mut wal = self.vault.as_os_str().to_owned();
        wal.push("-wal");
        if let Ok(w) = std::fs::read(PathBuf::from(wal)) {
            all.extend(w);
        }
        all
    }
}

/// A running `vault peer invite --json`: the code is read from its first
/// line; `finish` waits for the last.
pub struct Invite {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub code: String,
}

impl Invite {
    pub fn start(inviter: &Device, extra: &[&str]) -> Self {
        let mut child = inviter
            .cmd()
            .args(["--json", "peer", "invite", "--yes"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("peer invite printed no code");
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        let code = v["code"]
            .as_str()
            .expect("first line is {\"code\": ...}")
            .to_owned();
        Self {
            child,
            lines: rx,
            code,
        }
    }

    /// Waits for the inviter to exit; returns (exit code, its last stdout
    /// line parsed, stderr).
    pub fn finish(mut self) -> (i32, Option<serde_json::Value>, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "peer invite did not finish");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut last = None;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            last = Some(line);
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (
            status.code().unwrap_or(-1),
            last.and_then(|l| serde_json::from_str(&l).ok()),
            err,
        )
    }
}

impl Drop for Invite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A with a new circle on `server`, then each of `others` joined through
/// an invite from A. Returns the SAS pairs for the caller to compare.
pub fn pair(a: &Device, b: &Device) -> (serde_json::Value, serde_json::Value) {
    let invite = Invite::start(a, &[]);
    let joined = b.json(&["peer", "join", &invite.code, "--name", &b.name]);
    let (code, last, err) = invite.finish();
    assert_eq!(code, 0, "peer invite failed: {err}");
    (last.expect("peer invite printed a last line"), joined)
}
