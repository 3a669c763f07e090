//! The errors a person can act on, each with its exit code.

use std::path::PathBuf;

/// A failure the CLI explains in one line and maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The vault file does not exist.
    #[error("no vault at {0} (create one with `vault init`, or pass --vault)")]
    NoVault(PathBuf),
    /// The master password was wrong.
    #[error("wrong password")]
    WrongPassword,
    /// An encrypted export did not open with the export password given.
    #[error("wrong export password, or the export file was altered")]
    WrongExportPassword,
    /// No password source and no terminal to ask on.
    #[error("no master password: run `vault unlock`, or set VAULT_PASSWORD_FILE or VAULT_PASSWORD")]
    NoPassword,
    /// No item matches the query.
    #[error("no item matches {0:?}")]
    NotFound(String),
    /// Several items match the query.
    #[error("{query:?} matches {count} items: {list}; give a longer uuid prefix or --account")]
    Ambiguous {
        /// What was asked.
        query: String,
        /// How many matched.
        count: usize,
        /// Their short ids and names.
        list: String,
    },
    /// The server refuses this device: it is not a current member.
    #[error("the server refuses this device: it is not a member of the circle (was it removed?)")]
    NotMember,
    /// A flag that makes no sense for this item or input.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code (documented in `vault --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::WrongPassword | CliError::WrongExportPassword | CliError::NoPassword => 3,
            CliError::NoVault(_) | CliError::NotFound(_) => 4,
            CliError::Ambiguous { .. } => 5,
            CliError::NotMember => 6,
        }
    }
}

/// The exit code for any error: ours, vault-core's, or 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    use vault_core::error::{ItemError, KeyChangeError, UnlockError};
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            return e.exit_code();
        }
        if let Some(UnlockError::WrongPassword) = cause.downcast_ref::<UnlockError>() {
            return 3;
        }
        if let Some(KeyChangeError::WrongPassword) = cause.downcast_ref::<KeyChangeError>() {
            return 3;
        }
        if let Some(ItemError::NotFound(_)) = cause.downcast_ref::<ItemError>() {
            return 4;
        }
    }
    1
}
