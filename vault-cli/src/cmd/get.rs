//! `vault get`: one item's password, another field, or (with --json) the
//! whole item.

use crate::context::Ctx;
use crate::error::CliError;
use crate::itemjson::ItemJson;
use crate::password::Password;
use crate::query::{self, QueryArgs};
use vault_core::item::{Item, ItemData};

/// `vault get`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,
    /// The field to print: password (default), account, server, service,
    /// label, folder, notes, totp, url (every URL, one per line), private-key, public-key (ed25519 and
    /// p256 keys, as an OpenSSH line), or a custom field's name
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
    #[command(flatten)]
    clip: crate::clipboard::ClipArgs,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let field = args.field.as_deref();
    if args.clip.clip {
        crate::clipboard::ensure_display()?;
    }
    let mut vault = ctx.unlock()?;
    let item = query::resolve(&mut vault, &args.query)?;
    if args.clip.clip {
        let name = field.unwrap_or("password");
        let value = field_value(&item, name)?;
        crate::clipboard::copy(ctx, value.trim_end_matches('\n'), &args.clip)?;
        ctx.out.json(&serde_json::json!({
            "uuid": item.uuid.to_string(),
            "field": name,
            "copied": true,
            "clear_after_secs": args.clip.seconds,
        }));
        return Ok(());
    }
    if ctx.out.json {
        let mut j = serde_json::to_value(ItemJson::from_item(&item, true))?;
        if let Some(f) = field {
            j = serde_json::json!({ "uuid": item.uuid.to_string(), "field": f, "value": *field_value(&item, f)? });
        }
        ctx.out.json(&j);
        return Ok(());
    }
    let value = field_value(&item, field.unwrap_or("password"))?;
    ctx.out.data(value.trim_end_matches('\n'));
    Ok(())
}

/// One field's value, by the names `vault get --field` documents.
pub fn field_value(item: &Item, field: &str) -> anyhow::Result<Password> {
    let s = |v: &str| Ok(Password::new(v.to_owned()));
    let missing = || -> anyhow::Result<Password> {
        Err(CliError::Usage(format!(
            "this {} item has no field {field:?}",
            crate::itemjson::class_name(item.class())
        ))
        .into())
    };
    match field {
        "uuid" => return s(&item.uuid.to_string()),
        "account" => return s(item.data.account()),
        "label" => return s(item.data.label()),
        "folder" => return s(item.data.folder()),
        _ => {}
    }
    let custom = match &item.data {
        ItemData::Inet(i) => match field {
            "password" => return s(i.password.expose()),
            "server" => return s(&i.server),
            "notes" => return s(i.notes.expose()),
            "totp" => return s(i.totp.expose()),
            "protocol" => return s(&i.protocol),
            "path" => return s(&i.path),
            "port" => return s(&i.port.map(|p| p.to_string()).unwrap_or_default()),
            "url" => return s(&url_of(i)),
            _ => &i.custom_fields,
        },
        ItemData::Genp(g) => match field {
            "password" => return s(g.password.expose()),
            "service" => return s(&g.service),
            "notes" => return s(g.notes.expose()),
            _ => &g.custom_fields,
        },
        ItemData::Key(k) => match field {
            "password" | "private-key" => {
                return match std::str::from_utf8(k.private_key.expose()) {
                    Ok(text) => s(text),
                    Err(_) => Err(CliError::Usage(
                        "the private key is binary; use --json (base64)".into(),
                    )
                    .into()),
                };
            }
            "key-type" => return s(&k.key_type),
            "public-key" => {
                return match crate::sshagent::keys::public_key_line(k) {
                    Some(line) => s(&line),
                    None => Err(CliError::Usage(
                        "this key has no OpenSSH public key here (only unencrypted ed25519 and p256 keys do)".into(),
                    )
                    .into()),
                };
            }
            "rp-id" => return s(&k.rp_id),
            "user-name" => return s(&k.user_name),
            _ => return missing(),
        },
    };
    match custom.iter().find(|f| f.name == field) {
        Some(f) => s(f.value.expose()),
        None => missing(),
    }
}

/// Every URI, one per line, else one built from the attributes.
fn url_of(i: &vault_core::item::InternetPassword) -> String {
    if !i.uris.is_empty() {
        return i.uris.join("\n");
    }
    let protocol = if i.protocol.is_empty() {
        "https"
    } else {
        &i.protocol
    };
    let port = i.port.map(|p| format!(":{p}")).unwrap_or_default();
    format!("{protocol}://{}{port}{}", i.server, i.path)
}
