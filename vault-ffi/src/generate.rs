//! Random passwords and passphrases for new items (vault-core's
//! generator: uniform draws from the OS random source).

use crate::error::VaultError;

/// What `generate_password` draws.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PasswordOptions {
    /// Characters of a password (ignored for a passphrase).
    #[uniffi(default = 20)]
    pub length: u32,
    /// Whether a password includes symbols (`!#$%&*+-.:;=?@^_~`).
    #[uniffi(default = true)]
    pub symbols: bool,
    /// Draw a passphrase of this many EFF long-list words instead.
    #[uniffi(default = None)]
    pub words: Option<u32>,
}

/// A password of `length` characters with a lower-case letter, an
/// upper-case letter, a digit and (unless `symbols` is false) a symbol;
/// or, with `words`, a passphrase of dash-joined words.
#[uniffi::export]
pub fn generate_password(options: PasswordOptions) -> Result<String, VaultError> {
    let secret = match options.words {
        Some(w) => vault_core::generate::passphrase(w as usize)?,
        None => vault_core::generate::password(options.length as usize, options.symbols)?,
    };
    Ok(secret.expose().to_owned())
}
