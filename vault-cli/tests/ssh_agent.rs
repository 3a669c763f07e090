//! `vault ssh-agent` against the real OpenSSH tools: `ssh-add -L` lists
//! the vault's keys, `ssh-keygen -Y sign` signs through the agent with a
//! key that exists only in the vault, and what the agent cannot do is
//! refused. Needs Debian's openssh-client (`ssh-add`, `ssh-keygen`) and
//! util-linux's `setsid`; `.ci/run` installs them.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;
mod ssh_common;

use common::*;
use ssh_common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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

#[test]
fn socket_flag_takes_over_only_a_dead_socket() {
    let env = Env::init();
    let dir = env.dir.path();
    let (_, public) = generate(&env, "deploy key");
    // A relative path is printed absolute.
    let first = SshAgent::start(&env, true, &["--socket", "my agent.sock"]);
    assert_eq!(first.socket, dir.join("my agent.sock"));
    assert_eq!(first.listed(dir), vec![public.clone()]);
    // A socket a live agent answers on is refused, and left alone.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.args(["ssh-agent", "--socket"]).arg(&first.socket);
    isolate(&env, &mut cmd, true);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(one_line_error(&out).contains("in use"), "{}", text(&out));
    assert_eq!(first.listed(dir), vec![public.clone()]);
    // A file that is not a socket is never removed.
    std::fs::write(dir.join("plain"), "keep me").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.args(["ssh-agent", "--socket", "plain"]);
    isolate(&env, &mut cmd, true);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("plain")).unwrap(),
        "keep me"
    );
    // A dead agent's socket (killed, so it could not clean up) is reused.
    let path = first.socket.clone();
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(path.exists(), "SIGKILL leaves the socket behind");
    let second = SshAgent::start(&env, true, &["--socket", "my agent.sock"]);
    assert_eq!(second.listed(dir), vec![public]);
    drop(second);
    assert!(!path.exists());
}

#[test]
fn confirm_asks_on_the_terminal_and_signs_only_on_yes() {
    let env = Env::init();
    let dir = env.dir.path().to_owned();
    let (_, public) = generate(&env, "deploy key");
    std::fs::write(dir.join("deploy.pub"), format!("{public}\n")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.args(["ssh-agent", "--confirm"]);
    isolate(&env, &mut cmd, true);
    // The pty becomes the agent's controlling terminal.
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    let (_, line) = p.exp_regex("SSH_AUTH_SOCK=[^;]+;").unwrap();
    let socket = PathBuf::from(&line["SSH_AUTH_SOCK=".len()..line.len() - 1]);
    let prompt =
        r"Allow signing with SHA256:\S+ \(deploy key\) for ssh-keygen \(pid \d+\)\? \[y/N\] ";
    for (answer, signs) in [("y", true), ("n", false)] {
        let _ = std::fs::remove_file(dir.join("deploy.pub.sig"));
        let (socket, dir2) = (socket.clone(), dir.clone());
        let sign = std::thread::spawn(move || {
            run_with(
                &socket,
                "ssh-keygen",
                &["-Y", "sign", "-f", "deploy.pub", "-n", "file", "deploy.pub"],
                &dir2,
            )
        });
        p.exp_regex(prompt).unwrap();
        p.send_line(answer).unwrap();
        let out = sign.join().unwrap();
        assert_eq!(out.status.success(), signs, "{answer}: {}", text(&out));
        assert_eq!(dir.join("deploy.pub.sig").exists(), signs);
    }
    // Ctrl-C stops it and takes the socket away.
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
    assert!(!socket.exists(), "the socket is removed on SIGINT");
}
