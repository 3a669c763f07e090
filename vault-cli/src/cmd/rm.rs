//! `vault rm`: delete an item (its tombstone stays for sync; earlier
//! versions stay in history).

use crate::context::Ctx;
use crate::query::{self, QueryArgs};
use serde_json::json;

/// `vault rm`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    let item = query::resolve(&mut vault, &args.query)?;
    vault.delete(item.uuid)?;
    ctx.out.done(&format!("deleted {}", query::short(&item)));
    ctx.out
        .json(&json!({ "uuid": item.uuid.to_string(), "deleted": true }));
    Ok(())
}
