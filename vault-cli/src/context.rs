//! What every command starts from: the vault's path, the output switches,
//! and an unlocked vault (from the agent, else the master password).

use crate::agent;
use crate::error::CliError;
use crate::output::Out;
use crate::password;
use anyhow::Context;
use std::path::{Path, PathBuf};
use vault_core::error::UnlockError;
use vault_core::{LockedVault, UnlockedVault, Vault};

/// How many times a wrong password may be typed at the prompt.
const PROMPT_ATTEMPTS: usize = 3;

/// The resolved global options.
#[derive(Debug)]
pub struct Ctx {
    /// The vault file.
    pub path: PathBuf,
    /// Output switches.
    pub out: Out,
}

/// `--vault`/`$VAULT_PATH`, else `<data dir>/vault/vault.db`.
pub fn vault_path(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    let dir = dirs::data_dir().ok_or_else(|| {
        CliError::Usage(
            "no data directory for this platform; pass --vault or set VAULT_PATH".into(),
        )
    })?;
    Ok(dir.join("vault").join("vault.db"))
}

impl Ctx {
    /// The vault, opened but locked.
    pub fn open(&self) -> anyhow::Result<LockedVault> {
        if !self.path.exists() {
            return Err(CliError::NoVault(self.path.clone()).into());
        }
        Vault::open(&self.path).with_context(|| format!("cannot open {}", self.path.display()))
    }

    /// The vault unlocked by the agent's key, else by the master password.
    pub fn unlock(&self) -> anyhow::Result<UnlockedVault> {
        let locked = self.open()?;
        if let Some(key) = agent::client::session_key(locked.path())? {
            match locked.unlock_with_session_key(&key) {
                Ok(v) => return Ok(v),
                // Stale (the password changed): fall through to the password.
                Err(UnlockError::WrongSessionKey) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.unlock_with_password()
    }

    /// The vault unlocked by the master password, never by the agent (for
    /// `vault passwd`, which must prove the password itself).
    pub fn unlock_with_password(&self) -> anyhow::Result<UnlockedVault> {
        if let Some(pw) = password::master_from_env()? {
            return unlock(self.open()?, &pw);
        }
        let prompt = format!("Master password for {}: ", self.path.display());
        for attempt in 1..=PROMPT_ATTEMPTS {
            let Some(pw) = password::prompt(&prompt)? else {
                return Err(CliError::NoPassword.into());
            };
            match unlock(self.open()?, &pw) {
                Err(e) if attempt < PROMPT_ATTEMPTS && is_wrong_password(&e) => {
                    eprintln!("wrong password, try again");
                }
                other => return other,
            }
        }
        Err(CliError::WrongPassword.into())
    }

    /// The vault's path as the agent knows it (absolute).
    pub fn canonical_path(&self) -> anyhow::Result<PathBuf> {
        canonical(&self.path)
    }
}

fn unlock(locked: LockedVault, pw: &str) -> anyhow::Result<UnlockedVault> {
    locked.unlock(pw).map_err(|e| match e {
        UnlockError::WrongPassword => CliError::WrongPassword.into(),
        other => anyhow::Error::from(other).context("cannot unlock the vault"),
    })
}

fn is_wrong_password(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<CliError>(), Some(CliError::WrongPassword))
}

/// The absolute path of an existing vault file.
pub fn canonical(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.exists() {
        return Err(CliError::NoVault(path.to_owned()).into());
    }
    std::fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))
}
