//! `vault peer invite` and `vault peer join`: the command line's face of
//! vault-client's pairing flows (`vault_client::pairing`: the protocol
//! steps, deadlines and test hooks live there). This module reads the
//! code, asks the person on the terminal (its [`PairingUi`]), prints the
//! outcome, and turns a [`PairingFlowError`] into the binary's error
//! with its exit code.

mod invite;
mod join;

pub use invite::invite;
pub use join::join;
pub use vault_client::pairing::LocalItems;

use crate::context::Ctx;
use crate::error::CliError;
use std::io::IsTerminal;
use vault_client::pairing::{PairingFlowError, PairingUi};

use super::server_session::cli_error;

/// Asks on the terminal whether the other device shows the same code.
fn confirm() -> anyhow::Result<bool> {
    eprint!("Does the other device show the same code? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// The invite code from standard input (its first line), or asked for on
/// the terminal without echo: a code given as an argument lands in the
/// shell's history.
pub fn read_code() -> anyhow::Result<String> {
    let code = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Invite code: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    };
    let code = code.trim().to_owned();
    if code.is_empty() {
        return Err(CliError::Usage("no invite code given".into()).into());
    }
    Ok(code)
}

/// The choice for a vault holding `count` items: the flag, else the
/// person's answer on a terminal; with neither, a usage error that says
/// how many and which flags.
fn local_items(
    ctx: &Ctx,
    count: u64,
    flag: Option<LocalItems>,
    can_ask: bool,
) -> anyhow::Result<LocalItems> {
    if count == 0 {
        return Ok(LocalItems::Merge);
    }
    if let Some(choice) = flag {
        return Ok(choice);
    }
    if can_ask && !ctx.out.json {
        eprint!(
            "This vault holds {count} items; joining shares them with every device of the circle. Share them? [y/N] "
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if matches!(line.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(LocalItems::Merge);
        }
    }
    Err(CliError::Usage(format!(
        "this vault holds {count} items, which joining would share with the circle: \
         pass --merge-local to share them, or --discard-local to drop them and take the circle's"
    ))
    .into())
}

/// A pairing failure for the binary edge: an invite gone is exit 9, what
/// the person gave or did is exit 2 (the same words), and the typed error
/// of a lower layer stays in the chain for its own code (error.rs).
fn flow_error(e: PairingFlowError) -> anyhow::Error {
    match e {
        PairingFlowError::BadTtl => {
            CliError::Usage("--ttl must be between 1s and 1h".into()).into()
        }
        e if e.is_invite() => CliError::Invite(e.to_string()).into(),
        e if e.is_usage() => CliError::Usage(e.to_string()).into(),
        PairingFlowError::NotJoinedNotRemoved { name, why, source } => {
            cli_error(*source).context(format!(
                "{name} did not finish joining ({why}), and removing it failed; \
                 the next command that reaches the server removes it"
            ))
        }
        PairingFlowError::Session(e) => cli_error(e),
        PairingFlowError::Client(e) => e.into(),
        PairingFlowError::Pairing(e) => e.into(),
        PairingFlowError::Circle(e) => e.into(),
        PairingFlowError::Sync(e) => e.into(),
        PairingFlowError::Item(e) => e.into(),
        other => other.into(),
    }
}

/// The terminal as a [`PairingUi`]: notes on standard error, the codes
/// confirmed with y/N when a person is there to answer.
struct Terminal<'a> {
    ctx: &'a Ctx,
    /// `--yes`, `--json` or no terminal: the codes count as confirmed.
    no_prompt: bool,
    /// The invite's code and ttl are printed by the command (stdout).
    on_code: &'a dyn Fn(&str, std::time::Duration),
    /// A prompt that could not be read: the error the command ends with.
    failed: std::cell::RefCell<Option<anyhow::Error>>,
}

impl PairingUi for Terminal<'_> {
    fn code(&self, code: &str, ttl: std::time::Duration) {
        (self.on_code)(code, ttl);
    }

    fn confirm_sas(&self, sas: &str, peer_name: &str, peer_short: &str) -> bool {
        self.ctx.out.note(&format!(
            "{peer_name} ({peer_short}) wants to join. Both screens must show: {sas}"
        ));
        if self.no_prompt {
            return true;
        }
        match confirm() {
            Ok(yes) => yes,
            Err(e) => {
                *self.failed.borrow_mut() = Some(e);
                false
            }
        }
    }

    fn show_sas(&self, sas: &str) {
        self.ctx.out.note(&format!("Both screens must show: {sas}"));
    }

    fn stalled(&self, step: &str) {
        eprintln!("vault: test hook: stalled {step}");
    }
}
