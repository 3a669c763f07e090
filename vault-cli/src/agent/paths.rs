//! Where an agent's socket lives, and the checks that the directory is
//! private to this user before anything is trusted there.

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// `$VAULT_AGENT_DIR`, else `$XDG_RUNTIME_DIR/vault`, else
/// `<tmp>/vault-<uid>`.
pub fn agent_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VAULT_AGENT_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(run).join("vault");
    }
    std::env::temp_dir().join(format!("vault-{}", rustix::process::getuid().as_raw()))
}

/// The socket of the agent for the vault at `canonical` (one agent per
/// vault file).
pub fn socket_path(canonical: &Path) -> PathBuf {
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    agent_dir().join(format!("agent-{tag}.sock"))
}

/// Creates `dir` (mode 0700) if missing, then refuses it unless it is a
/// directory owned by this user that no one else can enter.
pub fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the agent directory {}", dir.display()))?;
    }
    check_private_dir(dir)
}

/// The check alone, for clients (which never create the directory).
pub fn check_private_dir(dir: &Path) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(dir)
        .with_context(|| format!("cannot inspect the agent directory {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("the agent directory {} is not a directory", dir.display());
    }
    if meta.uid() != rustix::process::getuid().as_raw() {
        bail!(
            "refusing the agent directory {}: it belongs to another user",
            dir.display()
        );
    }
    if meta.mode() & 0o077 != 0 {
        bail!(
            "refusing the agent directory {}: others can enter it (mode {:o}; want 0700)",
            dir.display(),
            meta.mode() & 0o777
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_directory_others_can_enter_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("agent");
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("others can enter"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        assert!(check_private_dir(&tmp.path().join("file")).is_err());
    }

    #[test]
    fn each_vault_has_its_own_socket() {
        assert_ne!(
            socket_path(Path::new("/a/vault.db")),
            socket_path(Path::new("/b/vault.db"))
        );
    }
}
