//! `vault gen`, `vault passwd` and `vault rotate`: generated secrets and
//! the vault's own keys.

use crate::agent;
use crate::context::Ctx;
use crate::error::CliError;
use crate::genpass;
use crate::password;
use serde_json::json;
use vault_core::KdfParams;
use vault_core::error::KeyChangeError;

pub fn gen_password(
    ctx: &Ctx,
    length: u16,
    words: Option<u16>,
    no_symbols: bool,
) -> anyhow::Result<()> {
    let secret = match words {
        Some(w) => genpass::passphrase(w.into())?,
        None => genpass::password(length.into(), !no_symbols)?,
    };
    let bits = genpass::entropy_bits(length.into(), !no_symbols, words.map(usize::from));
    ctx.out.data(&secret);
    ctx.out
        .json(&json!({ "password": secret.as_str(), "entropy_bits": bits.floor() }));
    Ok(())
}

pub fn passwd(ctx: &Ctx, kdf_iterations: Option<u32>) -> anyhow::Result<()> {
    let kdf = match kdf_iterations {
        Some(n) => KdfParams::pbkdf2_sha256(n).map_err(|e| CliError::Usage(e.to_string()))?,
        None => KdfParams::default(),
    };
    // The current password itself, never the agent: changing it must
    // prove it.
    let current = match password::master_from_env()? {
        Some(pw) => pw,
        None => password::prompt("Current master password: ")?.ok_or(CliError::NoPassword)?,
    };
    let mut vault = ctx.open()?.unlock(&current).map_err(|e| match e {
        vault_core::error::UnlockError::WrongPassword => CliError::WrongPassword.into(),
        other => anyhow::Error::from(other),
    })?;
    let new = password::new_password(
        "VAULT_NEW_PASSWORD_FILE",
        "VAULT_NEW_PASSWORD",
        "New master password",
    )?;
    vault
        .change_password(&current, &new, kdf)
        .map_err(|e| match e {
            KeyChangeError::WrongPassword => CliError::WrongPassword.into(),
            other => anyhow::Error::from(other),
        })?;
    // The agent's key opened the old wrapping only; stop it.
    let agent_stopped = agent::client::lock(&ctx.path)?;
    ctx.out.data("master password changed");
    if agent_stopped {
        ctx.out
            .note("the agent was locked; run `vault unlock` again");
    }
    ctx.out.json(&json!({ "changed": true, "agent_locked": agent_stopped, "kdf_iterations": kdf.iterations() }));
    Ok(())
}

pub fn rotate(ctx: &Ctx) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    let epoch = vault.rotate_vault_key()?;
    ctx.out
        .data(&format!("vault key rotated; key epoch {epoch}"));
    ctx.out.json(&json!({ "key_epoch": epoch }));
    Ok(())
}
