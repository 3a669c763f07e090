//! A running `vault --json sync --watch` for the end-to-end tests: its
//! round lines with the instant each was read, stopped by SIGTERM or
//! killed on drop.

use super::Device;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A running `vault --json sync --watch`: each stdout line arrives with
/// the instant it was read; killed on drop.
pub struct Watcher {
    child: Child,
    lines: Receiver<(Instant, Value)>,
    stderr: std::thread::JoinHandle<String>,
}

impl Watcher {
    pub fn start(d: &Device) -> Self {
        let mut child = d
            .cmd()
            .args(["--json", "sync", "--watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send((Instant::now(), v)).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Self {
            child,
            lines,
            stderr,
        }
    }

    /// The next round line that satisfies `want`, with when it was read.
    pub fn until(&self, limit: Duration, want: impl Fn(&Value) -> bool) -> (Instant, Value) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, v)) => {
                    assert_eq!(v["quarantined"], 0, "{v}");
                    assert!(v["at_ms"].as_i64().unwrap() > 0, "{v}");
                    if want(&v) {
                        return (at, v);
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("the watcher printed no such line"),
                Err(RecvTimeoutError::Disconnected) => panic!("the watcher's stdout closed"),
            }
        }
    }

    /// Waits up to `limit` for the watcher to exit by itself; returns
    /// when it did, the exit code and stderr.
    pub fn exits_within(mut self, limit: Duration) -> (Instant, i32, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the watcher did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        let at = Instant::now();
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (at, status.code().unwrap_or(-1), stderr.join().unwrap())
    }

    /// SIGTERM; returns the exit code and stderr.
    pub fn stop(mut self) -> (i32, String) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the watcher ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (status.code().unwrap_or(-1), stderr.join().unwrap())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
