//! The agent: one unlock, then commands without a password; lock and the
//! idle timeout end it; its socket is private; no secret in any argv.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn unlock(env: &Env, timeout: &str) -> u32 {
    let j = env.json(&["unlock", "--timeout", timeout]);
    assert_eq!(j["unlocked"], true);
    u32::try_from(j["pid"].as_u64().unwrap()).unwrap()
}

fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by init) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits up to `limit` for `pid` to exit.
fn wait_gone(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn unlock_once_then_ten_gets_without_a_password_then_lock() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-alice");
    let pid = unlock(&env, "5m");
    assert!(alive(pid));
    for _ in 0..10 {
        env.cmd_nopw()
            .args(["get", "github.com"])
            .assert()
            .success()
            .stdout("pw-alice\n");
    }
    // Writes go through the agent's key too.
    env.cmd_nopw()
        .args([
            "add",
            "genp",
            "--service",
            "wifi",
            "--account",
            "home",
            "--password-stdin",
        ])
        .write_stdin("pw-wifi\n")
        .assert()
        .success();
    let s = env.json(&["status"]);
    assert_eq!(s["locked"], false);
    assert_eq!(s["agent"]["pid"], pid);
    assert!(s["agent"]["idle_left_secs"].as_u64().unwrap() > 200);

    env.cmd_nopw()
        .arg("lock")
        .assert()
        .success()
        .stdout("locked\n");
    wait_gone(pid, Duration::from_secs(10));
    assert!(!alive(pid), "the agent exits on lock");
    assert!(env.socket().is_none(), "the socket is removed");
    env.cmd_nopw().args(["get", "github.com"]).assert().code(3);
    assert_eq!(env.json(&["status"])["locked"], true);
    env.cmd_nopw()
        .arg("lock")
        .assert()
        .success()
        .stdout("no agent was running\n");
}

#[test]
fn the_socket_is_0600_in_a_0700_directory() {
    let env = Env::init();
    unlock(&env, "5m");
    let socket = env.socket().expect("a socket");
    let me = rustix_uid();
    let sm = std::fs::metadata(&socket).unwrap();
    assert_eq!(sm.mode() & 0o777, 0o600);
    assert_eq!(sm.uid(), me);
    let dm = std::fs::metadata(&env.agent_dir).unwrap();
    assert_eq!(dm.mode() & 0o777, 0o700);
    assert_eq!(dm.uid(), me);

    // A client refuses a directory others can enter, rather than trust it.
    std::fs::set_permissions(&env.agent_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.cmd_nopw().args(["get", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("others can enter"));
    std::fs::set_permissions(&env.agent_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

/// Run as root, a second user's process (uid 65534) tries the socket: the
/// directory stops it; with the directory and socket opened up on purpose,
/// the agent's own peer-uid check still refuses it and hands out nothing.
#[test]
fn another_user_cannot_use_the_agent() {
    if rustix_uid() != 0 {
        eprintln!("skipped: needs root to act as a second user");
        return;
    }
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-alice");
    unlock(&env, "5m");
    let socket = env.socket().unwrap();

    // The probe is this test binary, copied where uid 65534 can run it.
    let probe_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(probe_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let probe = probe_dir.path().join("probe");
    std::fs::copy(std::env::current_exe().unwrap(), &probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run_probe = || {
        use std::os::unix::process::CommandExt;
        let out = std::process::Command::new(&probe)
            .args([
                "--exact",
                "probe_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PROBE_SOCKET", &socket)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.split_once("PROBE: ").map(|(_, r)| r))
            .unwrap_or_else(|| panic!("probe printed nothing: {text}"))
            .to_owned()
    };
    assert_eq!(run_probe(), "connect failed: PermissionDenied");

    // Open the way on purpose: the agent must refuse by uid.
    std::fs::set_permissions(&env.agent_dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(run_probe(), "refused, 0 key bytes");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&env.agent_dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    // The agent still serves its owner.
    env.cmd_nopw()
        .args(["get", "github.com"])
        .assert()
        .success()
        .stdout("pw-alice\n");
}

/// The second user's side of the test above (run only as its child).
#[test]
#[ignore = "run by another_user_cannot_use_the_agent as uid 65534"]
fn probe_child() {
    let Some(socket) = std::env::var_os("PROBE_SOCKET") else {
        return;
    };
    let result = match UnixStream::connect(&socket) {
        Err(e) => format!("connect failed: {:?}", e.kind()),
        Ok(mut s) => {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // The agent may refuse and hang up before reading: a failed
            // write is part of being refused.
            let _ = s.write_all(b"V\x01K");
            let mut reply = Vec::new();
            let _ = s.read_to_end(&mut reply);
            match reply.split_first() {
                Some((1, rest)) => format!("refused, {} key bytes", rest.len()),
                Some((status, rest)) => format!("status {status}, {} bytes", rest.len()),
                None => "no answer".to_owned(),
            }
        }
    };
    println!("PROBE: {result}");
}

#[test]
fn the_agent_exits_on_idle_timeout() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-alice");
    let pid = unlock(&env, "2s");
    env.cmd_nopw()
        .args(["get", "github.com"])
        .assert()
        .success();
    wait_gone(pid, Duration::from_secs(15));
    assert!(!alive(pid), "the agent outlived its idle timeout");
    assert!(env.socket().is_none());
    env.cmd_nopw().args(["get", "github.com"]).assert().code(3);
}

#[test]
fn unlock_again_replaces_the_agent_and_passwd_locks_it() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-alice");
    let first = unlock(&env, "5m");
    let second = unlock(&env, "10m");
    assert_ne!(first, second);
    wait_gone(first, Duration::from_secs(10));
    assert!(!alive(first));
    assert!(
        env.json(&["status"])["agent"]["idle_left_secs"]
            .as_u64()
            .unwrap()
            > 400
    );

    let new_pw = env.dir.path().join("new");
    std::fs::write(&new_pw, "another password\n").unwrap();
    let j = env
        .cmd()
        .args(["--json", "passwd"])
        .env("VAULT_NEW_PASSWORD_FILE", &new_pw)
        .assert()
        .success();
    let j: serde_json::Value = serde_json::from_slice(&j.get_output().stdout).unwrap();
    assert_eq!(j["agent_locked"], true);
    env.cmd_nopw().args(["get", "github.com"]).assert().code(3);
}

/// `ps` while commands run: neither the master password nor an item's
/// password is in any process's arguments, nor in the agent's environment.
#[test]
fn no_secret_in_argv_or_the_agents_environment() {
    let env = Env::init();
    let pid = {
        let j = env
            .cmd_nopw()
            .env("VAULT_PASSWORD", PASSWORD)
            .args(["--json", "unlock"])
            .assert()
            .success();
        let j: serde_json::Value = serde_json::from_slice(&j.get_output().stdout).unwrap();
        u32::try_from(j["pid"].as_u64().unwrap()).unwrap()
    };
    // A command blocked on its stdin: its argv is on display meanwhile.
    let bin = assert_cmd::cargo::cargo_bin("vault");
    let mut child = std::process::Command::new(bin)
        .args([
            "add",
            "inet",
            "--server",
            "github.com",
            "--account",
            "alice",
            "--password-stdin",
        ])
        .env("VAULT_PATH", &env.vault)
        .env("VAULT_AGENT_DIR", &env.agent_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let ps = std::process::Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    assert!(
        ps.contains(&format!("{} ", child.id())) || ps.contains("--password-stdin"),
        "{ps}"
    );
    assert!(ps.contains("__agent"), "the agent shows in ps: {ps}");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"item-secret-xyz\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!ps.contains(PASSWORD), "master password in ps: {ps}");
    assert!(!ps.contains("item-secret-xyz"));

    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        !environ.contains(PASSWORD),
        "master password in the agent's environment"
    );
    assert!(environ.contains("VAULT_AGENT_DIR"), "environ was read");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(PASSWORD));
    env.cmd_nopw()
        .args(["get", "github.com"])
        .assert()
        .success()
        .stdout("item-secret-xyz\n");
}

/// Garbage, a wrong version and an unknown op from the owner are refused
/// with no key bytes, and the agent keeps serving.
#[test]
fn malformed_requests_are_refused_and_the_agent_survives() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-alice");
    unlock(&env, "5m");
    let socket = env.socket().unwrap();
    for request in [&b"XYZ"[..], b"V\x02K", b"V\x01Q", b"V"] {
        let mut s = UnixStream::connect(&socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(request);
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert_eq!(reply, [1], "request {request:?}");
    }
    env.cmd_nopw()
        .args(["get", "github.com"])
        .assert()
        .success()
        .stdout("pw-alice\n");
}

/// Asks the agent to resolve `query` over its socket, as `vault` does:
/// (status, rule byte, count, uuids).
fn ask_agent(env: &Env, query: &str) -> (u8, u8, u32, Vec<String>) {
    let mut s = UnixStream::connect(env.socket().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = b"V\x01Q".to_vec();
    req.extend_from_slice(&u16::try_from(query.len()).unwrap().to_be_bytes());
    req.extend_from_slice(query.as_bytes());
    req.extend_from_slice(&[0, 0, 0]);
    s.write_all(&req).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    if reply[0] != 0 {
        return (reply[0], 0, 0, Vec::new());
    }
    let count = u32::from_be_bytes(reply[2..6].try_into().unwrap());
    let uuids = reply[7..]
        .chunks(16)
        .map(|c| uuid::Uuid::from_slice(c).unwrap().to_string())
        .collect();
    (reply[0], reply[1], count, uuids)
}

#[test]
fn the_agent_resolves_queries_and_follows_edits() {
    let env = Env::init();
    let alice = env.add_inet("github.com", "alice", "pw-alice");
    let mail = env.add_inet("mail.example.net", "dave", "pw-dave");
    unlock(&env, "5m");
    // The agent answers with the rule and the uuids, never an attribute.
    assert_eq!(ask_agent(&env, "github"), (0, 4, 1, vec![alice.clone()]));
    assert_eq!(
        ask_agent(&env, "https://mail.example.net/inbox"),
        (0, 3, 1, vec![mail.clone()])
    );
    assert_eq!(ask_agent(&env, "nothing"), (0, 0, 0, vec![]));
    for (query, want) in [
        ("github", "pw-alice\n"),
        ("GitHub.com", "pw-alice\n"),
        ("https://mail.example.net:443/inbox", "pw-dave\n"),
        ("dav", "pw-dave\n"),
    ] {
        env.cmd_nopw()
            .args(["get", query])
            .assert()
            .success()
            .stdout(want);
    }
    // An edit by another process: the agent's cache follows it.
    env.cmd_nopw()
        .args(["edit", "github", "--server", "gitlab.com"])
        .assert()
        .success();
    assert_eq!(ask_agent(&env, "github"), (0, 0, 0, vec![]));
    env.cmd_nopw().args(["get", "github"]).assert().code(4);
    env.cmd_nopw()
        .args(["get", "gitlab"])
        .assert()
        .success()
        .stdout("pw-alice\n");
}
