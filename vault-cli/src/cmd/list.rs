//! `vault ls` and `vault search`: item summaries, never secrets.

mod layout;

use crate::context::Ctx;
use crate::itemjson::class_name;
use crate::output::rfc3339;
use serde_json::json;
use vault_core::item::{ItemClass, ItemSummary, folder_path};

/// `vault ls`'s flags.
#[derive(clap::Args)]
pub struct LsArgs {
    /// Only this class
    #[arg(long, value_enum)]
    class: Option<crate::query::ClassArg>,
    /// Only the items in this folder and its subfolders (case-insensitive;
    /// "" for the items in no folder)
    #[arg(long, value_name = "PATH")]
    folder: Option<String>,
    /// Group the items under an indented folder tree
    #[arg(long)]
    tree: bool,
}

/// `vault search`'s arguments.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// The text to look for (case-insensitive)
    text: String,
}

pub fn ls(ctx: &Ctx, args: LsArgs) -> anyhow::Result<()> {
    let class = args.class.map(ItemClass::from);
    let mut vault = ctx.unlock()?;
    let mut items = vault.list(class)?;
    if let Some(folder) = &args.folder {
        let want = folder_path(folder).to_lowercase();
        items.retain(|s| in_folder(&s.folder, &want));
    }
    print(ctx, &items, args.tree);
    report_damaged(&mut vault)
}

pub fn search(ctx: &Ctx, args: SearchArgs) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    let items = vault.search(&args.text)?;
    print(ctx, &items, false);
    report_damaged(&mut vault)
}

/// Whether `folder` is `want` (lowercased, in stored form) or below it,
/// ignoring case: `Work` holds `work` and `Work/Email`, not `Workshop`.
/// An empty `want` holds only the items in no folder.
fn in_folder(folder: &str, want: &str) -> bool {
    if want.is_empty() {
        return folder.is_empty();
    }
    let folder = folder.to_lowercase();
    folder
        .strip_prefix(want)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn print(ctx: &Ctx, items: &[ItemSummary], tree: bool) {
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
                    "folder": s.folder,
                    "modified": rfc3339(s.modified_ms),
                })
            })
            .collect();
        ctx.out.json(&json!(list));
        return;
    }
    let text = if tree {
        layout::tree(items)
    } else {
        layout::flat(items)
    };
    if !text.is_empty() {
        ctx.out.data(&text);
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

#[cfg(test)]
mod tests {
    use super::in_folder;

    #[test]
    fn a_folder_holds_its_subfolders_whatever_the_case() {
        assert!(in_folder("Work", "work"));
        assert!(in_folder("work/Email", "work"));
        assert!(in_folder("Work/Email/Old", "work/email"));
        assert!(!in_folder("Workshop", "work"));
        assert!(!in_folder("Home/Work", "work"));
        assert!(!in_folder("", "work"));
        assert!(in_folder("", ""));
        assert!(!in_folder("Work", ""));
    }
}
