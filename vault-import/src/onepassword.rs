//! 1Password 8's CSV export (File > Export > CSV).
//!
//! The header is `Title,Url,Username,Password,OTPAuth,Favorite,Archived,
//! Tags,Notes`. `Title`, `Username` and `Password` are required; the others
//! are read when present. `OTPAuth` is kept as given. `Favorite` and
//! `Archived` are `true`/`false` (any case; empty is false) and become the
//! custom fields `favorite` / `archived` = `true` when set. `Tags` is
//! stored as written in the custom field `tags`, and its first tag (tags
//! are separated by commas; 1Password nests them as `Work/Email`) becomes
//! the item's folder: the CSV export carries neither the vault nor any
//! folder, and a nested tag is 1Password's nearest thing to one.

use crate::csvmap::Table;
use crate::entry::Entry;
use crate::{Format, ImportError};
use vault_core::item::{ItemData, folder_path};

const FORMAT: Format = Format::OnePasswordCsv;

/// Parses the text of a 1Password CSV export.
pub(crate) fn parse(text: &str) -> Result<Vec<ItemData>, ImportError> {
    let mut table = Table::open(FORMAT, text)?;
    let title = table.required("Title")?;
    let username = table.required("Username")?;
    let password = table.required("Password")?;
    let url = table.optional("Url");
    let otp = table.optional("OTPAuth");
    let favorite = table.optional("Favorite");
    let archived = table.optional("Archived");
    let tags = table.optional("Tags");
    let notes = table.optional("Notes");

    let mut items = Vec::new();
    while let Some(row) = table.next_row()? {
        let mut entry = Entry {
            title: row.get(title).to_owned(),
            username: row.get(username).to_owned(),
            password: row.get(password).into(),
            notes: row.get(notes).into(),
            totp: row.get(otp).into(),
            urls: vec![row.get(url).to_owned()],
            fields: Vec::new(),
            folder: first_tag(row.get(tags)),
        };
        entry.field("tags", row.get(tags));
        entry.flag("favorite", row.flag(FORMAT, favorite, "Favorite")?);
        entry.flag("archived", row.flag(FORMAT, archived, "Archived")?);
        items.push(entry.into_item());
    }
    Ok(items)
}

/// The folder a `Tags` cell gives: its first non-empty tag.
fn first_tag(tags: &str) -> String {
    tags.split(',')
        .map(folder_path)
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::first_tag;

    #[test]
    fn the_first_tag_is_the_folder() {
        assert_eq!(first_tag("cloud,personal"), "cloud");
        assert_eq!(first_tag(" , Work/Email ,x"), "Work/Email");
        assert_eq!(first_tag(""), "");
    }
}
