//! Reads other password managers' export files into vault items.
//!
//! [`parse`] turns one export file into [`ItemData`] values, ready for
//! `Vault::add`. Every format follows the same mapping:
//!
//! - A record with a URL that has a host becomes an
//!   [`InternetPassword`](vault_core::item::InternetPassword): `server` is
//!   the host (lowercased; international names in their `xn--` form),
//!   `protocol` the scheme, `port` an explicit non-default port, `path` the
//!   URL's path unless it is `""` or `/`, and `uris` every URL of the record
//!   as written. A URL without a scheme (`example.com/login`) is read as
//!   `https://`.
//! - Any other record becomes a
//!   [`GenericPassword`](vault_core::item::GenericPassword) whose `service`
//!   is the title (or, if that is empty, the URL text, or `(untitled)`). A
//!   generic password has no TOTP or URI attributes, so a TOTP goes into a
//!   hidden custom field `totp` and each URL that has no host into a
//!   custom field `url`.
//! - Folders and groups become the item's folder, a `/`-separated path
//!   in [`folder_path`](vault_core::item::folder_path)'s form (Bitwarden's
//!   folder name, KeePassXC's group path below the root group, 1Password's
//!   first tag). 1Password tags are also kept as written in a custom field
//!   `tags`, and set flags become `favorite` / `archived` = `true`. Empty
//!   values make no field.
//! - Rows whose fields are all empty are skipped; every other record
//!   becomes an item or an error.
//!
//! Errors name the format and the line (CSV), line and column (JSON
//! syntax) or item index (JSON content), never a value from the file.
//!
//! ```
//! use vault_import::{Format, parse};
//! use vault_core::item::ItemData;
//!
//! let csv = "name,url,username,password\n\
//!            example,https://example.com:8443/login,alice,hunter2\n";
//! let items = parse(Format::ChromeCsv, csv.as_bytes())?;
//! let ItemData::Inet(inet) = &items[0] else { panic!("not an internet password") };
//! assert_eq!(inet.server, "example.com");
//! assert_eq!(inet.port, Some(8443));
//! assert_eq!(inet.path, "/login");
//! assert_eq!(inet.password.expose(), "hunter2");
//! # Ok::<(), vault_import::ImportError>(())
//! ```

mod bitwarden;
mod chrome;
mod csvmap;
mod entry;
mod error;
mod keepassxc;
mod onepassword;
mod site;

pub use error::ImportError;

use vault_core::item::ItemData;

/// An export format this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Bitwarden's unencrypted JSON export (`bw export --format json`),
    /// personal or organization.
    BitwardenJson,
    /// KeePassXC's CSV export (Database > Export > CSV File).
    KeepassxcCsv,
    /// 1Password 8's CSV export (File > Export > CSV).
    OnePasswordCsv,
    /// Chrome's password export (Password Manager > Settings > Export).
    ChromeCsv,
}

impl Format {
    /// Every format, in the order of [`Format::name`]'s documentation.
    pub const ALL: [Format; 4] = [
        Format::BitwardenJson,
        Format::KeepassxcCsv,
        Format::OnePasswordCsv,
        Format::ChromeCsv,
    ];

    /// The format's name: `bitwarden-json`, `keepassxc-csv`,
    /// `1password-csv` or `chrome-csv`.
    pub fn name(self) -> &'static str {
        match self {
            Format::BitwardenJson => "bitwarden-json",
            Format::KeepassxcCsv => "keepassxc-csv",
            Format::OnePasswordCsv => "1password-csv",
            Format::ChromeCsv => "chrome-csv",
        }
    }

    /// The format with this [`Format::name`], if any.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses an export file in `format` into items, in the file's order.
///
/// A leading UTF-8 byte-order mark is ignored. The first problem found
/// stops the import: nothing is returned for a file that is partly bad.
pub fn parse(format: Format, input: &[u8]) -> Result<Vec<ItemData>, ImportError> {
    let text = error::utf8(format, input)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ImportError::Empty { format });
    }
    match format {
        Format::BitwardenJson => bitwarden::parse(text),
        Format::KeepassxcCsv => keepassxc::parse(text),
        Format::OnePasswordCsv => onepassword::parse(text),
        Format::ChromeCsv => chrome::parse(text),
    }
}
