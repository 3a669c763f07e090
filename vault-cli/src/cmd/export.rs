//! `vault export`: every item as `vault-json`, sealed under an export
//! password unless `--plaintext`.

use crate::context::Ctx;
use crate::error::CliError;
use crate::itemjson::ItemJson;
use crate::password;
use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use vault_core::KdfParams;
use zeroize::Zeroizing;

/// The `format` of a plaintext export.
pub const PLAIN_FORMAT: &str = "vault-json";
/// The `format` of an encrypted export.
pub const SEALED_FORMAT: &str = "vault-json-encrypted";
/// The version both carry.
pub const VERSION: u32 = 1;

/// A plaintext export document (its items' `Debug` shows no attribute).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainDoc {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub exported: Option<String>,
    pub items: Vec<ItemJson>,
}

/// An encrypted export document: a [`PlainDoc`] sealed by
/// `vault_core::export`, in base64.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedDoc {
    pub format: String,
    pub version: u32,
    pub kdf: String,
    pub data: String,
}

/// `vault export`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Output format
    #[arg(long, value_enum, default_value = "json")]
    format: ExportFormat,
    /// Write here (created, never overwritten) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write secrets in the clear
    #[arg(long)]
    plaintext: bool,
}

/// The formats `vault export` writes (one so far).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Json,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Args {
        format: ExportFormat::Json,
        output,
        plaintext,
    } = args;
    let output = output.as_deref();
    if let Some(out) = output.filter(|p| p.exists()) {
        return Err(CliError::Usage(format!(
            "{} exists; refusing to overwrite it",
            out.display()
        ))
        .into());
    }
    let export_pw = if plaintext {
        None
    } else {
        Some(password::new_password(
            "VAULT_EXPORT_PASSWORD_FILE",
            "VAULT_EXPORT_PASSWORD",
            "Export password",
        )?)
    };
    let mut vault = ctx.unlock()?;
    let mut items = Vec::new();
    for summary in vault.list(None)? {
        items.push(ItemJson::from_item(&vault.get(summary.uuid)?, true));
    }
    let count = items.len();
    let doc = PlainDoc {
        format: PLAIN_FORMAT.into(),
        version: VERSION,
        exported: Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
        items,
    };
    let plain = Zeroizing::new(serde_json::to_vec_pretty(&doc)?);
    drop(doc);
    let bytes = match &export_pw {
        None => plain,
        Some(pw) => {
            let sealed = vault_core::export::seal_export(pw, KdfParams::default(), &plain)?;
            let doc = SealedDoc {
                format: SEALED_FORMAT.into(),
                version: VERSION,
                kdf: "pbkdf2-sha256".into(),
                data: base64::engine::general_purpose::STANDARD.encode(sealed),
            };
            Zeroizing::new(serde_json::to_vec_pretty(&doc)?)
        }
    };
    match output {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            f.write_all(&bytes)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            let kind = if plaintext { "PLAINTEXT" } else { "encrypted" };
            ctx.out.done(&format!(
                "exported {count} items ({kind}) to {}",
                path.display()
            ));
            ctx.out
                .json(&json!({ "exported": count, "path": path, "encrypted": !plaintext }));
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
    }
    Ok(())
}
