//! `vault gen`, `vault passwd` and `vault rotate`: generated secrets and
//! the vault's own keys.

use crate::agent;
use crate::context::Ctx;
use crate::error::CliError;
use crate::password;
use serde_json::json;
use vault_core::KdfParams;
use vault_core::error::KeyChangeError;
use vault_core::generate;

/// `vault gen`'s flags.
#[derive(clap::Args)]
pub struct GenArgs {
    /// Characters
    #[arg(long, short, default_value_t = 20, value_parser = clap::value_parser!(u16).range(4..=1024))]
    length: u16,
    /// A passphrase of N words from the EFF long list instead
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    words: Option<u16>,
    /// Letters and digits only
    #[arg(long)]
    no_symbols: bool,
}

/// `vault passwd`'s flags.
#[derive(clap::Args)]
pub struct PasswdArgs {
    /// PBKDF2-HMAC-SHA256 iterations for the new password (at least 600000)
    #[arg(long, value_name = "N")]
    kdf_iterations: Option<u32>,
}

pub fn gen_password(ctx: &Ctx, args: GenArgs) -> anyhow::Result<()> {
    let GenArgs {
        length,
        words,
        no_symbols,
    } = args;
    let secret = match words {
        Some(w) => generate::passphrase(w.into())?,
        None => generate::password(length.into(), !no_symbols)?,
    };
    let bits = generate::entropy_bits(length.into(), !no_symbols, words.map(usize::from));
    ctx.out.data(secret.expose());
    ctx.out
        .json(&json!({ "password": secret.expose(), "entropy_bits": bits.floor() }));
    Ok(())
}

pub fn passwd(ctx: &Ctx, args: PasswdArgs) -> anyhow::Result<()> {
    let kdf = match args.kdf_iterations {
        Some(n) => KdfParams::pbkdf2_sha256(n).map_err(|e| CliError::Usage(e.to_string()))?,
        None => KdfParams::default(),
    };
    // The current password itself, never the agent: changing it must
    // prove it.
    let current = match password::master_from_env()? {
        Some(pw) => pw,
        None => {
            if password::have_terminal() && agent::client::status(&ctx.path)?.is_some() {
                ctx.out
                    .note("the agent cannot change the master password: it needs the current one");
            }
            password::prompt("Current master password: ")?.ok_or(CliError::NoCurrentPassword)?
        }
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
    password::warn_if_weak(&new);
    vault
        .change_password(&current, &new, kdf)
        .map_err(|e| match e {
            KeyChangeError::WrongPassword => CliError::WrongPassword.into(),
            other => anyhow::Error::from(other),
        })?;
    // The agent's key opened the old wrapping only; stop it.
    let agent_stopped = agent::client::lock(&ctx.path)?;
    ctx.out.done("master password changed");
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
