//! `vault add inet|genp|key`: a new item; prints its uuid.

use crate::cli::{AddCommand, CommonFields, KeyArgs, KeyType, SecretSource};
use crate::context::Ctx;
use crate::error::CliError;
use crate::genpass;
use crate::password::{self, Password};
use anyhow::Context;
use serde_json::json;
use vault_core::item::{CryptoKey, CustomField, GenericPassword, InternetPassword, ItemData};
use vault_core::secret::SecretString;

pub fn run(ctx: &Ctx, add: AddCommand) -> anyhow::Result<()> {
    // Everything that can fail on input is checked before the vault is
    // unlocked, so a bad flag never costs a password prompt.
    let (data, generated) = match add {
        AddCommand::Inet(a) => {
            let (pw, generated) = item_password(&a.secret)?;
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
            });
            (data, generated)
        }
        AddCommand::Genp(a) => {
            let (pw, generated) = item_password(&a.secret)?;
            let data = ItemData::Genp(GenericPassword {
                service: a.service,
                account: a.account,
                label: a.common.label.clone().unwrap_or_default(),
                notes: a.common.notes.clone().unwrap_or_default().into(),
                password: SecretString::from(pw.as_str()),
                custom_fields: fields(&a.common),
            });
            (data, generated)
        }
        AddCommand::Key(k) => (ItemData::Key(key(k)?), false),
    };
    let mut vault = ctx.unlock()?;
    let uuid = vault.add(data)?;
    ctx.out.data(&uuid.to_string());
    if generated {
        ctx.out.note(&format!(
            "generated a password; `vault get {uuid}` prints it"
        ));
    }
    ctx.out
        .json(&json!({ "uuid": uuid.to_string(), "generated": generated }));
    Ok(())
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
        return Ok(Some((genpass::password(len.into(), true)?, true)));
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
        ..CryptoKey::default()
    })
}

/// The key type a PEM private key declares (`openssh`, `pkcs8`, `rsa`,
/// `ec`, ...), once the whole document decodes.
fn pem_label(text: &[u8]) -> Option<String> {
    let (label, der) = pem_rfc7468::decode_vec(text.trim_ascii()).ok()?;
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
