//! The SSH agent's socket: mode 0600, by default in a fresh 0700
//! directory under `$XDG_RUNTIME_DIR` (else the temp dir); removed, with
//! that directory, when the agent stops.

use crate::error::CliError;
use anyhow::Context;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A bound socket; dropping it removes the socket file (if it is still
/// this one) and the directory made for it.
#[derive(Debug)]
pub struct AgentSocket {
    path: PathBuf,
    made_dir: Option<PathBuf>,
    listener: Option<UnixListener>,
    inode: (u64, u64),
}

impl AgentSocket {
    /// Binds `path`, else a socket in a fresh private directory. A socket
    /// another agent still answers on is never taken over; a dead one is
    /// replaced.
    pub fn bind(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let (path, made_dir) = match path {
            Some(p) => {
                // SSH_AUTH_SOCK must name it from any directory.
                let p = std::path::absolute(&p)
                    .with_context(|| format!("cannot resolve {}", p.display()))?;
                clear_stale(&p)?;
                (p, None)
            }
            None => {
                let dir = fresh_dir()?;
                (dir.join("agent.sock"), Some(dir))
            }
        };
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                if let Some(dir) = &made_dir {
                    let _ = std::fs::remove_dir(dir);
                }
                return Err(e).with_context(|| format!("cannot listen on {}", path.display()));
            }
        };
        let mut socket = Self {
            inode: (0, 0),
            listener: Some(listener),
            path,
            made_dir,
        };
        // The umask already made it 0700 (this user only); 0600 is what
        // OpenSSH's agent uses.
        std::fs::set_permissions(&socket.path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", socket.path.display()))?;
        let meta = std::fs::symlink_metadata(&socket.path)
            .with_context(|| format!("cannot stat {}", socket.path.display()))?;
        socket.inode = (meta.dev(), meta.ino());
        Ok(socket)
    }

    /// The socket's path (what `SSH_AUTH_SOCK` names).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener, once, for the server to own.
    pub fn take_listener(&mut self) -> Option<UnixListener> {
        self.listener.take()
    }
}

impl Drop for AgentSocket {
    fn drop(&mut self) {
        // Only our socket: someone may have replaced it meanwhile.
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.inode
        {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(dir) = &self.made_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A new 0700 directory `vault-ssh-XXXXXXXXXXXXXXXX` under
/// `$XDG_RUNTIME_DIR`, else the temp dir.
fn fresh_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).context("the OS random source failed")?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = base.join(format!("vault-ssh-{name}"));
    // `create` fails if the name exists: the directory is ours alone.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Removes `path` if it is a socket nobody answers on; refuses to touch
/// anything else.
fn clear_stale(path: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot stat {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(CliError::Usage(format!(
            "{} exists and is not a socket; choose another --socket",
            path.display()
        ))
        .into());
    }
    if UnixStream::connect(path).is_ok() {
        return Err(CliError::Usage(format!(
            "{} is in use by a running agent; choose another --socket",
            path.display()
        ))
        .into());
    }
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))
}
