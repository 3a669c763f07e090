//! The agent process: holds one session key in memory (never on disk),
//! and, from the first query, the vault opened with it and its search
//! cache; answers the same user's requests, and exits, wiping both, on
//! `vault lock`, on the idle timeout, or when its socket is taken away.

use super::paths::ensure_private_dir;
use super::resolve::{Request, Resolved};
use super::{MAGIC, OP_KEY, OP_LOCK, OP_RESOLVE, OP_STATUS, STATUS_OK, STATUS_REFUSED, VERSION};
use anyhow::{Context, bail};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use vault_core::{SessionKey, UnlockedVault, Vault};
use zeroize::Zeroizing;

/// The line the agent prints on stdout once it listens.
pub const READY: &str = "ready";

struct State {
    key: Option<SessionKey>,
    last_used: Instant,
    /// The vault the key opens.
    path: PathBuf,
    /// The vault, opened at the first query and kept open (with its
    /// search cache) until the agent exits.
    vault: Option<UnlockedVault>,
}

impl State {
    fn resolve(&mut self, req: &Request) -> Option<Resolved> {
        if self.vault.is_none() {
            let key = self.key.as_ref()?;
            let opened = Vault::open(&self.path)
                .ok()?
                .unlock_with_session_key(key)
                .ok()?;
            self.vault = Some(opened);
        }
        let vault = self.vault.as_mut()?;
        match vault.resolve(&req.query, req.selector()) {
            Ok(r) => Some(Resolved::of(&r)),
            Err(_) => {
                // Reopen next time: the file may have been replaced.
                self.vault = None;
                None
            }
        }
    }
}

/// Runs the agent: reads the session key from stdin, listens on `socket`,
/// prints [`READY`], and serves until locked or idle for `timeout`.
pub fn run(socket: &Path, vault: &Path, timeout: Duration) -> anyhow::Result<()> {
    harden();
    let mut buf = Zeroizing::new([0u8; SessionKey::LEN]);
    std::io::stdin()
        .read_exact(&mut *buf)
        .context("the agent expects its key on stdin")?;
    let key = SessionKey::from_bytes(&buf);
    drop(buf);

    let dir = socket
        .parent()
        .context("the socket path has no directory")?;
    ensure_private_dir(dir)?;
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            bail!("an agent already listens on {}", socket.display());
        }
        std::fs::remove_file(socket).context("cannot remove a stale agent socket")?;
    }
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    let inode = std::fs::metadata(socket)?.ino();

    let state = Arc::new(Mutex::new(State {
        key: Some(key),
        last_used: Instant::now(),
        path: vault.to_owned(),
        vault: None,
    }));
    {
        let state = Arc::clone(&state);
        let socket = socket.to_owned();
        std::thread::spawn(move || watchdog(&state, &socket, inode, timeout));
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{READY}")?;
    stdout.flush()?;
    drop(stdout);

    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if serve(stream, &state, timeout).is_break() {
            shutdown(&state, socket, inode);
        }
    }
    Ok(())
}

/// One exchange. `Break` means the client asked the agent to exit.
fn serve(
    mut stream: UnixStream,
    state: &Mutex<State>,
    timeout: Duration,
) -> std::ops::ControlFlow<()> {
    use std::ops::ControlFlow::{Break, Continue};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    // The directory already keeps others out; the peer's uid is checked as
    // well, so a misconfigured directory still does not leak the key.
    let same_user = rustix::net::sockopt::socket_peercred(&stream)
        .map(|c| c.uid == rustix::process::getuid())
        .unwrap_or(false);
    let mut req = [0u8; 3];
    if !same_user || stream.read_exact(&mut req).is_err() || req[..2] != [MAGIC, VERSION] {
        let _ = stream.write_all(&[STATUS_REFUSED]);
        return Continue(());
    }
    let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
    match req[2] {
        OP_KEY => {
            st.last_used = Instant::now();
            let Some(key) = st.key.as_ref() else {
                return Continue(());
            };
            let mut reply = Zeroizing::new(Vec::with_capacity(1 + SessionKey::LEN));
            reply.push(STATUS_OK);
            reply.extend_from_slice(&*key.to_bytes());
            let _ = stream.write_all(&reply);
            Continue(())
        }
        OP_STATUS => {
            let left = timeout.saturating_sub(st.last_used.elapsed()).as_secs();
            let mut reply = vec![STATUS_OK];
            reply.extend_from_slice(&std::process::id().to_be_bytes());
            reply.extend_from_slice(&left.to_be_bytes());
            let _ = stream.write_all(&reply);
            Continue(())
        }
        OP_RESOLVE => {
            st.last_used = Instant::now();
            let Ok(req) = Request::decode(&mut stream) else {
                let _ = stream.write_all(&[STATUS_REFUSED]);
                return Continue(());
            };
            match st.resolve(&req) {
                Some(answer) => {
                    let mut reply = vec![STATUS_OK];
                    if answer.write(&mut reply).is_ok() {
                        let _ = stream.write_all(&reply);
                    }
                }
                None => {
                    let _ = stream.write_all(&[STATUS_REFUSED]);
                }
            }
            Continue(())
        }
        OP_LOCK => {
            st.key = None;
            st.vault = None;
            let _ = stream.write_all(&[STATUS_OK]);
            Break(())
        }
        _ => {
            let _ = stream.write_all(&[STATUS_REFUSED]);
            Continue(())
        }
    }
}

/// Exits once idle for `timeout`, or once the socket is gone or replaced.
fn watchdog(state: &Mutex<State>, socket: &Path, inode: u64, timeout: Duration) {
    let tick = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        std::thread::sleep(tick);
        let idle = state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_used
            .elapsed();
        let ours = std::fs::metadata(socket).is_ok_and(|m| m.ino() == inode);
        if idle >= timeout || !ours {
            shutdown(state, socket, inode);
        }
    }
}

/// Wipes the key, removes the socket if it is still ours, and exits.
fn shutdown(state: &Mutex<State>, socket: &Path, inode: u64) -> ! {
    {
        let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
        st.key = None;
        st.vault = None;
    }
    if std::fs::metadata(socket).is_ok_and(|m| m.ino() == inode) {
        let _ = std::fs::remove_file(socket);
    }
    std::process::exit(0)
}

/// No core dumps and no ptrace by other processes of the same user: the
/// key must not leave through either.
pub(crate) fn harden() {
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    #[cfg(target_os = "linux")]
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

/// Starts an agent listening on `socket` holding `key`, and waits
/// until it listens. The key goes through a pipe, never argv or the
/// environment.
pub fn spawn(
    socket: &Path,
    vault: &Path,
    key: &SessionKey,
    timeout: Duration,
) -> anyhow::Result<u32> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let exe: PathBuf = std::env::current_exe().context("cannot find the vault binary")?;
    // The agent needs no password; none lingers in its environment for its
    // whole life.
    let mut child = crate::password::without_secret_vars(&mut Command::new(exe))
        .arg("__agent")
        .arg("--socket")
        .arg(socket)
        .arg("--vault-file")
        .arg(vault)
        .arg("--timeout")
        .arg(format!("{}s", timeout.as_secs().max(1)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: Ctrl-C in this terminal does not reach it.
        .process_group(0)
        .spawn()
        .context("cannot start the agent")?;
    let pid = child.id();
    {
        let mut stdin = child.stdin.take().context("agent stdin")?;
        stdin
            .write_all(&*key.to_bytes())
            .context("cannot hand the key to the agent")?;
    }
    let stdout = child.stdout.take().context("agent stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    if line.trim_end() != READY {
        let _ = child.kill();
        let _ = child.wait();
        bail!("the agent did not start");
    }
    // The agent lives on after this process exits; nobody waits for it
    // but init, which reaps it.
    drop(child);
    Ok(pid)
}
