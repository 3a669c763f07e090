//! `vault import`: another tool's export (or a `vault export`) into the
//! vault, all or nothing, skipping items the vault already holds.

use super::export::{PLAIN_FORMAT, PlainDoc, SEALED_FORMAT, SealedDoc, VERSION};
use crate::context::Ctx;
use crate::error::CliError;
use crate::password;
use anyhow::Context;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use uuid::Uuid;
use vault_core::item::{ItemClass, ItemData};
use zeroize::Zeroizing;

/// Files larger than this are refused before parsing.
const MAX_FILE: u64 = 256 << 20;

/// `vault import`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The file's format
    #[arg(long, value_enum)]
    format: ImportFormat,
    /// The file (- for stdin)
    file: PathBuf,
}

/// The formats `vault import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    BitwardenJson,
    KeepassxcCsv,
    #[value(name = "1password-csv")]
    OnepasswordCsv,
    ChromeCsv,
    VaultJson,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let bytes = read_input(&args.file)?;
    let records = parse(args.format, &bytes)?;
    drop(bytes);
    let mut vault = ctx.unlock()?;
    let bar = progress(ctx, records.len() as u64);

    // Existing items by (class, name, account); their secrets are read
    // only where an imported record could be their duplicate.
    let mut existing: HashMap<(ItemClass, String, String), Vec<Uuid>> = HashMap::new();
    for s in vault.list(None)? {
        existing
            .entry((s.class, s.name.to_lowercase(), s.account.clone()))
            .or_default()
            .push(s.uuid);
    }
    let mut in_vault: HashSet<[u8; 32]> = HashSet::new();
    let mut in_file: HashSet<[u8; 32]> = HashSet::new();
    let mut checked: HashSet<Uuid> = HashSet::new();
    let mut fresh = Vec::new();
    let (mut skipped, mut repeated) = (0usize, 0usize);
    for data in records {
        let key = (
            data.class(),
            data.name().to_lowercase(),
            data.account().to_owned(),
        );
        if let Some(uuids) = existing.get(&key) {
            for &u in uuids {
                if checked.insert(u) {
                    in_vault.insert(fingerprint(&vault.get(u)?.data));
                }
            }
        }
        let print = fingerprint(&data);
        if in_vault.contains(&print) {
            skipped += 1;
        } else if !in_file.insert(print) {
            repeated += 1;
        } else {
            fresh.push(data);
        }
        bar.inc(1);
    }
    bar.set_message("writing");
    let added = vault.add_batch(fresh)?.len();
    bar.finish_and_clear();
    let mut line = format!("imported {added} items, skipped {skipped} already in the vault");
    if repeated > 0 {
        line.push_str(&format!(" and {repeated} repeated in the file"));
    }
    ctx.out.done(&line);
    ctx.out.json(&json!({
        "added": added,
        "skipped_duplicates": skipped,
        "repeated_in_file": repeated,
    }));
    Ok(())
}

fn read_input(file: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    if file == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        f.take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    if bytes.len() as u64 > MAX_FILE {
        return Err(CliError::Usage(format!("{} is larger than 256 MiB", file.display())).into());
    }
    Ok(bytes)
}

/// Every record of the file, or the first problem (nothing is imported).
fn parse(format: ImportFormat, bytes: &[u8]) -> anyhow::Result<Vec<ItemData>> {
    use vault_import::Format;
    let foreign = match format {
        ImportFormat::BitwardenJson => Format::BitwardenJson,
        ImportFormat::KeepassxcCsv => Format::KeepassxcCsv,
        ImportFormat::OnepasswordCsv => Format::OnePasswordCsv,
        ImportFormat::ChromeCsv => Format::ChromeCsv,
        ImportFormat::VaultJson => return parse_vault_json(bytes),
    };
    vault_import::parse(foreign, bytes).map_err(|e| CliError::Usage(e.to_string()).into())
}

fn parse_vault_json(bytes: &[u8]) -> anyhow::Result<Vec<ItemData>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| json_error(&e))?;
    let format = value
        .get("format")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    let plain = match format {
        SEALED_FORMAT => {
            let doc: SealedDoc = serde_json::from_value(value).map_err(|e| json_error(&e))?;
            check_version(doc.version)?;
            let sealed = base64::engine::general_purpose::STANDARD
                .decode(doc.data.trim())
                .map_err(|_| CliError::Usage("vault-json: \"data\" is not base64".into()))?;
            let pw = match password::from_env("VAULT_EXPORT_PASSWORD_FILE", "VAULT_EXPORT_PASSWORD")? {
                Some(pw) => pw,
                None => password::prompt("Export password: ")?.ok_or_else(|| {
                    CliError::Usage("no export password: set VAULT_EXPORT_PASSWORD_FILE or VAULT_EXPORT_PASSWORD".into())
                })?,
            };
            let plain = vault_core::export::open_export(&pw, &sealed).map_err(|e| match e {
                vault_core::export::ExportError::WrongPasswordOrTampered => {
                    CliError::WrongExportPassword.into()
                }
                other => anyhow::Error::from(other),
            })?;
            let doc: PlainDoc = serde_json::from_slice(&plain).map_err(|e| json_error(&e))?;
            doc
        }
        PLAIN_FORMAT => serde_json::from_value(value).map_err(|e| json_error(&e))?,
        _ => {
            return Err(CliError::Usage(format!(
                "vault-json: \"format\" must be {PLAIN_FORMAT:?} or {SEALED_FORMAT:?}"
            ))
            .into());
        }
    };
    check_version(plain.version)?;
    plain
        .items
        .into_iter()
        .enumerate()
        .map(|(n, item)| {
            item.into_data()
                .map_err(|e| CliError::Usage(format!("vault-json: item {}: {e}", n + 1)).into())
        })
        .collect()
}

fn check_version(v: u32) -> Result<(), CliError> {
    if v == VERSION {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "vault-json: unsupported version {v}"
        )))
    }
}

/// Where a JSON document is wrong, without quoting it (it holds secrets).
fn json_error(e: &serde_json::Error) -> anyhow::Error {
    let what = match e.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Eof => "unexpected end of file",
        serde_json::error::Category::Data => "unexpected field or value type",
        serde_json::error::Category::Io => "read error",
    };
    CliError::Usage(format!(
        "vault-json: line {} column {}: {what}",
        e.line(),
        e.column()
    ))
    .into()
}

/// What makes two records the same: every attribute, secrets included.
/// Anything less would drop records that differ only in, say, their
/// notes (two secure notes with one title); a near-duplicate kept is
/// visible and can be removed, a record dropped is lost.
fn fingerprint(data: &ItemData) -> [u8; 32] {
    let canonical = Zeroizing::new(
        serde_json::to_vec(&crate::itemjson::ItemJson::from_data(data, true))
            .expect("an ItemJson of strings and numbers always serializes"),
    );
    Sha256::digest(&*canonical).into()
}

fn progress(ctx: &Ctx, len: u64) -> indicatif::ProgressBar {
    if ctx.out.json || ctx.out.quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}
