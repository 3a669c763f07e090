//! The errors a person can act on, each with its exit code.

use std::path::PathBuf;
use vault_core::sync::{QuarantineError, SyncError, TransportError};

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
    /// `vault passwd` needs the current password, which the agent cannot give.
    #[error(
        "changing the master password needs the current one, which the agent cannot give: set VAULT_PASSWORD_FILE or VAULT_PASSWORD, or run on a terminal"
    )]
    NoCurrentPassword,
    /// No password source and no terminal to ask on.
    #[error("no master password: run `vault unlock`, or set VAULT_PASSWORD_FILE or VAULT_PASSWORD")]
    NoPassword,
    /// No item (peer, quarantined record) matches the query.
    #[error("no {what} matches {query:?}{hint}")]
    NotFound {
        /// What was looked for: "item", "peer", ...
        what: &'static str,
        /// What was asked.
        query: String,
        /// Where to look instead, if anywhere.
        hint: &'static str,
    },
    /// Several items (peers, records) match the query.
    #[error("{query:?} matches {count} {what}s: {list}; {advice}")]
    Ambiguous {
        /// What was looked for: "item", "peer", ...
        what: &'static str,
        /// What was asked.
        query: String,
        /// How many matched.
        count: usize,
        /// Their short ids and names.
        list: String,
        /// What picks one, in the command that was run.
        advice: &'static str,
    },
    /// The server refuses this device: it is not a current member.
    #[error("the server refuses this device: it is not a member of the circle (was it removed?)")]
    NotMember,
    /// A flag that makes no sense for this item or input.
    #[error("{0}")]
    Usage(String),
    /// A pairing's invite expired, was used already, or is unknown.
    #[error("{0}")]
    Invite(String),
}

/// A TOTP seed that gives no code is a usage error: the value given (or
/// stored) is wrong, and the message never quotes it.
impl From<vault_core::item::totp::TotpError> for CliError {
    fn from(e: vault_core::item::totp::TotpError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl CliError {
    /// No item matches `query`.
    pub fn no_item(query: &str) -> Self {
        CliError::NotFound {
            what: "item",
            query: query.to_owned(),
            hint: "; try `vault search TEXT` to look through every item",
        }
    }

    /// Nothing of the kind `what` matches `query`.
    pub fn no_such(what: &'static str, query: &str) -> Self {
        CliError::NotFound {
            what,
            query: query.to_owned(),
            hint: "",
        }
    }

    /// The process exit code (documented in `vault --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::WrongPassword
            | CliError::WrongExportPassword
            | CliError::NoPassword
            | CliError::NoCurrentPassword => 3,
            CliError::NoVault(_) | CliError::NotFound { .. } => 4,
            CliError::Ambiguous { .. } => 5,
            CliError::NotMember => 6,
            CliError::Invite(_) => 9,
        }
    }
}

/// Every exit code, with the name `--json` gives it (`{"error":{"code"}}`).
pub const EXIT_CODES: [(u8, &str, &str); 10] = [
    (0, "ok", "success"),
    (1, "error", "any other failure"),
    (
        2,
        "usage",
        "bad usage: a wrong flag or value, or a quarantine decision refused",
    ),
    (3, "password", "wrong password, or no password source"),
    (
        4,
        "not_found",
        "no such item, peer, vault or quarantined record",
    ),
    (5, "ambiguous", "the query matches several items or peers"),
    (
        6,
        "not_member",
        "the server refuses this device (not a circle member)",
    ),
    (
        7,
        "server_failed_verification",
        "the sync server failed verification (withheld, altered or injected records, or a circle log that disagrees)",
    ),
    (8, "unreachable", "the server could not be reached"),
    (
        9,
        "invite",
        "the invite expired, was used already, or is unknown",
    ),
];

/// The `--json` name of an exit code.
pub fn code_name(code: u8) -> &'static str {
    EXIT_CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or("error", |(_, name, _)| name)
}

/// The exit-code table `vault --help` ends with.
pub fn exit_code_table() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, _, what) in EXIT_CODES {
        s.push_str(&format!("  {code}  {what}\n"));
    }
    s
}

/// The exit code of a sync failure, if it has its own: 6 when the server
/// refuses this device, 7 when the server fails verification (its zone
/// disagrees with what this device or a current member signed).
pub fn sync_exit_code(err: &SyncError) -> Option<u8> {
    match err {
        SyncError::NotMember | SyncError::Transport(TransportError::NotMember) => Some(6),
        SyncError::Zone(_) => Some(7),
        SyncError::NoCircle => Some(2),
        _ => None,
    }
}

/// The exit code for any error: ours, vault-core's, or 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    use vault_core::circle::ChainError;
    use vault_core::error::{CircleError, ItemError, KeyChangeError, UnlockError};
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            return e.exit_code();
        }
        if let Some(code) = cause.downcast_ref::<SyncError>().and_then(sync_exit_code) {
            return code;
        }
        if let Some(TransportError::NotMember) = cause.downcast_ref::<TransportError>() {
            return 6;
        }
        // The transport's `Unreachable` wraps any client failure (a
        // redirect, an answer past its cap); only a connection that was not
        // made or broke is exit 8.
        if let Some(vault_client::ClientError::Unreachable { .. }) =
            cause.downcast_ref::<vault_client::ClientError>()
        {
            return 8;
        }
        if let Some(CircleError::Chain(ChainError::Truncated { .. } | ChainError::Fork { .. })) =
            cause.downcast_ref::<CircleError>()
        {
            return 7;
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
        if let Some(e) = cause.downcast_ref::<QuarantineError>() {
            match e {
                QuarantineError::NotFound(_) => return 4,
                QuarantineError::Decided { .. } | QuarantineError::NotAcceptable { .. } => {
                    return 2;
                }
                QuarantineError::Sync(e) => {
                    if let Some(code) = sync_exit_code(e) {
                        return code;
                    }
                }
            }
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault_core::sync::{Decision, RecordError, ZoneError};

    #[test]
    fn quarantine_errors_have_their_codes() {
        let uuid = uuid::Uuid::nil();
        let code = |e: QuarantineError| exit_code(&e.into());
        assert_eq!(code(QuarantineError::NotFound(uuid)), 4);
        let decided = QuarantineError::Decided {
            uuid,
            decision: Decision::Dropped,
        };
        assert_eq!(code(decided), 2);
        let refused = QuarantineError::NotAcceptable {
            uuid,
            fault: RecordError::BadSignature,
        };
        assert_eq!(code(refused), 2);
        assert_eq!(code(QuarantineError::Sync(SyncError::NotMember)), 6);
        assert_eq!(code(QuarantineError::Sync(SyncError::Unsettled(1))), 1);
    }

    #[test]
    fn sync_errors_have_their_codes() {
        let zone = anyhow::Error::from(SyncError::Zone(ZoneError::Diverged {
            missing: 1,
            unexpected: 0,
        }))
        .context("the sync server failed verification");
        assert_eq!(exit_code(&zone), 7);
        assert_eq!(exit_code(&SyncError::NotMember.into()), 6);
        let refused = SyncError::Transport(TransportError::NotMember);
        assert_eq!(exit_code(&refused.into()), 6);
        assert_eq!(exit_code(&TransportError::NotMember.into()), 6);
        assert_eq!(exit_code(&SyncError::Unsettled(16).into()), 1);
        let down = TransportError::Status {
            status: 500,
            code: "internal".into(),
        };
        assert_eq!(exit_code(&SyncError::Transport(down).into()), 1);
    }
}
