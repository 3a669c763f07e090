//! How `vault ls` and `vault search` lay out item summaries for a person:
//! columns aligned by display width (a CJK character or an emoji takes two
//! terminal cells, a combining accent none), flat or as a folder tree.

use crate::itemjson::class_name;
use std::collections::BTreeMap;
use unicode_width::UnicodeWidthStr;
use vault_core::item::ItemSummary;

/// The widest a name, account or label column grows; a longer value is
/// printed whole and pushes the rest of its own line right.
const MAX_WIDTH: usize = 40;

/// The heading of the items that are in no folder, last in a tree.
pub const NO_FOLDER: &str = "(no folder)";

/// One output line: a folder heading or an item row.
enum Line {
    Heading { depth: usize, name: String },
    Row { depth: usize, cells: Vec<String> },
}

/// One row per item: id, class, name, account, label and, if any item has
/// one, the folder.
pub fn flat(items: &[ItemSummary]) -> String {
    let with_folder = items.iter().any(|s| !s.folder.is_empty());
    let lines: Vec<Line> = items
        .iter()
        .map(|s| {
            let mut cells = cells(s);
            if with_folder {
                cells.push(s.folder.clone());
            }
            Line::Row { depth: 0, cells }
        })
        .collect();
    render(&lines)
}

/// The items under an indented folder tree: each folder's items, then its
/// subfolders, folders sorted without regard to case; the items in no
/// folder last, under [`NO_FOLDER`].
pub fn tree(items: &[ItemSummary]) -> String {
    /// A folder: its name as first spelled, its items, its subfolders by
    /// lowercased name (`Work` and `work` are one folder, as for `--folder`).
    #[derive(Default)]
    struct Node<'a> {
        name: String,
        items: Vec<&'a ItemSummary>,
        children: BTreeMap<String, Node<'a>>,
    }
    fn walk(node: &Node<'_>, depth: usize, lines: &mut Vec<Line>) {
        for s in &node.items {
            lines.push(Line::Row {
                depth,
                cells: cells(s),
            });
        }
        for child in node.children.values() {
            lines.push(Line::Heading {
                depth,
                name: format!("{}/", child.name),
            });
            walk(child, depth + 1, lines);
        }
    }
    let mut root = Node::default();
    let mut loose = Vec::new();
    for s in items {
        if s.folder.is_empty() {
            loose.push(s);
            continue;
        }
        let mut node = &mut root;
        for part in s.folder.split('/').filter(|p| !p.is_empty()) {
            node = node
                .children
                .entry(part.to_lowercase())
                .or_insert_with(|| Node {
                    name: part.to_owned(),
                    ..Node::default()
                });
        }
        node.items.push(s);
    }
    let mut lines = Vec::new();
    walk(&root, 0, &mut lines);
    if !loose.is_empty() {
        lines.push(Line::Heading {
            depth: 0,
            name: NO_FOLDER.to_owned(),
        });
        walk(
            &Node {
                items: loose,
                ..Node::default()
            },
            1,
            &mut lines,
        );
    }
    render(&lines)
}

fn cells(s: &ItemSummary) -> Vec<String> {
    let id = s.uuid.simple().to_string();
    vec![
        id[..8].to_owned(),
        class_name(s.class).to_owned(),
        s.name.clone(),
        s.account.clone(),
        s.label.clone(),
    ]
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

/// The lines, each row's cells padded to their column's display width (the
/// first column's after its indentation, so columns line up across a tree),
/// two spaces between columns, no trailing space.
fn render(lines: &[Line]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for line in lines {
        if let Line::Row { depth, cells } = line {
            for (i, cell) in cells.iter().enumerate() {
                let w = if i == 0 {
                    indent(*depth).len() + cell.width()
                } else {
                    cell.width().min(MAX_WIDTH)
                };
                if i == widths.len() {
                    widths.push(w);
                } else {
                    widths[i] = widths[i].max(w);
                }
            }
        }
    }
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Heading { depth, name } => {
                out.push_str(&indent(*depth));
                out.push_str(name);
            }
            Line::Row { depth, cells } => {
                let start = out.len();
                for (i, cell) in cells.iter().enumerate() {
                    let text = if i == 0 {
                        indent(*depth) + cell
                    } else {
                        out.push_str("  ");
                        cell.clone()
                    };
                    let pad = widths[i].saturating_sub(text.width());
                    out.push_str(&text);
                    out.extend(std::iter::repeat_n(' ', pad));
                }
                out.truncate(start + out[start..].trim_end().len());
            }
        }
        out.push('\n');
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;
    use vault_core::item::ItemClass;

    fn item(n: u128, name: &str, account: &str, label: &str, folder: &str) -> ItemSummary {
        ItemSummary {
            uuid: Uuid::from_u128(n << 96),
            class: ItemClass::Inet,
            name: name.into(),
            account: account.into(),
            label: label.into(),
            folder: folder.into(),
            modified_ms: 0,
        }
    }

    /// The display column where `needle` starts on each line that has it.
    fn columns_of(text: &str, needle: &str) -> Vec<usize> {
        text.lines()
            .filter_map(|l| l.find(needle).map(|i| l[..i].width()))
            .collect()
    }

    #[test]
    fn columns_align_by_display_width() {
        let items = [
            item(1, "日本語.jp", "ユーザー", "L1", ""),
            item(2, "a.example", "bob", "L2", ""),
            item(3, "e\u{301}cole.fr", "zz", "L3", ""),
        ];
        let text = flat(&items);
        assert_eq!(columns_of(&text, "L"), [37, 37, 37], "{text}");
        // The account column starts at one place too.
        let acc: Vec<usize> = ["ユーザー", "bob", "zz"]
            .iter()
            .flat_map(|a| columns_of(&text, a))
            .collect();
        assert_eq!(acc, [27, 27, 27], "{text}");
        assert!(text.lines().all(|l| l == l.trim_end()), "{text:?}");
        assert!(!text.contains("Work"));
    }

    #[test]
    fn a_folder_column_appears_when_an_item_has_one() {
        let items = [item(1, "a", "u", "", "Work"), item(2, "b", "v", "", "")];
        let text = flat(&items);
        assert_eq!(
            text.lines().next().unwrap().split_whitespace().last(),
            Some("Work")
        );
        assert!(text.lines().nth(1).unwrap().ends_with('v'), "{text}");
    }

    #[test]
    fn a_tree_nests_folders_and_ends_with_the_loose_items() {
        let items = [
            item(1, "mail.example", "alice", "", "Work/Email"),
            item(2, "git.example", "bob", "", "Work"),
            item(3, "wifi", "home", "", ""),
            item(4, "bank.example", "carol", "", "personal"),
            item(5, "old.example", "dave", "", "work/email"),
        ];
        let text = tree(&items);
        let want = "\
personal/
  00000004    inet  bank.example  carol
Work/
  00000002    inet  git.example   bob
  Email/
    00000001  inet  mail.example  alice
    00000005  inet  old.example   dave
(no folder)
  00000003    inet  wifi          home";
        assert_eq!(text, want);
        assert_eq!(tree(&[]), "");
    }
}
