//! `vault sync --watch`: vault-client's sync loop (`vault_client::watcher`:
//! a round at start, on every hint, reconnect and local change, with
//! backoff and coalescing) with the command line's faces: SIGINT and
//! SIGTERM stop it (exit 0), each round is printed as `vault sync` prints
//! one, and outages, failures and what a connection found are printed
//! on standard error. "Not a member" ends it (exit 6); every other error
//! is printed and the loop goes on.

use super::round::print_round;
use super::server_session::{circle_of, cli_error, error_words, print_removals, warn};
use crate::output::Out;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use vault_client::session::{CircleRefresh, SessionError, UnconfirmedRemoval};
use vault_client::watcher::{self, WatchListener};
use vault_client::{Outcome, Session};
use vault_core::UnlockedVault;

/// The terminal as the loop's listener.
struct Printer {
    out: Out,
}

impl WatchListener for Printer {
    fn on_synced(&mut self, vault: &mut UnlockedVault, outcome: &Outcome) {
        print_round(self.out, vault, outcome, Some(now_ms()));
    }

    fn on_error(&mut self, error: &SessionError, retry_in: Duration) -> bool {
        let msg = error_words(error).replace(['\n', '\r'], " ");
        eprintln!(
            "vault: error: {msg} (retrying in {:.1}s)",
            retry_in.as_secs_f64()
        );
        true
    }

    fn on_outage(&mut self, reason: &str, retry_in: Duration) {
        if !self.out.quiet {
            eprintln!(
                "vault: warning: no connection to the sync server ({reason}); retrying in {:.1}s",
                retry_in.as_secs_f64()
            );
        }
    }

    fn on_circle(&mut self, refresh: &CircleRefresh, removals: &[UnconfirmedRemoval]) {
        warn(refresh);
        print_removals(removals);
    }
}

pub fn run(
    out: Out,
    rt: &Runtime,
    session: Session,
    vault: &mut UnlockedVault,
) -> anyhow::Result<()> {
    let info = circle_of(vault)?;
    let url = info.servers.join(", then ");
    let (stop_tx, stop_rx) = watch::channel(false);
    {
        let _runtime = rt.enter();
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        rt.spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            let _ = stop_tx.send(true);
        });
    }
    out.note(&format!(
        "vault: watching {url} for changes (Ctrl-C to stop)"
    ));
    let mut printer = Printer { out };
    watcher::run(session, vault, rt.handle(), stop_rx, &mut printer).map_err(cli_error)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
