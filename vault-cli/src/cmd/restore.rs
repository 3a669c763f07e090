//! `vault restore`: an earlier version of an item (a `gen` that `vault
//! history` lists) written back as a new version, which syncs like any
//! edit. A deleted item (named by its full uuid) comes back as a new item:
//! vault-core writes no version over a deletion's tombstone.

use super::history;
use crate::context::Ctx;
use crate::error::CliError;
use crate::query::{self, QueryArgs};
use serde_json::json;

/// `vault restore --help`'s text.
pub const LONG_ABOUT: &str = "\
Bring back an earlier version of an item (a gen `vault history` lists) as a \
new version, which syncs like any edit.

A deleted item is named by its full uuid (`vault history UUID` lists its \
versions); it comes back as a new item with a new uuid.";

/// `vault restore`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: QueryArgs,
    /// The version to bring back: a `gen` number `vault history` prints
    #[arg(long = "version", value_name = "N")]
    version: u64,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let n = args.version;
    let mut vault = ctx.unlock()?;
    let versions = history::versions(&mut vault, &args.query)?;
    let current = &versions[0];
    let name = if current.deleted {
        format!("the deleted item {}", current.uuid)
    } else {
        query::short(current)
    };
    if n == current.gencount {
        return Err(CliError::Usage(format!(
            "gen {n} is the current version of {name}: nothing to restore"
        ))
        .into());
    }
    let old = versions[1..]
        .iter()
        .find(|v| v.gencount == n)
        .ok_or_else(|| {
            let kept: Vec<String> = versions[1..]
                .iter()
                .map(|v| v.gencount.to_string())
                .collect();
            CliError::Usage(format!(
                "{name} has no gen {n} in its history (kept: {})",
                if kept.is_empty() {
                    "none".to_owned()
                } else {
                    kept.join(", ")
                }
            ))
        })?;
    if old.deleted {
        return Err(CliError::Usage(format!(
            "gen {n} of {name} is a deletion; `vault rm` deletes an item"
        ))
        .into());
    }
    if current.deleted {
        let uuid = vault.add(old.data.clone())?;
        let item = vault.get(uuid)?;
        ctx.out.data(&format!(
            "restored gen {n} of {name} as the new item {} (a deleted item's uuid stays deleted)",
            query::short(&item)
        ));
        ctx.out.json(&json!({
            "uuid": uuid.to_string(),
            "gencount": item.gencount,
            "restored_from": { "uuid": current.uuid.to_string(), "gen": n },
        }));
        return Ok(());
    }
    if old.data == current.data {
        ctx.out.note(&format!(
            "gen {n} of {name} equals the current version: no change"
        ));
        ctx.out.json(&json!({
            "uuid": current.uuid.to_string(),
            "gencount": current.gencount,
            "restored_from": { "uuid": current.uuid.to_string(), "gen": n },
            "changed": false,
        }));
        return Ok(());
    }
    let gencount = vault.update(current.uuid, old.data.clone())?;
    ctx.out
        .data(&format!("restored gen {n} of {name} as gen {gencount}"));
    ctx.out.json(&json!({
        "uuid": current.uuid.to_string(),
        "gencount": gencount,
        "restored_from": { "uuid": current.uuid.to_string(), "gen": n },
        "changed": true,
    }));
    Ok(())
}
