//! `vault peer invite` and `vault peer join`: pairing a new device over a
//! session the server relays but cannot read. The protocol itself (invite
//! secret, transcript, directional keys, SAS, the joiner's confirmation)
//! is vault-core's `circle::pairing`; this module moves its messages,
//! keeps every wait under a deadline, and talks to people.
//!
//! Every wait ends: a step the other side's software answers by itself
//! waits [`REPLY_TIMEOUT`], the joiner waiting for the welcome (a person
//! compares the codes) waits [`SAS_TIMEOUT`], and the inviter waits
//! [`CONFIRM_TIMEOUT`] for the joiner's confirmation once the welcome is
//! sent. An add the joiner does not confirm (it refused the circle, was
//! killed, or the relay went away) is removed again by the inviter, or,
//! if the inviter was killed too, by its next command that reaches the
//! server (vault-client's `pending`, `server_session`).

mod hooks;
mod invite;
mod join;

pub use invite::invite;
pub use join::join;

use crate::context::Ctx;
use crate::error::CliError;
use std::io::IsTerminal;
use std::time::Duration;

/// How long the joiner waits for the welcome: the inviter's person is
/// comparing the short authentication string before answering.
const SAS_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a side waits for a message the other side's software sends
/// without a person in between: the inviter's hello, the joiner's proof,
/// the anchor after the welcome. Each is posted within milliseconds of
/// the message before it; 30 s also covers a slow link and a request
/// retried once.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the inviter waits, after sending the welcome, for the
/// joiner's confirmation before it removes the peer again. The joiner
/// only authenticates, reads and verifies the log and stores the join
/// (three requests and well under a second of work on an ordinary link):
/// a minute leaves room for a slow link and a retried request without
/// leaving the person at the inviter waiting long on a vanished device.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the joiner may take from the welcome to storing the join.
/// Past it, it rejects instead of joining, so it never joins after the
/// inviter gave up: the 20 s short of [`CONFIRM_TIMEOUT`] cover the
/// relay's delivery of the welcome and of the confirmation.
const JOIN_BUDGET: Duration = Duration::from_secs(40);

fn confirm() -> anyhow::Result<bool> {
    eprint!("Does the other device show the same code? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
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

/// What becomes of the items a joining vault already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalItems {
    /// Shared with the circle.
    Merge,
    /// Dropped once joined (they were never sent anywhere).
    Discard,
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
