//! `vault totp`: the item's current one-time code.

use crate::context::Ctx;
use crate::error::CliError;
use crate::query::{self, QueryArgs};
use serde_json::json;
use vault_core::item::totp;

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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let code = totp::seed_of(&item.data)
        .and_then(|seed| totp::code_at(seed.expose(), now))
        .map_err(CliError::from)?;
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
