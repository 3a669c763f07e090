//! `vault history`: an item's earlier versions, newest first.

use crate::context::Ctx;
use crate::itemjson::ItemJson;
use crate::output::rfc3339;
use crate::query::{self, QueryArgs};

/// `vault history`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,
    /// Include passwords and other secrets
    #[arg(long)]
    show_secrets: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let secrets = args.show_secrets;
    let mut vault = ctx.unlock()?;
    let item = query::resolve(&mut vault, &args.query)?;
    let versions = vault.history(item.uuid)?;
    if ctx.out.json {
        let list: Vec<_> = versions
            .iter()
            .map(|v| ItemJson::from_item(v, secrets))
            .collect();
        ctx.out.json(&serde_json::to_value(list)?);
        return Ok(());
    }
    if versions.is_empty() {
        ctx.out.note("no earlier versions");
    }
    for v in &versions {
        let j = serde_json::to_value(ItemJson::from_item(v, secrets))?;
        let mut line = format!("gen {}  {}", v.gencount, rfc3339(v.modified_ms));
        if let Some(obj) = j.as_object() {
            for (k, val) in obj {
                if matches!(
                    k.as_str(),
                    "uuid" | "gencount" | "created_ms" | "modified_ms" | "class"
                ) {
                    continue;
                }
                line.push_str(&format!("  {k}={val}"));
            }
        }
        ctx.out.data(&line);
    }
    Ok(())
}
