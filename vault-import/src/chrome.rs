//! Chrome's password export (Password Manager > Settings > Export
//! passwords), also written by Edge, Brave and other Chromium browsers.
//!
//! The header is `name,url,username,password,note`; older versions
//! have no `note` column. `name`, `url`, `username` and
//! `password` are required. Chrome's `name` is usually the site's host; it
//! becomes the label. Android app logins have URLs like
//! `android://<hash>@com.example.app/`, whose host (the package name) is
//! the server.

use crate::csvmap::Table;
use crate::entry::Entry;
use crate::{Format, ImportError};
use vault_core::item::ItemData;

const FORMAT: Format = Format::ChromeCsv;

/// Parses the text of a Chrome CSV export.
pub(crate) fn parse(text: &str) -> Result<Vec<ItemData>, ImportError> {
    let mut table = Table::open(FORMAT, text)?;
    let name = table.required("name")?;
    let url = table.required("url")?;
    let username = table.required("username")?;
    let password = table.required("password")?;
    let note = table.optional("note");

    let mut items = Vec::new();
    while let Some(row) = table.next_row()? {
        let entry = Entry {
            title: row.get(name).to_owned(),
            username: row.get(username).to_owned(),
            password: row.get(password).into(),
            notes: row.get(note).into(),
            urls: vec![row.get(url).to_owned()],
            ..Entry::default()
        };
        items.push(entry.into_item());
    }
    Ok(items)
}
