//! `vault ls` and `vault search`: item summaries, never secrets.

use crate::context::Ctx;
use crate::itemjson::class_name;
use crate::output::rfc3339;
use serde_json::json;
use vault_core::item::{ItemClass, ItemSummary};

/// `vault ls`'s flags.
#[derive(clap::Args)]
pub struct LsArgs {
    /// Only this class
    #[arg(long, value_enum)]
    class: Option<ClassArg>,
}

/// `vault search`'s arguments.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// The text to look for (case-insensitive)
    text: String,
}

/// The item classes `vault ls --class` filters by.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ClassArg {
    Inet,
    Genp,
    Key,
}

pub fn ls(ctx: &Ctx, args: LsArgs) -> anyhow::Result<()> {
    let class = args.class.map(|c| match c {
        ClassArg::Inet => ItemClass::Inet,
        ClassArg::Genp => ItemClass::Genp,
        ClassArg::Key => ItemClass::Keys,
    });
    let mut vault = ctx.unlock()?;
    let items = vault.list(class)?;
    print(ctx, &items);
    report_damaged(&mut vault)
}

pub fn search(ctx: &Ctx, args: SearchArgs) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    let items = vault.search(&args.text)?;
    print(ctx, &items);
    report_damaged(&mut vault)
}

fn print(ctx: &Ctx, items: &[ItemSummary]) {
    if ctx.out.json {
        let list: Vec<_> = items
            .iter()
            .map(|s| {
                json!({
                    "uuid": s.uuid.to_string(),
                    "class": class_name(s.class),
                    "name": s.name,
                    "account": s.account,
                    "label": s.label,
                    "modified": rfc3339(s.modified_ms),
                })
            })
            .collect();
        ctx.out.json(&json!(list));
        return;
    }
    let width = items
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    let mut lines = String::new();
    for s in items {
        let id = s.uuid.simple().to_string();
        let line = format!(
            "{}  {:<4}  {:<width$}  {}  {}",
            &id[..8],
            class_name(s.class),
            s.name,
            s.account,
            s.label
        );
        lines.push_str(line.trim_end());
        lines.push('\n');
    }
    if !lines.is_empty() {
        lines.pop();
        ctx.out.data(&lines);
    }
}

fn report_damaged(vault: &mut vault_core::UnlockedVault) -> anyhow::Result<()> {
    let damaged = vault.damaged_items()?;
    if !damaged.is_empty() {
        eprintln!(
            "warning: {} item(s) did not decrypt and are not listed; `vault get UUID` says why: {}",
            damaged.len(),
            damaged
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
