//! Where the SSH agent's keys come from: the vault, opened afresh for each
//! request with the `vault unlock` agent's session key (so `vault lock`
//! stops the signing too), or, when no agent was running at the start,
//! with the session key of the password unlock made then.

use crate::agent;
use crate::context::Ctx;
use anyhow::{Context, anyhow};
use ssh_key::PrivateKey;
use std::path::PathBuf;
use vault_core::error::UnlockError;
use vault_core::item::{ItemClass, ItemData};
use vault_core::{SessionKey, UnlockedVault, Vault};

/// How each request unlocks the vault.
pub struct VaultSource {
    /// The vault file (absolute).
    path: PathBuf,
    /// `None`: ask the `vault unlock` agent each time. `Some`: the key of
    /// the password unlock made at the start, wiped on drop.
    held: Option<SessionKey>,
}

impl VaultSource {
    /// Unlocks once, as every command does (the agent, else the master
    /// password), so a locked vault fails now, with the usual error.
    pub fn start(ctx: &Ctx) -> anyhow::Result<Self> {
        let path = ctx.canonical_path()?;
        let locked = ctx.open()?;
        if let Some(key) = agent::client::session_key(&path)? {
            match locked.unlock_with_session_key(&key) {
                Ok(_) => return Ok(Self { path, held: None }),
                // Stale (the password changed): the password decides.
                Err(UnlockError::WrongSessionKey) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let vault = ctx.unlock_with_password()?;
        Ok(Self {
            path,
            held: Some(vault.session_key()),
        })
    }

    /// Whether the keys come through the `vault unlock` agent.
    pub fn follows_agent(&self) -> bool {
        self.held.is_none()
    }

    fn unlock(&self) -> anyhow::Result<UnlockedVault> {
        let locked = Vault::open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        let agent_key;
        let key = match &self.held {
            Some(key) => key,
            None => {
                agent_key = agent::client::session_key(&self.path)?.ok_or_else(|| {
                    anyhow!("the vault is locked (its agent stopped); run `vault unlock`")
                })?;
                &agent_key
            }
        };
        locked.unlock_with_session_key(key).map_err(|e| match e {
            UnlockError::WrongSessionKey => {
                anyhow!(
                    "the vault's password changed; run `vault unlock`, or restart the SSH agent"
                )
            }
            other => anyhow::Error::from(other).context("cannot unlock the vault"),
        })
    }

    /// The vault's current SSH keys (each comment the item's label), in
    /// `vault ls` order, without duplicates; other keys are left out.
    pub fn keys(&self) -> anyhow::Result<Vec<PrivateKey>> {
        let mut vault = self.unlock()?;
        let mut out: Vec<PrivateKey> = Vec::new();
        for summary in vault.list(Some(ItemClass::Keys))? {
            let item = vault.get(summary.uuid)?;
            let ItemData::Key(key) = &item.data else {
                continue;
            };
            let Some(key) = super::keys::ssh_private_key(key) else {
                continue;
            };
            if !out
                .iter()
                .any(|k| k.public_key().key_data() == key.public_key().key_data())
            {
                out.push(key);
            }
        }
        Ok(out)
    }
}
