//! Helpers for `ssh_agent.rs`: the OpenSSH tools, and a `vault ssh-agent`
//! process that is stopped when dropped.
#![allow(dead_code, clippy::unwrap_used)]

use crate::common::Env;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An OpenSSH tool from /usr/bin, or a failure that says what to install.
pub fn tool(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: install Debian's openssh-client (and util-linux for setsid); \
         .ci/run installs them",
        path.display()
    );
    path
}

/// A running `vault ssh-agent`; dropping it stops the process.
pub struct SshAgent {
    pub child: Child,
    pub socket: PathBuf,
}

impl SshAgent {
    /// Starts `vault ssh-agent ARGS` in a new session (so it has no
    /// controlling terminal) and reads the socket from its first line.
    pub fn start(env: &Env, with_password: bool, args: &[&str]) -> Self {
        let mut cmd = Command::new(tool("setsid"));
        cmd.arg(env!("CARGO_BIN_EXE_vault"))
            .arg("ssh-agent")
            .args(args);
        isolate(env, &mut cmd, with_password);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(socket) = line
            .strip_prefix("SSH_AUTH_SOCK=")
            .and_then(|l| l.strip_suffix("; export SSH_AUTH_SOCK;\n"))
        else {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected first line {line:?}; stderr: {err}");
        };
        // A path with spaces comes single-quoted, for the shell.
        let socket = socket
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .unwrap_or(socket);
        Self {
            socket: PathBuf::from(socket),
            child,
        }
    }

    /// `tool args` with `SSH_AUTH_SOCK` naming this agent.
    pub fn run(&self, tool_name: &str, args: &[&str], dir: &Path) -> Output {
        run_with(&self.socket, tool_name, args, dir)
    }

    /// `ssh-add -L`'s key lines; panics unless it succeeds.
    pub fn listed(&self, dir: &Path) -> Vec<String> {
        let out = self.run("ssh-add", &["-L"], dir);
        assert!(out.status.success(), "ssh-add -L: {}", text(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// SIGTERM, then the exit status and everything it wrote on stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        terminate(&self.child);
        let status = wait(&mut self.child, Duration::from_secs(10)).expect("exits on SIGTERM");
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, err)
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            terminate(&self.child);
            if wait(&mut self.child, Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// `tool args` with `SSH_AUTH_SOCK` naming `socket`.
pub fn run_with(socket: &Path, tool_name: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(tool(tool_name))
        .args(args)
        .env("SSH_AUTH_SOCK", socket)
        .env_remove("SSH_AGENT_PID")
        .env_remove("DISPLAY")
        .env_remove("SSH_ASKPASS")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
}

pub fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The same isolation as `Env::cmd` gives `vault`, for a plain Command;
/// the temp dir is the test's own, so the agent's socket directory is too.
pub fn isolate(env: &Env, cmd: &mut Command, with_password: bool) {
    for var in [
        "VAULT_PASSWORD",
        "VAULT_PASSWORD_FILE",
        "XDG_RUNTIME_DIR",
        "SSH_AUTH_SOCK",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("VAULT_PATH", &env.vault)
        .env("VAULT_AGENT_DIR", &env.agent_dir)
        .env("TMPDIR", env.dir.path())
        .current_dir(env.dir.path());
    if with_password {
        cmd.env("VAULT_PASSWORD_FILE", &env.pw_file);
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}, stdout {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `vault add key --generate ed25519`: its uuid and public key line.
pub fn generate(env: &Env, label: &str) -> (String, String) {
    let out = env.ok(&["add", "key", "--label", label, "--generate", "ed25519"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    (lines[0].to_owned(), lines[1].to_owned())
}

/// The `type base64` part of an OpenSSH public key line.
pub fn key_part(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}
