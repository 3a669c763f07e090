//! Test hooks of the pairing flow, read from the environment, for the
//! end-to-end tests that kill one side at a chosen step and cannot wait a
//! minute for a deadline (tests/tests/pairing_cleanup.rs). Neither hook
//! can make a pairing succeed that would fail, send anything else, or
//! say more than the step's name (through [`PairingUi::stalled`]):
//!
//! - `VAULT_TEST_PAIRING_CONFIRM_SECS=N` (1 to 60): the inviter waits N
//!   seconds for the joiner's confirmation instead of a minute. Only
//!   ever shorter.
//! - `VAULT_TEST_PAIRING_STALL=STEP`: the process stops at `STEP`
//!   (`after-proof` on the joiner; `after-append` or `after-welcome` on
//!   the inviter), says so ([`PairingUi::stalled`]; the CLI prints it on
//!   standard error), and waits to be killed; if it is not within a
//!   minute, the flow fails with [`PairingFlowError::Stalled`].

use super::{CONFIRM_TIMEOUT, PairingFlowError, PairingUi};
use std::time::Duration;

const CONFIRM_SECS: &str = "VAULT_TEST_PAIRING_CONFIRM_SECS";
const STALL: &str = "VAULT_TEST_PAIRING_STALL";

/// How long the inviter waits for the confirmation: [`CONFIRM_TIMEOUT`],
/// or less if the test hook says so.
pub(super) fn confirm_timeout() -> Duration {
    std::env::var(CONFIRM_SECS)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .filter(|d| !d.is_zero())
        .map_or(CONFIRM_TIMEOUT, |d| d.min(CONFIRM_TIMEOUT))
}

/// Stops here if the test hook names `step`; otherwise returns at once.
pub(super) async fn stall(step: &'static str, ui: &dyn PairingUi) -> Result<(), PairingFlowError> {
    if std::env::var(STALL).ok().as_deref() != Some(step) {
        return Ok(());
    }
    ui.stalled(step);
    tokio::time::sleep(Duration::from_secs(60)).await;
    Err(PairingFlowError::Stalled(step))
}
