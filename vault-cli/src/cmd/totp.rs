//! `vault totp`: the item's current one-time code.

use crate::context::Ctx;
use crate::error::CliError;
use crate::query::{self, QueryArgs};
use serde_json::json;
use vault_core::item::ItemData;

/// `vault totp`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,
    #[command(flatten)]
    clip: crate::clipboard::ClipArgs,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if args.clip.clip {
        crate::clipboard::ensure_display()?;
    }
    let mut vault = ctx.unlock()?;
    let item = query::resolve(&mut vault, &args.query)?;
    let value = match &item.data {
        ItemData::Inet(i) if !i.totp.expose().is_empty() => i.totp.expose().to_owned(),
        ItemData::Inet(i) => custom_totp(&i.custom_fields)?,
        ItemData::Genp(g) => custom_totp(&g.custom_fields)?,
        ItemData::Key(_) => return Err(no_totp()),
    };
    let totp = crate::totp::parse(&value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let code = crate::totp::code_at(&totp, now);
    if args.clip.clip {
        crate::clipboard::copy(ctx, &code.code, &args.clip)?;
        ctx.out.json(&json!({
            "copied": true,
            "seconds_left": code.seconds_left,
            "period": code.period,
            "clear_after_secs": args.clip.seconds,
        }));
        return Ok(());
    }
    ctx.out
        .data(&format!("{} ({}s left)", code.code, code.seconds_left));
    ctx.out.json(&json!({
        "code": code.code,
        "seconds_left": code.seconds_left,
        "period": code.period,
    }));
    Ok(())
}

/// A custom field named `totp` (imports from tools that keep it there).
fn custom_totp(fields: &[vault_core::item::CustomField]) -> anyhow::Result<String> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("totp") && !f.value.expose().is_empty())
        .map(|f| f.value.expose().to_owned())
        .ok_or_else(no_totp)
}

fn no_totp() -> anyhow::Error {
    CliError::Usage("this item has no TOTP seed".into()).into()
}
