//! Where `vault edit`'s form lives while the editor has it: a 0600 file in
//! a fresh 0700 directory on a memory file system where there is one, wiped
//! (zeros, fsync, unlink) when the guard drops, on every path out; and the
//! editor run on it.

use crate::error::CliError;
use anyhow::Context;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::signal::unix::{Signal, SignalKind, signal};
use zeroize::Zeroizing;

/// The directory to make the scratch directory in: `$XDG_RUNTIME_DIR` if
/// it is a tmpfs, else `/dev/shm` if present, else the temp dir.
pub fn base_dir() -> PathBuf {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && run.is_absolute()
        && is_tmpfs(&run)
    {
        return run;
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        return shm.to_owned();
    }
    std::env::temp_dir()
}

/// Whether `path` is on a tmpfs (its `statfs` type is `TMPFS_MAGIC`).
#[cfg(target_os = "linux")]
fn is_tmpfs(path: &Path) -> bool {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    rustix::fs::statfs(path).is_ok_and(|s| u64::try_from(s.f_type).ok() == Some(TMPFS_MAGIC))
}

#[cfg(not(target_os = "linux"))]
fn is_tmpfs(_path: &Path) -> bool {
    false
}

/// The scratch directory and its one form file; dropping it wipes every
/// file in the directory (an editor's swap and backup files too) and
/// removes the directory.
pub struct Scratch {
    dir: PathBuf,
    file: PathBuf,
}

impl Scratch {
    /// A new directory under [`base_dir`] holding `contents`.
    pub fn create(contents: &str) -> anyhow::Result<Self> {
        let base = base_dir();
        let mut name = [0u8; 8];
        getrandom::fill(&mut name).context("no randomness for a scratch directory")?;
        let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("vault-edit-{hex}"));
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create a scratch directory in {}", base.display()))?;
        // From here on the guard cleans up, whatever fails next.
        let s = Self {
            file: dir.join("item.txt"),
            dir,
        };
        // The umask may have taken bits the owner needs; grant exactly 0700.
        std::fs::set_permissions(&s.dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot set the mode of {}", s.dir.display()))?;
        s.write(contents)?;
        Ok(s)
    }

    /// The form file's path.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Replaces the form with `contents`: the old file is wiped first, the
    /// new one made 0600.
    pub fn write(&self, contents: &str) -> anyhow::Result<()> {
        wipe_file(&self.file);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.file)
            .with_context(|| format!("cannot create {}", self.file.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(contents.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", self.file.display()))
    }

    /// The form as the editor left it; `None` if the editor removed it.
    pub fn read(&self) -> anyhow::Result<Option<Zeroizing<String>>> {
        let mut f = match std::fs::File::open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.file.display()));
            }
        };
        let mut bytes = Zeroizing::new(Vec::new());
        f.read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(Some(Zeroizing::new(text.to_owned()))),
            Err(_) => {
                Err(CliError::Usage("the edited form is not UTF-8; nothing changed".into()).into())
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                wipe_file(&entry.path());
            }
        }
        wipe_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Overwrites a regular file with zeros, syncs it and unlinks it (a
/// symbolic link or anything else is only unlinked).
fn wipe_file(path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    // The directory is ours (0700): nothing can swap the file for a link
    // between the check and the open.
    if meta.is_file()
        && let Ok(mut f) = OpenOptions::new().write(true).open(path)
    {
        let zeros = [0u8; 4096];
        let mut left = meta.len();
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            if f.write_all(&zeros[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = f.sync_all();
    }
    if meta.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// The editor to run: `$VISUAL`, else `$EDITOR`, else `vi` when stdin is
/// a terminal.
pub fn editor() -> anyhow::Result<String> {
    for var in ["VISUAL", "EDITOR"] {
        if let Some(v) = std::env::var_os(var) {
            let v = v
                .into_string()
                .map_err(|_| CliError::Usage(format!("${var} is not valid UTF-8")))?;
            if !v.trim().is_empty() {
                return Ok(v);
            }
        }
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "`vault edit` without flags opens the item in $VISUAL or $EDITOR, and neither is \
             set (vi needs stdin to be a terminal, and it is not): set EDITOR, or give flags \
             such as --label or --password-stdin"
                .into(),
        )
        .into());
    }
    Ok("vi".into())
}

/// Runs `editor` on `path` through `sh -c` (so it may carry arguments),
/// without our password variables; an editor that fails changes nothing.
pub fn run_editor(editor: &str, path: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path);
    crate::password::without_secret_vars(&mut cmd);
    let _shield = SignalShield::new()?;
    let status = cmd
        .status()
        .with_context(|| format!("cannot run the editor ({editor})"))?;
    if !status.success() {
        anyhow::bail!("the editor ({editor}) failed ({status}); nothing changed");
    }
    Ok(())
}

/// While it lives, SIGINT, SIGTERM, SIGHUP and SIGQUIT do not end this
/// process: they reach the editor too (a terminal signals its whole
/// foreground group), the editor's failure ends the edit, and the scratch
/// guard still wipes the form. (Once caught, a signal stays caught for
/// the rest of this short-lived process; the later steps are quick.)
struct SignalShield {
    _runtime: tokio::runtime::Runtime,
    _signals: Vec<Signal>,
}

impl SignalShield {
    fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the signal handler")?;
        let signals = {
            let _in = runtime.enter();
            [
                SignalKind::interrupt(),
                SignalKind::terminate(),
                SignalKind::hangup(),
                SignalKind::quit(),
            ]
            .into_iter()
            .map(signal)
            .collect::<Result<Vec<_>, _>>()
            .context("cannot catch signals while the editor runs")?
        };
        Ok(Self {
            _runtime: runtime,
            _signals: signals,
        })
    }
}
