//! 1Password 8's CSV export (File > Export > CSV).
//!
//! The header is `Title,Url,Username,Password,OTPAuth,Favorite,Archived,
//! Tags,Notes`. `Title`, `Username` and `Password` are required; the others
//! are read when present. `OTPAuth` is kept as given. `Favorite` and
//! `Archived` are `true`/`false` (any case; empty is false) and become the
//! custom fields `favorite` / `archived` = `true` when set. `Tags` is
//! stored as written in the custom field `tags`.

use crate::csvmap::Table;
use crate::entry::Entry;
use crate::{Format, ImportError};
use vault_core::item::ItemData;

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
        };
        entry.field("tags", row.get(tags));
        entry.flag("favorite", row.flag(FORMAT, favorite, "Favorite")?);
        entry.flag("archived", row.flag(FORMAT, archived, "Archived")?);
        items.push(entry.into_item());
    }
    Ok(items)
}
