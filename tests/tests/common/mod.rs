//! Harness of the circle's end-to-end tests: a real `vault-server` process
//! on 127.0.0.1 with its own database, and devices that each have their own
//! vault, password file and agent directory, driven through the built
//! `vault` binary.
//! (Over 500 lines: the one harness every end-to-end test file includes
//! as a module; servers, devices, invites and sync helpers read together.)
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
    /// Its SQLite file (unused on PostgreSQL).
    pub db: PathBuf,
    /// Its PostgreSQL database's URL, when on one (see `instances`).
    pub pg_url: Option<String>,
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
        let (child, url) = spawn(Db::File(&db), "127.0.0.1:0", &extra);
        Self {
            child,
            url,
            db,
            pg_url: None,
            dir,
            extra,
        }
    }

    /// A fresh server over TLS with the certificate chain and key given
    /// (PEM, written as `cert.pem` and `key.pem` in its directory); its
    /// URL names `localhost`.
    pub fn start_tls(cert: &str, key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        let mut s = Self::start_in(
            dir,
            &[
                "--tls-cert",
                cert_path.to_str().unwrap(),
                "--tls-key",
                key_path.to_str().unwrap(),
            ],
        );
        let port = s.url.rsplit(':').next().unwrap().to_owned();
        s.url = format!("https://localhost:{port}");
        s
    }

    /// Replaces the TLS certificate and key on disk (each file written
    /// whole, then renamed) and tells the server with SIGHUP.
    pub fn rotate_tls(&self, cert: &str, key: &str) {
        for (name, text) in [("cert.pem", cert), ("key.pem", key)] {
            let tmp = self.dir.path().join(format!("{name}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, self.dir.path().join(name)).unwrap();
        }
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
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
            let db = match &self.pg_url {
                Some(url) => Db::Url(url),
                None => Db::File(&self.db),
            };
            let (child, url) = spawn(db, &addr, &self.extra);
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

/// Where a spawned server keeps its data.
#[derive(Clone, Copy)]
enum Db<'a> {
    /// A SQLite file (`--db PATH`).
    File(&'a Path),
    /// A PostgreSQL URL (in `VAULT_SERVER_DB`: a URL may hold a password,
    /// which `--db` refuses).
    Url(&'a str),
}

/// Starts `vault-server` and waits for its "listening on ADDR" line.
fn spawn(db: Db<'_>, listen: &str, extra: &[String]) -> (Child, String) {
    let mut cmd = Command::new(bin("vault-server"));
    cmd.args(["--listen", listen])
        .args(extra)
        .env_remove("VAULT_SERVER_CONFIG")
        .env_remove("VAULT_SERVER_LISTEN")
        .env_remove("VAULT_SERVER_DB");
    match db {
        Db::File(path) => {
            cmd.arg("--db").arg(path);
        }
        Db::Url(url) => {
            cmd.env("VAULT_SERVER_DB", url);
        }
    }
    let mut child = cmd
        // Circles register freely unless a test asks for a policy
        // (`--registration`, which wins over the variable).
        .env("VAULT_SERVER_REGISTRATION", "open")
        // Servers run side by side: no fixed metrics port; tests read
        // /metrics on the public listener.
        .env("VAULT_SERVER_METRICS_LISTEN", "off")
        .env("VAULT_SERVER_METRICS_PUBLIC", "true")
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
    /// Extra environment of every command (e.g. `SSL_CERT_FILE`).
    pub env: Vec<(&'static str, std::ffi::OsString)>,
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
            env: Vec::new(),
        };
        d.ok(&["init"]);
        d
    }

    /// The same device, its commands run with `key=value` set.
    pub fn with_env(mut self, key: &'static str, value: impl Into<std::ffi::OsString>) -> Self {
        self.env.push((key, value.into()));
        self
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
        for (key, value) in &self.env {
            c.env(key, value);
        }
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
    // A vault that holds items shares them (the tests that join with
    // items mean to).
    let joined = b.json(&[
        "peer",
        "join",
        &invite.code,
        "--name",
        &b.name,
        "--merge-local",
    ]);
    let (code, last, err) = invite.finish();
    assert_eq!(code, 0, "peer invite failed: {err}");
    (last.expect("peer invite printed a last line"), joined)
}

// ---------------------------------------------------------------------
// Sync helpers (the sync_* end-to-end tests).

pub mod admin;
pub mod instances;
#[path = "../../../vault-server/tests/common/pg.rs"]
pub mod pg;
pub mod proxy;
pub mod restore;
pub mod serverdb;
pub mod testca;
pub mod watcher;

impl Device {
    /// Starts this device's agent: the commands after it skip the KDF.
    pub fn unlock(&self) {
        let j = self.json(&["unlock", "--timeout", "10m"]);
        assert_eq!(j["unlocked"], true, "{}: {j}", self.name);
    }

    /// Runs with `input` on stdin; returns (exit code, stdout, stderr).
    pub fn run_stdin(&self, args: &[&str], input: &str) -> (i32, String, String) {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `vault --json ARGS` with `input` on stdin; asserts success.
    pub fn json_stdin(&self, args: &[&str], input: &str) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.run_stdin(&all, input);
        assert_eq!(code, 0, "{} {args:?} failed: {err}", self.name);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{} {args:?}: not JSON ({e}): {out}", self.name))
    }

    /// Adds an internet password; returns its uuid.
    pub fn add_inet(&self, server: &str, account: &str, password: &str) -> String {
        let j = self.json_stdin(
            &[
                "add",
                "inet",
                "--server",
                server,
                "--account",
                account,
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        j["uuid"].as_str().unwrap().to_owned()
    }

    /// Sets an item's password; returns its new gencount.
    pub fn set_password(&self, query: &str, password: &str) -> u64 {
        let j = self.json_stdin(
            &["edit", query, "--password-stdin"],
            &format!("{password}\n"),
        );
        j["gencount"].as_u64().unwrap()
    }

    /// Imports `n` generated internet passwords (a Chrome CSV export):
    /// server `{prefix}{i}.example`, account `user{i}`, password
    /// `{prefix}-pw{i}`.
    pub fn import_generated(&self, prefix: &str, n: usize) {
        let mut csv = String::from("name,url,username,password\n");
        for i in 0..n {
            csv.push_str(&format!(
                "{prefix}{i},https://{prefix}{i}.example/,user{i},{prefix}-pw{i}\n"
            ));
        }
        let file = self.dir.path().join(format!("{prefix}.csv"));
        std::fs::write(&file, csv).unwrap();
        let j = self.json(&["import", "--format", "chrome-csv", file.to_str().unwrap()]);
        assert_eq!(j["added"], n, "{j}");
    }

    /// `vault --json sync`, asserting success.
    pub fn sync(&self) -> serde_json::Value {
        self.json(&["sync"])
    }

    /// `vault --json sync` that must fail: (exit code, stdout, stderr).
    pub fn sync_fails(&self) -> (i32, String, String) {
        let (code, out, err) = self.run(&["--json", "sync"]);
        assert_ne!(code, 0, "{}: sync should have failed: {out}", self.name);
        (code, out, err)
    }

    /// Every item as `get --json` shows it (secrets included), by uuid.
    pub fn items(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let list = self.json(&["ls"]);
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let uuid = s["uuid"].as_str().unwrap().to_owned();
                let item = self.json(&["get", &uuid]);
                (uuid, item)
            })
            .collect()
    }

    /// A read-only connection to the vault file.
    pub fn vault_sql(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open_with_flags(
            &self.vault,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    /// Every row of the item tables and the item history, as SQLite
    /// stores them (ciphertext included): what "the vault's items did not
    /// change" means on disk.
    pub fn item_rows(&self) -> Vec<(&'static str, Vec<rusqlite::types::Value>)> {
        self.rows(&["inet", "genp", "keys", "item_history"])
    }

    /// Every row of `tables`, each table's rows sorted (WITHOUT ROWID
    /// tables too), every column.
    pub fn rows(
        &self,
        tables: &[&'static str],
    ) -> Vec<(&'static str, Vec<rusqlite::types::Value>)> {
        let c = self.vault_sql();
        let mut out = Vec::new();
        for &table in tables {
            let mut stmt = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
            let n = stmt.column_count();
            let mut rows: Vec<Vec<rusqlite::types::Value>> = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, rusqlite::types::Value>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            out.extend(rows.into_iter().map(|r| (table, r)));
        }
        out
    }

    /// The manifest root this device holds for its own zone.
    pub fn manifest_root(&self) -> Vec<u8> {
        self.vault_sql()
            .query_row("SELECT root FROM ckmanifest WHERE peer_id = x''", [], |r| {
                r.get(0)
            })
            .unwrap()
    }

    /// This device's peer id (hex), from `peer ls --offline`.
    pub fn peer_id(&self) -> String {
        let list = self.json(&["peer", "ls", "--offline"]);
        list["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["this_device"] == true)
            .unwrap()["peer_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A circle on `url` (the server's, or a proxy's in front of it): the
/// first device creates it, the others join through invites; every
/// device's agent is started.
pub fn circle_at(url: &str, names: &[&str]) -> Vec<Device> {
    let devices: Vec<Device> = names.iter().map(|n| Device::init(n)).collect();
    let first = &devices[0];
    first.json(&["circle", "create", "--server", url, "--name", &first.name]);
    for d in &devices[1..] {
        pair(first, d);
    }
    for d in &devices {
        d.unlock();
    }
    devices
}

/// Syncs the devices round-robin until one whole pass pulls, pushes and
/// merges nothing; returns the passes it took.
pub fn settle(devices: &[&Device]) -> usize {
    for pass in 1..=8 {
        let mut quiet = true;
        for d in devices {
            let r = d.sync();
            assert_eq!(r["quarantined"], 0, "{}: {r}", d.name);
            if r["pulled"] != 0 || r["pushed"] != 0 || r["merged"] != 0 {
                quiet = false;
            }
        }
        if quiet {
            return pass;
        }
    }
    panic!("the devices did not settle in 8 passes");
}

impl ServerProc {
    /// A second server on a consistent copy of this one's database as it
    /// is now: the fork of the circle a malicious server can keep showing
    /// one device.
    pub fn fork(&self) -> ServerProc {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("server.db");
        self.sql()
            .execute("VACUUM INTO ?1", [db.to_str().unwrap()])
            .unwrap();
        let extra: Vec<String> = self.extra.clone();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        Self::start_in(dir, &extra)
    }
}

impl ServerProc {
    /// SIGKILL, `down` without a server, then a restart on the same port
    /// and database (a client busy meanwhile finds nobody there).
    pub fn kill9_and_restart_after(&mut self, down: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.kill9_and_restart();
    }
}

/// The counts of a `vault --json sync` answer, in a fixed order:
/// (pulled, pushed, merged, conflicts, quarantined).
pub fn counts(r: &serde_json::Value) -> (u64, u64, u64, u64, u64) {
    let n = |k: &str| {
        r[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing from {r}"))
    };
    (
        n("pulled"),
        n("pushed"),
        n("merged"),
        n("conflicts"),
        n("quarantined"),
    )
}

pub fn password(d: &Device, query: &str) -> String {
    d.ok(&["get", query]).trim_end().to_owned()
}

/// Every password in an item's history, the current version left out
/// (`vault --json history --show-secrets`).
pub fn history_passwords(d: &Device, query: &str) -> Vec<String> {
    d.json(&["history", query, "--show-secrets"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["current"] != true)
        .filter_map(|v| v["item"]["password"].as_str().map(str::to_owned))
        .collect()
}

/// A blocking HTTP client for the tests. reqwest is built with TLS in
/// this workspace (vault-client's `rustls-no-provider`), and without a
/// provider of its own it needs the process default: *ring*, as the
/// server's and the client's.
pub fn http_blocking() -> reqwest::blocking::Client {
    install_tls_provider();
    reqwest::blocking::Client::new()
}

/// Installs *ring* as the process's rustls provider (once; later calls
/// find it installed).
pub fn install_tls_provider() {
    #[allow(deprecated, reason = "ring, as the server and the client")]
    let _ = rustls::crypto::ring::default_provider().install_default();
}
