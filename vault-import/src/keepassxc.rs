//! KeePassXC's CSV export (Database > Export > CSV File).
//!
//! The header is `"Group","Title","Username","Password","URL","Notes",
//! "TOTP","Icon","Last Modified","Created"`; versions before 2.6 write only
//! the first six columns, which is read the same way (no TOTP). `Title`,
//! `Username`, `Password` and `URL` are required; `Group`, `Notes` and
//! `TOTP` are read when present.
//!
//! - `Group` is the entry's full group path as KeePassXC writes it,
//!   including the root group's name (`Root/Email`), and is stored as
//!   written in the custom field `folder`, so that no information depends
//!   on guessing what the root group is called.
//! - `TOTP` is an `otpauth://` URI (or a bare seed) and is kept as given.
//! - `Icon`, `Last Modified` and `Created` are ignored: an item's times are
//!   those of its import.

use crate::csvmap::Table;
use crate::entry::Entry;
use crate::{Format, ImportError};
use vault_core::item::ItemData;

const FORMAT: Format = Format::KeepassxcCsv;

/// Parses the text of a KeePassXC CSV export.
pub(crate) fn parse(text: &str) -> Result<Vec<ItemData>, ImportError> {
    let mut table = Table::open(FORMAT, text)?;
    let title = table.required("Title")?;
    let username = table.required("Username")?;
    let password = table.required("Password")?;
    let url = table.required("URL")?;
    let group = table.optional("Group");
    let notes = table.optional("Notes");
    let totp = table.optional("TOTP");

    let mut items = Vec::new();
    while let Some(row) = table.next_row()? {
        let mut entry = Entry {
            title: row.get(title).to_owned(),
            username: row.get(username).to_owned(),
            password: row.get(password).into(),
            notes: row.get(notes).into(),
            totp: row.get(totp).into(),
            urls: vec![row.get(url).to_owned()],
            fields: Vec::new(),
        };
        entry.field("folder", row.get(group));
        items.push(entry.into_item());
    }
    Ok(items)
}
