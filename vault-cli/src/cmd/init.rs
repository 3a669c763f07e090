//! `vault init`: create a vault.

use crate::context::Ctx;
use crate::error::CliError;
use crate::password;
use anyhow::Context;
use serde_json::json;
use std::os::unix::fs::DirBuilderExt;
use vault_core::{KdfParams, Vault};

/// `vault init`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// PBKDF2-HMAC-SHA256 iterations (at least 600000)
    #[arg(long, value_name = "N")]
    kdf_iterations: Option<u32>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Args { kdf_iterations } = args;
    if ctx.path.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; refusing to overwrite it",
            ctx.path.display()
        ))
        .into());
    }
    let kdf = match kdf_iterations {
        Some(n) => KdfParams::pbkdf2_sha256(n).map_err(|e| CliError::Usage(e.to_string()))?,
        None => KdfParams::default(),
    };
    if let Some(dir) = ctx.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let pw = password::new_password(
        "VAULT_PASSWORD_FILE",
        "VAULT_PASSWORD",
        "New master password",
    )?;
    password::warn_if_weak(&pw);
    let vault = Vault::create(&ctx.path, &pw, kdf)
        .with_context(|| format!("cannot create {}", ctx.path.display()))?;
    ctx.out.done(&format!("created {}", vault.path().display()));
    ctx.out.json(&json!({
        "path": vault.path(),
        "vault_id": vault.vault_id().to_string(),
        "kdf": "pbkdf2-sha256",
        "kdf_iterations": kdf.iterations(),
    }));
    Ok(())
}
