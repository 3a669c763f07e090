//! Talking to a running agent: fetch the session key, ask its status, or
//! stop it. No agent (no socket, or a dead one) is not an error.

use super::paths::{check_private_dir, socket_path};
use super::resolve::{Request, Resolved};
use super::{MAGIC, OP_KEY, OP_LOCK, OP_RESOLVE, OP_STATUS, STATUS_OK, VERSION};
use anyhow::{Context, bail};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use vault_core::{Selector, SessionKey};
use zeroize::Zeroizing;

/// A running agent, as it describes itself.
#[derive(Debug, Clone, Copy)]
pub struct AgentStatus {
    /// Its process id.
    pub pid: u32,
    /// Seconds until it exits unless used.
    pub idle_left_secs: u64,
}

/// The session key of the agent for the vault at `vault` (any path to
/// it), if one is running.
pub fn session_key(vault: &Path) -> anyhow::Result<Option<SessionKey>> {
    let Some(mut stream) = connect(vault)? else {
        return Ok(None);
    };
    let Some(()) = request(&mut stream, OP_KEY)? else {
        return Ok(None);
    };
    let mut buf = Zeroizing::new([0u8; SessionKey::LEN]);
    stream
        .read_exact(&mut *buf)
        .context("the agent's answer was cut short")?;
    Ok(Some(SessionKey::from_bytes(&buf)))
}

/// The agent's status, if one is running.
pub fn status(vault: &Path) -> anyhow::Result<Option<AgentStatus>> {
    let Some(mut stream) = connect(vault)? else {
        return Ok(None);
    };
    let Some(()) = request(&mut stream, OP_STATUS)? else {
        return Ok(None);
    };
    let mut buf = [0u8; 12];
    stream
        .read_exact(&mut buf)
        .context("the agent's answer was cut short")?;
    let pid = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let mut left = [0u8; 8];
    left.copy_from_slice(&buf[4..]);
    Ok(Some(AgentStatus {
        pid,
        idle_left_secs: u64::from_be_bytes(left),
    }))
}

/// The agent's resolution of `query`, if an agent runs and can answer
/// (an agent whose key no longer opens the vault cannot: the caller then
/// resolves it itself).
pub fn resolve(
    vault: &Path,
    query: &str,
    selector: Selector<'_>,
) -> anyhow::Result<Option<Resolved>> {
    let Ok(payload) = Request::new(query, selector).encode() else {
        return Ok(None);
    };
    let Some(mut stream) = connect(vault)? else {
        return Ok(None);
    };
    let mut req = vec![MAGIC, VERSION, OP_RESOLVE];
    req.extend_from_slice(&payload);
    stream
        .write_all(&req)
        .context("cannot write to the agent")?;
    let mut status = [0u8; 1];
    if stream.read_exact(&mut status).is_err() || status[0] != STATUS_OK {
        return Ok(None);
    }
    let answer = Resolved::read(&mut stream).context("the agent's answer was malformed")?;
    Ok(Some(answer))
}

/// Stops the agent; `true` if one was running.
pub fn lock(vault: &Path) -> anyhow::Result<bool> {
    let Some(mut stream) = connect(vault)? else {
        return Ok(false);
    };
    Ok(request(&mut stream, OP_LOCK)?.is_some())
}

fn connect(vault: &Path) -> anyhow::Result<Option<UnixStream>> {
    let vault = match std::fs::canonicalize(vault) {
        Ok(p) => p,
        Err(_) => return Ok(None),
    };
    let socket = socket_path(&vault);
    let Some(dir) = socket.parent() else {
        return Ok(None);
    };
    if !dir.exists() {
        return Ok(None);
    }
    check_private_dir(dir)?;
    let stream = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot reach the agent at {}", socket.display()));
        }
    };
    let peer = rustix::net::sockopt::socket_peercred(&stream).context("agent peer credentials")?;
    if peer.uid != rustix::process::getuid() {
        bail!(
            "refusing the agent at {}: it runs as another user",
            socket.display()
        );
    }
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(Some(stream))
}

/// Sends `op`; `Some(())` once the agent said yes, `None` if it hung up.
fn request(stream: &mut UnixStream, op: u8) -> anyhow::Result<Option<()>> {
    stream
        .write_all(&[MAGIC, VERSION, op])
        .context("cannot write to the agent")?;
    let mut status = [0u8; 1];
    match stream.read_exact(&mut status) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e).context("no answer from the agent"),
    }
    if status[0] != STATUS_OK {
        bail!("the agent refused the request");
    }
    Ok(Some(()))
}
