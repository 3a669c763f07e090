//! `vault restore`: an earlier version of an item (a `gen` that `vault
//! history` lists) written back as a new version, which syncs like any
//! edit. A deleted item (named by its full uuid) comes back as a new item:
//! vault-core writes no version over a deletion's tombstone.

use super::history;
use crate::context::Ctx;
use crate::error::CliError;
use crate::query::{self, QueryArgs};
use serde_json::json;
use vault_core::RestoreError;

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
    let restored = vault.restore(current.uuid, n).map_err(|e| match e {
        RestoreError::Current(_) => CliError::Usage(format!(
            "gen {n} is the current version of {name}: nothing to restore"
        ))
        .into(),
        RestoreError::NoSuchVersion { kept, .. } => {
            let kept: Vec<String> = kept.iter().map(u64::to_string).collect();
            CliError::Usage(format!(
                "{name} has no gen {n} in its history (kept: {})",
                if kept.is_empty() {
                    "none".to_owned()
                } else {
                    kept.join(", ")
                }
            ))
            .into()
        }
        RestoreError::Deletion(_) => CliError::Usage(format!(
            "gen {n} of {name} is a deletion; `vault rm` deletes an item"
        ))
        .into(),
        RestoreError::Item(e) => anyhow::Error::from(e),
    })?;
    let from = json!({ "uuid": current.uuid.to_string(), "gen": n });
    if restored.new_item {
        let item = vault.get(restored.uuid)?;
        ctx.out.data(&format!(
            "restored gen {n} of {name} as the new item {} (a deleted item's uuid stays deleted)",
            query::short(&item)
        ));
        ctx.out.json(&json!({
            "uuid": restored.uuid.to_string(),
            "gencount": restored.gencount,
            "restored_from": from,
        }));
        return Ok(());
    }
    if restored.changed {
        ctx.out.data(&format!(
            "restored gen {n} of {name} as gen {}",
            restored.gencount
        ));
    } else {
        ctx.out.note(&format!(
            "gen {n} of {name} equals the current version: no change"
        ));
    }
    ctx.out.json(&json!({
        "uuid": restored.uuid.to_string(),
        "gencount": restored.gencount,
        "restored_from": from,
        "changed": restored.changed,
    }));
    Ok(())
}
