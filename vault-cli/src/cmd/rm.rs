//! `vault rm`: delete an item (its tombstone stays for sync; earlier
//! versions stay in history).

use crate::cli::QueryArgs;
use crate::context::Ctx;
use crate::query;
use serde_json::json;

pub fn run(ctx: &Ctx, q: &QueryArgs) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    let item = query::resolve(&mut vault, q)?;
    vault.delete(item.uuid)?;
    ctx.out.data(&format!("deleted {}", query::short(&item)));
    ctx.out
        .json(&json!({ "uuid": item.uuid.to_string(), "deleted": true }));
    Ok(())
}
