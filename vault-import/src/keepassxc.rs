//! KeePassXC's CSV export (Database > Export > CSV File).
//!
//! The header is `"Group","Title","Username","Password","URL","Notes",
//! "TOTP","Icon","Last Modified","Created"`; versions before 2.6 write only
//! the first six columns, which is read the same way (no TOTP). `Title`,
//! `Username`, `Password` and `URL` are required; `Group`, `Notes` and
//! `TOTP` are read when present.
//!
//! - `Group` is the entry's full group path as KeePassXC writes it,
//!   starting with the root group's name, whatever it is called
//!   (`Root/Work/Email`, or `Passwords/Work/Email` in a database whose
//!   root was renamed). The first name is dropped and the rest becomes the
//!   item's folder (`Work/Email`); an entry of the root group itself has
//!   no folder. Only the CSV export is read: KeePassXC's XML export is not
//!   an import format.
//! - `TOTP` is an `otpauth://` URI (or a bare seed) and is kept as given.
//! - `Icon`, `Last Modified` and `Created` are ignored: an item's times are
//!   those of its import.

use crate::csvmap::Table;
use crate::entry::Entry;
use crate::{Format, ImportError};
use vault_core::item::{ItemData, folder_path};

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
        let entry = Entry {
            title: row.get(title).to_owned(),
            username: row.get(username).to_owned(),
            password: row.get(password).into(),
            notes: row.get(notes).into(),
            totp: row.get(totp).into(),
            urls: vec![row.get(url).to_owned()],
            fields: Vec::new(),
            folder: below_root(row.get(group)),
        };
        items.push(entry.into_item());
    }
    Ok(items)
}

/// A KeePassXC group path without its first name, the root group's.
fn below_root(group: &str) -> String {
    let path = folder_path(group);
    match path.split_once('/') {
        Some((_root, rest)) => rest.to_owned(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::below_root;

    #[test]
    fn the_root_group_is_not_a_folder() {
        assert_eq!(below_root("Root/Work/Email"), "Work/Email");
        assert_eq!(below_root("Passwords/Work"), "Work");
        assert_eq!(below_root("Root"), "");
        assert_eq!(below_root(""), "");
        assert_eq!(below_root("Root//Dev/ Mobile /"), "Dev/Mobile");
    }
}
