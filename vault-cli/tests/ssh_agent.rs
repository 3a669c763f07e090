//! `vault ssh-agent` against the real OpenSSH tools: `ssh-add -L` lists
//! the vault's keys, `ssh-keygen -Y sign` signs through the agent with a
//! key that exists only in the vault, and what the agent cannot do is
//! refused. Needs Debian's openssh-client (`ssh-add`, `ssh-keygen`) and
//! util-linux's `setsid`; `.ci/run` installs them.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An OpenSSH tool from /usr/bin, or a failure that says what to install.
fn tool(name: &str) -> PathBuf {
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
struct SshAgent {
    child: Child,
    socket: PathBuf,
}

impl SshAgent {
    /// Starts `vault ssh-agent ARGS` in a new session (so it has no
    /// controlling terminal) and reads the socket from its first line.
    fn start(env: &Env, with_password: bool, args: &[&str]) -> Self {
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
        Self {
            socket: PathBuf::from(socket),
            child,
        }
    }

    /// `tool args` with `SSH_AUTH_SOCK` naming this agent.
    fn run(&self, tool_name: &str, args: &[&str], dir: &Path) -> Output {
        Command::new(tool(tool_name))
            .args(args)
            .env("SSH_AUTH_SOCK", &self.socket)
            .env_remove("SSH_AGENT_PID")
            .env_remove("DISPLAY")
            .env_remove("SSH_ASKPASS")
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `ssh-add -L`'s key lines; panics unless it succeeds.
    fn listed(&self, dir: &Path) -> Vec<String> {
        let out = self.run("ssh-add", &["-L"], dir);
        assert!(out.status.success(), "ssh-add -L: {}", text(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// SIGTERM, then the exit status and everything it wrote on stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
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

fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
}

fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
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
fn isolate(env: &Env, cmd: &mut Command, with_password: bool) {
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

fn text(out: &Output) -> String {
    format!(
        "status {:?}, stdout {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `vault add key --generate ed25519`: its uuid and public key line.
fn generate(env: &Env, label: &str) -> (String, String) {
    let out = env.ok(&["add", "key", "--label", label, "--generate", "ed25519"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    (lines[0].to_owned(), lines[1].to_owned())
}

/// The `type base64` part of an OpenSSH public key line.
fn key_part(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn ssh_add_lists_and_ssh_keygen_signs_with_a_key_only_the_vault_holds() {
    let env = Env::init();
    let (uuid, public) = generate(&env, "deploy key");
    assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");
    assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
    assert!(public.ends_with(" deploy key"), "{public}");
    assert_eq!(
        env.ok(&["get", "deploy key", "--field", "public-key"]),
        format!("{public}\n")
    );
    let j = env.json(&["get", &uuid, "--field", "public-key"]);
    assert_eq!(j["value"], public.as_str());

    let agent = SshAgent::start(&env, true, &[]);
    let dir = env.dir.path();
    // The socket is the user's alone, in a fresh private directory.
    let meta = std::fs::metadata(&agent.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let parent = agent.socket.parent().unwrap().to_owned();
    assert!(parent.starts_with(dir), "{}", parent.display());
    assert_eq!(
        std::fs::metadata(&parent).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(agent.listed(dir), vec![public.clone()]);

    // Sign a file through the agent: only the public key is on disk.
    std::fs::write(dir.join("deploy.pub"), format!("{public}\n")).unwrap();
    std::fs::write(dir.join("message"), "release v1.2.3\n").unwrap();
    let out = agent.run(
        "ssh-keygen",
        &["-Y", "sign", "-f", "deploy.pub", "-n", "file", "message"],
        dir,
    );
    assert!(out.status.success(), "sign: {}", text(&out));
    let sig = std::fs::read_to_string(dir.join("message.sig")).unwrap();
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"), "{sig}");
    std::fs::write(
        dir.join("allowed_signers"),
        format!("deploy@example.com {}\n", key_part(&public)),
    )
    .unwrap();
    let verify = |message: &str| {
        Command::new(tool("ssh-keygen"))
            .args(["-Y", "verify", "-f", "allowed_signers", "-I"])
            .args(["deploy@example.com", "-n", "file", "-s", "message.sig"])
            .current_dir(dir)
            .stdin(std::fs::File::open(dir.join(message)).unwrap())
            .output()
            .unwrap()
    };
    let good = verify("message");
    assert!(good.status.success(), "verify: {}", text(&good));
    std::fs::write(dir.join("forged"), "release v6.6.6\n").unwrap();
    assert!(!verify("forged").status.success(), "another message fails");

    // A key added while the agent runs is listed at once.
    let (_, second) = generate(&env, "ci key");
    let listed = agent.listed(dir);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.contains(&public) && listed.contains(&second),
        "{listed:?}"
    );

    let socket = agent.socket.clone();
    let (status, err) = agent.stop();
    assert!(status.success(), "{status:?} {err}");
    assert!(!socket.exists(), "the socket is removed on exit");
    assert!(!parent.exists(), "and its directory");
    assert!(!err.contains("BEGIN"), "{err}");
}

#[test]
fn a_locked_vault_gives_a_clear_error_and_no_socket() {
    let env = Env::init();
    generate(&env, "deploy key");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.arg("ssh-agent");
    isolate(&env, &mut cmd, false);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let err = one_line_error(&out);
    assert!(err.contains("no master password"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("vault-ssh-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn p256_pem_and_openssh_keys_are_served_and_rsa_skipped() {
    let env = Env::init();
    let dir = env.dir.path();
    let keygen = |kind: &[&str], file: &str| {
        let out = Command::new(tool("ssh-keygen"))
            .args(["-q", "-N", "", "-C", "", "-f", file])
            .args(kind)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-keygen: {}", text(&out));
    };
    keygen(&["-t", "ecdsa", "-b", "256", "-m", "PEM"], "p256");
    keygen(&["-t", "rsa", "-b", "2048"], "rsa");
    keygen(&["-t", "ed25519"], "openssh");
    let pem = std::fs::read_to_string(dir.join("p256")).unwrap();
    assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{pem}");
    let files = [
        ("ec key", "p256"),
        ("rsa key", "rsa"),
        ("openssh key", "openssh"),
    ];
    for (label, file) in files {
        env.ok(&["add", "key", "--label", label, "--from-file", file]);
        // The private key lives only in the vault from now on.
        std::fs::remove_file(dir.join(file)).unwrap();
    }
    let (_, ed) = generate(&env, "ed key");
    let p256_pub = std::fs::read_to_string(dir.join("p256.pub")).unwrap();
    let public = env.ok(&["get", "ec key", "--field", "public-key"]);
    assert_eq!(key_part(&public), key_part(&p256_pub));
    assert!(public.starts_with("ecdsa-sha2-nistp256 "), "{public}");
    env.cmd()
        .args(["get", "rsa key", "--field", "public-key"])
        .assert()
        .code(2);

    let agent = SshAgent::start(&env, true, &[]);
    let listed = agent.listed(dir);
    // `vault ls` order: by name, account, then label.
    let openssh_pub = std::fs::read_to_string(dir.join("openssh.pub")).unwrap();
    assert_eq!(listed.len(), 3, "RSA is skipped: {listed:?}");
    assert_eq!(listed[0], public.trim_end());
    assert_eq!(listed[1], ed);
    assert_eq!(key_part(&listed[2]), key_part(&openssh_pub));
    assert!(listed[2].ends_with(" openssh key"), "{listed:?}");
    let out = agent.run(
        "ssh-keygen",
        &["-Y", "sign", "-f", "p256.pub", "-n", "file", "p256.pub"],
        dir,
    );
    assert!(out.status.success(), "sign with P-256: {}", text(&out));
    std::fs::write(
        dir.join("allowed_signers"),
        format!("ec@example.com {}\n", key_part(&p256_pub)),
    )
    .unwrap();
    let out = Command::new(tool("ssh-keygen"))
        .args([
            "-Y",
            "verify",
            "-f",
            "allowed_signers",
            "-I",
            "ec@example.com",
        ])
        .args(["-n", "file", "-s", "p256.pub.sig"])
        .current_dir(dir)
        .stdin(std::fs::File::open(dir.join("p256.pub")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "verify P-256: {}", text(&out));
}

#[test]
fn adding_removing_and_unknown_keys_are_refused() {
    let env = Env::init();
    let dir = env.dir.path();
    let (_, public) = generate(&env, "deploy key");
    let out = Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-f", "outsider"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let agent = SshAgent::start(&env, true, &[]);
    let add = agent.run("ssh-add", &["outsider"], dir);
    assert!(!add.status.success(), "adding is refused: {}", text(&add));
    let remove_all = agent.run("ssh-add", &["-D"], dir);
    assert!(!remove_all.status.success(), "{}", text(&remove_all));
    std::fs::write(dir.join("deploy.pub"), format!("{public}\n")).unwrap();
    let remove = agent.run("ssh-add", &["-d", "deploy.pub"], dir);
    assert!(!remove.status.success(), "{}", text(&remove));
    // A key the vault does not hold signs nothing.
    std::fs::remove_file(dir.join("outsider")).unwrap();
    let sign = agent.run(
        "ssh-keygen",
        &[
            "-Y",
            "sign",
            "-f",
            "outsider.pub",
            "-n",
            "file",
            "deploy.pub",
        ],
        dir,
    );
    assert!(!sign.status.success(), "{}", text(&sign));
    assert_eq!(
        agent.listed(dir),
        vec![public],
        "nothing was added or removed"
    );
}

#[test]
fn follows_the_vault_unlock_agent_and_stops_signing_on_lock() {
    let env = Env::init();
    let dir = env.dir.path();
    let (_, public) = generate(&env, "deploy key");
    env.ok(&["unlock", "--timeout", "5m"]);
    // No password source at all: the keys come through the agent.
    let agent = SshAgent::start(&env, false, &[]);
    assert_eq!(agent.listed(dir), vec![public.clone()]);
    env.cmd_nopw().arg("lock").assert().success();
    let out = agent.run("ssh-add", &["-L"], dir);
    assert!(!out.status.success(), "locked: {}", text(&out));
    env.ok(&["unlock", "--timeout", "5m"]);
    assert_eq!(agent.listed(dir), vec![public], "unlocked again");
    let (status, err) = agent.stop();
    assert!(status.success(), "{err}");
    assert!(err.contains("vault is locked"), "{err}");
}

#[test]
fn confirm_refuses_to_sign_without_a_terminal() {
    let env = Env::init();
    let dir = env.dir.path();
    let (_, public) = generate(&env, "deploy key");
    let agent = SshAgent::start(&env, true, &["--confirm"]);
    // Listing needs no confirmation; signing does, and there is no
    // terminal to ask on (the agent runs in its own session).
    assert_eq!(agent.listed(dir), vec![public.clone()]);
    std::fs::write(dir.join("deploy.pub"), format!("{public}\n")).unwrap();
    let out = agent.run(
        "ssh-keygen",
        &["-Y", "sign", "-f", "deploy.pub", "-n", "file", "deploy.pub"],
        dir,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!dir.join("deploy.pub.sig").exists());
    let (status, err) = agent.stop();
    assert!(status.success(), "{err}");
    assert!(err.contains("no terminal to confirm on"), "{err}");
}

#[test]
fn add_key_prints_its_public_key_in_json_and_quiet_mode() {
    let env = Env::init();
    let j = env.json(&["add", "key", "--label", "json key", "--generate", "ed25519"]);
    let public = j["public_key"].as_str().unwrap();
    assert!(public.starts_with("ssh-ed25519 AAAA"), "{j}");
    assert_eq!(
        env.ok(&["get", j["uuid"].as_str().unwrap(), "--field", "public-key"]),
        format!("{public}\n")
    );
    let quiet = env.ok(&[
        "-q",
        "add",
        "key",
        "--label",
        "quiet key",
        "--generate",
        "ed25519",
    ]);
    let lines: Vec<&str> = quiet.lines().collect();
    assert_eq!(lines.len(), 2, "{quiet:?}");
    assert!(uuid::Uuid::parse_str(lines[0]).is_ok(), "{quiet:?}");
    assert!(lines[1].starts_with("ssh-ed25519 ") && lines[1].ends_with(" quiet key"));
    // Passwords have no public key.
    env.add_inet("github.com", "alice", "pw");
    env.cmd()
        .args(["get", "github.com", "--field", "public-key"])
        .assert()
        .code(2);
}
