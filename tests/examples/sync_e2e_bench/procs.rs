//! The bench's processes: the `vault-server` binary on 127.0.0.1 (plain
//! or TLS) and devices driven through the `vault` binary.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `vault-server` binary on 127.0.0.1, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// With `tls`, the certificate and key files to serve.
    pub fn start(
        bin: &Path,
        db: &Path,
        default_limits: bool,
        tls: Option<(&Path, &Path)>,
    ) -> Server {
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0", "--log-level", "warn", "--db"])
            .arg(db)
            .env_remove("VAULT_SERVER_CONFIG")
            .env("VAULT_SERVER_REGISTRATION", "open")
            .env("VAULT_SERVER_METRICS_LISTEN", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if !default_limits {
            cmd.env("VAULT_SERVER_PER_IP_PER_SEC", "0")
                .env("VAULT_SERVER_PER_DEVICE_PER_SEC", "0");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the server exited").unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("vault-server: {line}");
            }
        });
        let url = match tls {
            // The certificate names localhost.
            Some(_) => format!("https://localhost:{}", addr.rsplit(':').next().unwrap()),
            None => format!("http://{addr}"),
        };
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One device: its own vault file and agent directory.
pub struct Device {
    name: String,
    bin: PathBuf,
    pub vault: PathBuf,
    dir: PathBuf,
    pw_file: PathBuf,
}

impl Device {
    pub fn init(bin: &Path, root: &Path, pw_file: &Path, name: &str) -> Device {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let d = Device {
            name: name.to_owned(),
            bin: bin.to_owned(),
            vault: dir.join("vault.db"),
            dir,
            pw_file: pw_file.to_owned(),
        };
        d.ok(&["init"]);
        d
    }

    fn cmd(&self) -> Command {
        self.cmd_under(&[])
    }

    /// The `vault` command, run by `wrap` when it names a program.
    fn cmd_under(&self, wrap: &[String]) -> Command {
        let mut c = match wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        for var in ["VAULT_PASSWORD", "XDG_RUNTIME_DIR", "VAULT_NEW_PASSWORD"] {
            c.env_remove(var);
        }
        c.env("VAULT_PATH", &self.vault)
            .env("VAULT_PASSWORD_FILE", &self.pw_file)
            .env("VAULT_AGENT_DIR", self.dir.join("agent"))
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        c
    }

    /// Runs, asserts success; returns stdout and the process's wall time.
    pub fn timed(&self, args: &[&str]) -> (String, Duration) {
        self.timed_under(&[], args)
    }

    fn timed_under(&self, wrap: &[String], args: &[&str]) -> (String, Duration) {
        let started = Instant::now();
        let out = self.cmd_under(wrap).args(args).output().unwrap();
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        (String::from_utf8(out.stdout).unwrap(), took)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.timed(args).0
    }

    /// `vault --json sync`: its object and the process's wall time.
    pub fn sync(&self) -> (Value, Duration) {
        self.sync_under(&[])
    }

    /// [`Device::sync`] run by `wrap` (a profiler), if it names a program.
    pub fn sync_under(&self, wrap: &[String]) -> (Value, Duration) {
        let (out, took) = self.timed_under(wrap, &["--json", "sync"]);
        let v: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("{}: sync printed no JSON ({e}): {out}", self.name));
        assert!(
            v.get("elapsed_ms").is_some(),
            "this vault binary predates elapsed_ms: {v}"
        );
        (v, took)
    }

    /// `inviter` invites, this device joins.
    pub fn join(&self, inviter: &Device) {
        let mut child = inviter
            .cmd()
            .args(["--json", "peer", "invite", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("peer invite printed no code");
        let v: Value = serde_json::from_str(&first).unwrap();
        let code = v["code"].as_str().expect("a code").to_owned();
        self.ok(&["peer", "join", &code, "--name", &self.name]);
        let status = child.wait().unwrap();
        assert!(status.success(), "peer invite failed");
    }
}
