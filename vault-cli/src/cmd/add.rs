//! `vault add inet|genp|key`: a new item; prints its uuid (and, for a
//! generated key, its OpenSSH public key line).

use crate::context::Ctx;
use crate::error::CliError;
use crate::password::{self, Password};
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use std::path::PathBuf;
use vault_core::generate;
use vault_core::item::{
    CryptoKey, CustomField, GenericPassword, InternetPassword, Item, ItemData, folder_path,
};
use vault_core::secret::SecretString;
use vault_core::{Lookup, UnlockedVault};

/// `vault add`'s subcommands, one per item class.
#[derive(Subcommand)]
pub enum Command {
    /// An internet password
    Inet(InetArgs),
    /// A generic password
    Genp(GenpArgs),
    /// A private key
    Key(KeyArgs),
}

/// Where an item's new password comes from.
#[derive(Debug, Args, Default)]
pub struct SecretSource {
    /// Read the password from the first line of stdin
    #[arg(long, conflicts_with = "generate")]
    pub password_stdin: bool,
    /// Generate a password of LEN characters (default 20) and print it
    #[arg(long, value_name = "LEN", num_args = 0..=1, default_missing_value = "20",
          value_parser = clap::value_parser!(u16).range(4..=1024))]
    pub generate: Option<u16>,
}

/// `vault add inet`'s flags.
#[derive(Args)]
pub struct InetArgs {
    /// Host name
    #[arg(long)]
    pub server: String,
    /// User name
    #[arg(long)]
    pub account: String,
    /// Protocol (https, ssh, ...)
    #[arg(long)]
    pub protocol: Option<String>,
    /// Port, if not the protocol's default
    #[arg(long)]
    pub port: Option<u16>,
    /// Path on the server
    #[arg(long)]
    pub path: Option<String>,
    #[command(flatten)]
    pub common: CommonFields,
    /// An otpauth:// URI or base32 TOTP seed (visible to `ps`; prefer an import or edit from a file)
    #[arg(long, value_name = "URI")]
    pub totp: Option<String>,
    /// A further URL (repeatable)
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    #[command(flatten)]
    pub secret: SecretSource,
}

/// `vault add genp`'s flags.
#[derive(Args)]
pub struct GenpArgs {
    /// The service the password belongs to
    #[arg(long)]
    pub service: String,
    /// User name
    #[arg(long)]
    pub account: String,
    #[command(flatten)]
    pub common: CommonFields,
    #[command(flatten)]
    pub secret: SecretSource,
}

/// Flags every password class shares.
#[derive(Args)]
pub struct CommonFields {
    /// A human label
    #[arg(long)]
    pub label: Option<String>,
    /// Notes
    #[arg(long)]
    pub notes: Option<String>,
    /// A custom field NAME=VALUE (repeatable)
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field)]
    pub fields: Vec<(String, String)>,
    /// The folder, a path such as Work/Email
    #[arg(long, value_name = "PATH")]
    pub folder: Option<String>,
}

/// `vault add key`'s flags.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true))]
pub struct KeyArgs {
    /// A human label
    #[arg(long)]
    pub label: String,
    /// Generate a key of this type
    #[arg(long, value_enum, group = "source")]
    pub generate: Option<KeyType>,
    /// Read a PEM or OpenSSH private key file
    #[arg(long, value_name = "FILE", group = "source")]
    pub from_file: Option<PathBuf>,
    /// Application tag
    #[arg(long)]
    pub tag: Option<String>,
    /// The folder, a path such as Work/SSH
    #[arg(long, value_name = "PATH")]
    pub folder: Option<String>,
}

/// The key types `vault add key --generate` makes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyType {
    Ed25519,
}

/// A `--field NAME=VALUE` (also `vault edit`'s).
pub fn parse_field(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("expected NAME=VALUE".to_owned()),
    }
}

pub fn run(ctx: &Ctx, add: Command) -> anyhow::Result<()> {
    // Everything that can fail on input is checked before the vault is
    // unlocked, so a bad flag never costs a password prompt.
    let mut public_key = None;
    let (data, generated) = match add {
        Command::Inet(a) => {
            if let Some(t) = &a.totp {
                vault_core::item::totp::check(t).map_err(CliError::from)?;
            }
            let (pw, generated) = item_password(&a.secret)?;
            let generated = generated.then(|| pw.clone());
            let data = ItemData::Inet(InternetPassword {
                server: a.server,
                account: a.account,
                protocol: a.protocol.unwrap_or_default(),
                port: a.port,
                path: a.path.unwrap_or_default(),
                label: a.common.label.clone().unwrap_or_default(),
                notes: a.common.notes.clone().unwrap_or_default().into(),
                password: SecretString::from(pw.as_str()),
                totp: a.totp.unwrap_or_default().into(),
                uris: a.urls,
                custom_fields: fields(&a.common),
                folder: folder(&a.common.folder),
            });
            (data, generated)
        }
        Command::Genp(a) => {
            let (pw, generated) = item_password(&a.secret)?;
            let generated = generated.then(|| pw.clone());
            let data = ItemData::Genp(GenericPassword {
                service: a.service,
                account: a.account,
                label: a.common.label.clone().unwrap_or_default(),
                notes: a.common.notes.clone().unwrap_or_default().into(),
                password: SecretString::from(pw.as_str()),
                custom_fields: fields(&a.common),
                folder: folder(&a.common.folder),
            });
            (data, generated)
        }
        Command::Key(k) => {
            let generate = k.generate.is_some();
            let key = key(k)?;
            if generate {
                public_key = Some(
                    crate::sshagent::keys::public_key_line(&key)
                        .context("the generated key has no OpenSSH public key")?,
                );
            }
            (ItemData::Key(key), None)
        }
    };
    let mut vault = ctx.unlock()?;
    let twins = duplicates(&mut vault, &data)?;
    let uuid = vault.add(data)?;
    ctx.out.data(&uuid.to_string());
    if let Some(first) = twins.first() {
        // A warning, not a notice: shown even with -q.
        eprintln!(
            "warning: {} already held the same {} and account ({}); added another",
            if twins.len() == 1 {
                "this vault".to_owned()
            } else {
                format!("{} items of this vault", twins.len())
            },
            match first.class() {
                vault_core::item::ItemClass::Inet => "server",
                vault_core::item::ItemClass::Genp => "service",
                vault_core::item::ItemClass::Keys => "label",
            },
            crate::query::short(first)
        );
    }
    if let Some(pw) = generated.as_ref().filter(|_| !ctx.out.quiet) {
        ctx.out.data(pw);
    }
    if let Some(line) = &public_key {
        ctx.out.data(line);
    }
    let mut j = json!({ "uuid": uuid.to_string(), "generated": generated.is_some() });
    if let Some(line) = public_key {
        j["public_key"] = line.into();
    }
    ctx.out.json(&j);
    Ok(())
}

/// Items that hold what `data` holds: same class, name (or key label) and
/// account, found through the blind indexes.
fn duplicates(vault: &mut UnlockedVault, data: &ItemData) -> anyhow::Result<Vec<Item>> {
    let lookup = match data {
        ItemData::Inet(i) => Lookup::Server(&i.server),
        ItemData::Genp(g) => Lookup::Service(&g.service),
        ItemData::Key(k) => Lookup::Label(&k.label),
    };
    Ok(vault
        .find(lookup)?
        .into_iter()
        .filter(|i| i.class() == data.class() && i.data.account() == data.account())
        .collect())
}

/// Custom fields from `--field NAME=VALUE` (visible fields).
pub fn fields(common: &CommonFields) -> Vec<CustomField> {
    common
        .fields
        .iter()
        .map(|(name, value)| CustomField {
            name: name.clone(),
            value: value.as_str().into(),
            hidden: false,
        })
        .collect()
}

/// A `--folder` path in its stored form (`/Work//Email/` is `Work/Email`);
/// none when not given.
pub fn folder(given: &Option<String>) -> String {
    given.as_deref().map(folder_path).unwrap_or_default()
}

/// The new item's password: stdin, generated, or asked twice.
fn item_password(src: &SecretSource) -> anyhow::Result<(Password, bool)> {
    if let Some(pw) = new_item_password(src, true)? {
        return Ok(pw);
    }
    Err(CliError::Usage("no item password: use --password-stdin or --generate".into()).into())
}

/// The password `src` asks for; with `ask`, a terminal prompt when no
/// flag says otherwise. `None` when there is nothing to ask with.
pub fn new_item_password(
    src: &SecretSource,
    ask: bool,
) -> anyhow::Result<Option<(Password, bool)>> {
    if src.password_stdin {
        return Ok(Some((password::read_stdin_line()?, false)));
    }
    if let Some(len) = src.generate {
        let secret = generate::password(len.into(), true)?;
        return Ok(Some((Password::new(secret.expose().to_owned()), true)));
    }
    if ask && let Some(pw) = password::prompt_new("Item password: ")? {
        return Ok(Some((pw, false)));
    }
    Ok(None)
}

fn key(k: KeyArgs) -> anyhow::Result<CryptoKey> {
    let (key_type, pem) = match (k.generate, k.from_file) {
        (Some(KeyType::Ed25519), _) => ("ed25519".to_owned(), generate_ed25519()?),
        (None, Some(path)) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
            );
            let label = pem_label(&text).ok_or_else(|| {
                CliError::Usage(format!(
                    "{} is not a PEM or OpenSSH private key",
                    path.display()
                ))
            })?;
            (label, text.to_vec())
        }
        (None, None) => {
            return Err(CliError::Usage("give --generate or --from-file".into()).into());
        }
    };
    Ok(CryptoKey {
        label: k.label,
        key_type,
        application_tag: k.tag.map(String::into_bytes).unwrap_or_default(),
        private_key: pem.into(),
        folder: folder(&k.folder),
        ..CryptoKey::default()
    })
}

/// The key type a PEM private key declares (`openssh`, `pkcs8`, `rsa`,
/// `ec`, ...), once the whole document decodes.
fn pem_label(text: &[u8]) -> Option<String> {
    let text = text.trim_ascii();
    // OpenSSH wraps at 70 columns, which strict RFC 7468 refuses.
    if text.starts_with(crate::sshagent::keys::OPENSSH_BEGIN)
        && ssh_key::PrivateKey::from_openssh(text).is_ok()
    {
        return Some("openssh".to_owned());
    }
    let (label, der) = pem_rfc7468::decode_vec(text).ok()?;
    drop(zeroize::Zeroizing::new(der));
    let kind = label.strip_suffix("PRIVATE KEY")?.trim();
    Some(match kind {
        "" => "pkcs8".to_owned(),
        other => other.to_lowercase().replace(' ', "-"),
    })
}

/// A fresh Ed25519 key as PKCS#8 PEM.
fn generate_ed25519() -> anyhow::Result<Vec<u8>> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).context("the OS random source failed")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .context("cannot encode the key")?;
    Ok(pem.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_pkcs8_pem_and_differ() {
        let a = generate_ed25519().unwrap();
        let b = generate_ed25519().unwrap();
        assert_ne!(a, b);
        assert_eq!(pem_label(&a).as_deref(), Some("pkcs8"));
        assert!(a.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn non_keys_are_refused() {
        assert_eq!(pem_label(b"hello"), None);
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_label(cert), None);
        let ssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(pem_label(ssh).as_deref(), Some("openssh"));
    }
}
