//! Pairing a new device over a session the server relays but cannot
//! read, as any front end drives it: [`invite`] on a member, [`join`] on
//! the new device. The protocol itself (invite secret, transcript,
//! directional keys, SAS, the joiner's confirmation) is vault-core's
//! `circle::pairing`; this module moves its messages over the relay
//! ([`crate::relay`]), keeps every wait under a deadline, and asks the
//! front end's person through [`PairingUi`].
//!
//! Every wait ends: a step the other side's software answers by itself
//! waits [`REPLY_TIMEOUT`], the joiner waiting for the welcome (a person
//! compares the codes) waits [`SAS_TIMEOUT`], and the inviter waits
//! [`CONFIRM_TIMEOUT`] for the joiner's confirmation once the welcome is
//! sent. An add the joiner does not confirm (it refused the circle, was
//! killed, or the relay went away) is removed again by the inviter, or,
//! if the inviter was killed too, by its next connection to the server
//! ([`crate::pending`]).

mod error;
mod hooks;
mod invite;
mod join;

pub use error::PairingFlowError;
pub use invite::{Invited, check_ttl, invite};
pub use join::{JoinOptions, Joined, join, parse_code};

use std::time::Duration;

/// How long the joiner waits for the welcome: the inviter's person is
/// comparing the short authentication string before answering.
pub const SAS_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a side waits for a message the other side's software sends
/// without a person in between: the inviter's hello, the joiner's proof,
/// the anchor after the welcome. Each is posted within milliseconds of
/// the message before it; 30 s also covers a slow link and a request
/// retried once.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the inviter waits, after sending the welcome, for the
/// joiner's confirmation before it removes the peer again. The joiner
/// only authenticates, reads and verifies the log and stores the join
/// (three requests and well under a second of work on an ordinary link):
/// a minute leaves room for a slow link and a retried request without
/// leaving the person at the inviter waiting long on a vanished device.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the joiner may take from the welcome to storing the join.
/// Past it, it rejects instead of joining, so it never joins after the
/// inviter gave up: the 20 s short of [`CONFIRM_TIMEOUT`] cover the
/// relay's delivery of the welcome and of the confirmation.
pub const JOIN_BUDGET: Duration = Duration::from_secs(40);

/// What [`device_name`] accepts, in words for an error message.
pub const DEVICE_NAME_RULE: &str = "a device name is 1 to 64 bytes with no control characters";

/// A device name the other members may be shown: `name` trimmed, if it
/// is 1 to 64 bytes with no control characters ([`DEVICE_NAME_RULE`]).
/// Every front end checks a name with this before a genesis or a join.
pub fn device_name(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty() && name.len() <= 64 && !name.chars().any(char::is_control))
        .then(|| name.to_owned())
}

/// The longest an invite may stay open.
pub const MAX_TTL: Duration = Duration::from_secs(3600);

/// What a front end shows its person, and asks, during a pairing. Called
/// from the pairing's task: an answer that needs a person may block.
pub trait PairingUi {
    /// Inviter: the code to hand to the new device, valid for `ttl`
    /// (called once the server holds the invite).
    fn code(&self, code: &str, ttl: Duration);
    /// Inviter: the device `peer_name` (`peer_short`, its short peer id)
    /// wants to join, and both screens must show `sas`. `true` adds it;
    /// `false` refuses (the joiner is told at once, in the session).
    fn confirm_sas(&self, sas: &str, peer_name: &str, peer_short: &str) -> bool;
    /// Joiner: the code both screens must show, for the person at the
    /// inviting device to compare (nothing is asked here).
    fn show_sas(&self, sas: &str);
    /// A test hook (`VAULT_TEST_PAIRING_STALL`) stopped the flow at
    /// `step`: the end-to-end tests wait for this to be said before they
    /// kill the process. Nothing by default.
    fn stalled(&self, step: &str) {
        let _ = step;
    }
}

/// What becomes of the items a joining vault already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalItems {
    /// Shared with the circle.
    Merge,
    /// Dropped once joined (they were never sent anywhere).
    Discard,
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
