//! `vault history`: an item's versions, newest first (the current one
//! included), each with the fields it changed against the version before
//! it: values of the fields that are not secret, names of the others (and
//! their values with --show-secrets); a deletion shows as deleted.

use crate::context::Ctx;
use crate::itemjson::ItemJson;
use crate::output::rfc3339;
use crate::query::{self, QueryArgs};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use vault_core::UnlockedVault;
use vault_core::item::{CustomField, Item, ItemData, diff};

/// `vault history --help`'s text.
pub const LONG_ABOUT: &str = "\
An item's versions, newest first, the current one included: for each, the \
fields it changed against the version before it. Fields that are not secret \
show their old and new values; secrets (password, notes, TOTP, custom fields, \
key bytes) are only named unless --show-secrets. A deletion shows as deleted; \
a deleted item is named by its full uuid. `vault restore --version N` brings \
back gen N.";

/// `vault history`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,
    /// Include passwords and other secrets
    #[arg(long)]
    show_secrets: bool,
}

/// An item's versions, newest first: the current one (live, or the
/// deletion's tombstone), then its history. A deleted item is found by its
/// full uuid only (the query's other forms search live items).
pub fn versions(vault: &mut UnlockedVault, q: &QueryArgs) -> anyhow::Result<Vec<Item>> {
    let current = match query::resolve(vault, q) {
        Ok(item) => item,
        Err(e) => match uuid::Uuid::parse_str(&q.query) {
            Ok(uuid) => match vault.latest(uuid) {
                Ok(tomb) if tomb.deleted => tomb,
                _ => return Err(e),
            },
            Err(_) => return Err(e),
        },
    };
    Ok(vault.versions(current.uuid)?)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let secrets = args.show_secrets;
    let mut vault = ctx.unlock()?;
    let versions = versions(&mut vault, &args.query)?;
    let mut json_out = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        // Against the next older version that is not a deletion.
        let before = versions[i + 1..]
            .iter()
            .find(|o| !o.deleted)
            .map(|o| &o.data);
        let oldest_kept = before.is_none() && v.gencount > 1;
        let changes = if v.deleted {
            Vec::new()
        } else {
            diff::changes(before, &v.data)
        };
        if ctx.out.json {
            json_out.push(json!({
                "gen": v.gencount,
                "modified": rfc3339(v.modified_ms),
                "modified_ms": v.modified_ms,
                "current": i == 0,
                "deleted": v.deleted,
                "changed": if oldest_kept { None } else {
                    Some(changes.iter().map(|c| c.field).collect::<Vec<_>>())
                },
                "item": (!v.deleted).then(|| ItemJson::from_item(v, secrets)),
            }));
            continue;
        }
        let mut head = format!("gen {}  {}", v.gencount, rfc3339(v.modified_ms));
        if v.deleted {
            head.push_str("  deleted");
        } else if before.is_none() && v.gencount == 1 {
            head.push_str("  created");
        }
        if i == 0 {
            head.push_str("  (current)");
        }
        ctx.out.data(&head);
        if oldest_kept {
            ctx.out.data("  (the version before it is no longer kept)");
            continue;
        }
        for c in &changes {
            let line = match (&c.values, secrets) {
                (Some((a, b)), _) => format!("  {}: {a:?} -> {b:?}", c.field),
                (None, true) => {
                    let (a, b) = secret_values(before, &v.data, c.field);
                    format!("  {}: {a} -> {b}", c.field)
                }
                (None, false) => format!("  {}: changed", c.field),
            };
            ctx.out.data(&line);
        }
    }
    if ctx.out.json {
        ctx.out.json(&serde_json::Value::Array(json_out));
    }
    Ok(())
}

/// A secret field's value before and after, for --show-secrets: strings
/// quoted, bytes in base64, custom fields as `name=value` lists.
fn secret_values(before: Option<&ItemData>, after: &ItemData, field: &str) -> (String, String) {
    let empty = match after {
        ItemData::Inet(_) => ItemData::Inet(Default::default()),
        ItemData::Genp(_) => ItemData::Genp(Default::default()),
        ItemData::Key(_) => ItemData::Key(Default::default()),
    };
    (
        secret_of(before.unwrap_or(&empty), field),
        secret_of(after, field),
    )
}

fn secret_of(d: &ItemData, field: &str) -> String {
    let q = |s: &str| format!("{s:?}");
    let b = |bytes: &[u8]| B64.encode(bytes);
    let fields = |fs: &[CustomField]| {
        let list: Vec<String> = fs
            .iter()
            .map(|f| format!("{}={:?}", f.name, f.value.expose()))
            .collect();
        format!("[{}]", list.join(", "))
    };
    match (d, field) {
        (ItemData::Inet(i), "password") => q(i.password.expose()),
        (ItemData::Inet(i), "notes") => q(i.notes.expose()),
        (ItemData::Inet(i), "totp") => q(i.totp.expose()),
        (ItemData::Inet(i), "custom_fields") => fields(&i.custom_fields),
        (ItemData::Genp(g), "password") => q(g.password.expose()),
        (ItemData::Genp(g), "notes") => q(g.notes.expose()),
        (ItemData::Genp(g), "custom_fields") => fields(&g.custom_fields),
        (ItemData::Key(k), "private_key") => b(k.private_key.expose()),
        (ItemData::Key(k), "application_tag") => b(&k.application_tag),
        (ItemData::Key(k), "credential_id") => b(&k.credential_id),
        (ItemData::Key(k), "user_handle") => b(&k.user_handle),
        _ => String::new(),
    }
}
