//! `vault sync --watch`: stays connected and syncs at start, on every
//! hint from the server's WebSocket (another device's change; a circle or
//! key share hint refreshes the circle first), on every reconnect, and on
//! every local change (the outbox, polled every 250 ms, so writes by
//! other `vault` processes count). Hints that arrive during a round are
//! coalesced into one follow-up round.
//!
//! The vault stays unlocked on this (the main) thread, which does every
//! sync and authentication; the socket and the signal handlers run on
//! the runtime's worker and talk to it through a channel. A failed round
//! is retried with the same backoff as the socket's reconnects; every
//! error but "not a member" (exit 6) is printed and the loop goes on.
//! SIGINT and SIGTERM end it with exit 0.

use super::round::print_round;
use super::server_session::{Session, circle_of};
use crate::error::exit_code;
use crate::output::Out;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use vault_client::{Backoff, Event};
use vault_core::UnlockedVault;

/// How often the outbox is polled for local changes.
const POLL: Duration = Duration::from_millis(250);
/// How long the first round waits for the socket (so no change between
/// the round and the subscription is missed).
const FIRST_SOCKET_WAIT: Duration = Duration::from_secs(2);

/// What the loop has to do next.
#[derive(Default)]
struct Wants {
    /// Authenticate again (the socket's token was refused).
    auth: bool,
    /// Pull the circle log and key shares before the next round.
    circle: bool,
    /// Run a round.
    sync: bool,
}

impl Wants {
    /// Records an event (an outage is printed once, unless quiet);
    /// `Stop` is handled by the caller.
    fn note(&mut self, event: Event, out: &Out) {
        match event {
            Event::Connected | Event::Zone => self.sync = true,
            Event::Circle => {
                self.circle = true;
                self.sync = true;
            }
            Event::Unauthorized => self.auth = true,
            Event::Outage { reason, retry_in } => {
                if !out.quiet {
                    eprintln!(
                        "vault: warning: no connection to the sync server ({reason}); retrying in {:.1}s",
                        retry_in.as_secs_f64()
                    );
                }
            }
            Event::Stop => {}
        }
    }
}

struct Watcher {
    out: Out,
    session: Session,
    vault: UnlockedVault,
    events: Receiver<Event>,
    tokens: watch::Sender<Option<(String, vault_client::watch::WatchTarget)>>,
    stopping: watch::Receiver<bool>,
    wants: Wants,
    retry: Backoff,
    /// No retry of a failed round or authentication before this.
    not_before: Instant,
}

pub fn run(out: Out, rt: &Runtime, session: Session, vault: UnlockedVault) -> anyhow::Result<()> {
    let info = circle_of(&vault)?;
    let url = info.servers.join(", then ");
    let (event_tx, events) = mpsc::channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tokens, token_rx) = watch::channel(None);
    {
        let _runtime = rt.enter();
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let stop_events = event_tx.clone();
        rt.spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            let _ = stop_tx.send(true);
            let _ = stop_events.send(Event::Stop);
        });
    }
    out.note(&format!(
        "vault: watching {url} for changes (Ctrl-C to stop)"
    ));
    rt.spawn(vault_client::watch::run(token_rx, event_tx));
    let mut w = Watcher {
        out,
        session: session.with_stop(stop_rx.clone()),
        vault,
        events,
        tokens,
        stopping: stop_rx,
        wants: Wants::default(),
        retry: Backoff::default(),
        not_before: Instant::now(),
    };
    w.run()
}

impl Watcher {
    fn run(&mut self) -> anyhow::Result<()> {
        if self.start()? {
            return Ok(());
        }
        let mut last_poll = Instant::now();
        loop {
            let now = Instant::now();
            if now >= self.not_before {
                if self.wants.auth {
                    self.authenticate()?;
                } else if self.wants.sync {
                    self.round()?;
                }
            }
            let busy = self.wants.auth || self.wants.sync;
            let wait = match busy {
                true => self.not_before.saturating_duration_since(Instant::now()),
                false => POLL,
            };
            if self.wait(wait.min(POLL))? {
                return Ok(());
            }
            if last_poll.elapsed() >= POLL {
                last_poll = Instant::now();
                // An unreadable outbox: a round reports why, with backoff.
                if self.vault.sync_status().map_or(true, |s| s.pending > 0) {
                    self.wants.sync = true;
                }
            }
        }
    }

    /// Authenticates, lets the socket connect, and asks for the first
    /// round. `Ok(true)`: stopped meanwhile.
    fn start(&mut self) -> anyhow::Result<bool> {
        self.wants.sync = true;
        if !self.authenticate()? {
            return Ok(false);
        }
        let deadline = Instant::now() + FIRST_SOCKET_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Stop) => return Ok(true),
                Ok(Event::Connected) | Err(RecvTimeoutError::Timeout) => return Ok(false),
                Ok(other) => self.wants.note(other, &self.out),
                Err(RecvTimeoutError::Disconnected) => return Ok(false),
            }
            if self.wants.auth {
                return Ok(false);
            }
        }
    }

    /// Waits up to `wait` for events and takes every one queued (a burst
    /// makes one round). `Ok(true)` on SIGINT/SIGTERM.
    fn wait(&mut self, wait: Duration) -> anyhow::Result<bool> {
        let first = match self.events.recv_timeout(wait) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => return Ok(false),
            Err(RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the watcher's connection task stopped")
            }
        };
        let mut next = Some(first);
        while let Some(event) = next {
            if event == Event::Stop {
                return Ok(true);
            }
            // A hint from the server means it is reachable: no waiting.
            if !matches!(event, Event::Unauthorized | Event::Outage { .. }) {
                self.not_before = Instant::now();
            }
            self.wants.note(event, &self.out);
            next = self.events.try_recv().ok();
        }
        Ok(false)
    }

    /// Authenticates again and hands the token to the socket. `Ok(false)`
    /// when it failed (printed; retried after a backoff).
    fn authenticate(&mut self) -> anyhow::Result<bool> {
        self.wants.auth = false;
        self.session.disconnect();
        let result = self.session.connect(&mut self.vault);
        self.publish_token();
        match result {
            Ok(()) => Ok(true),
            Err(e) => {
                self.wants.auth = true;
                self.failed(e).map(|()| false)
            }
        }
    }

    /// One round (after a circle refresh if hinted), printed.
    fn round(&mut self) -> anyhow::Result<()> {
        self.wants.sync = false;
        let refresh = self.wants.circle;
        let result = match refresh {
            true => self.session.refresh_circle(&mut self.vault),
            false => Ok(()),
        }
        .and_then(|()| self.session.round(&mut self.vault));
        self.publish_token();
        match result {
            Ok(outcome) => {
                self.wants.circle = false;
                self.retry.reset();
                print_round(self.out, &mut self.vault, &outcome, Some(now_ms()));
                Ok(())
            }
            Err(e) => {
                self.wants.sync = true;
                self.failed(e)
            }
        }
    }

    /// A failed step: exit on "not a member" or when stopping, else print
    /// it and back off.
    fn failed(&mut self, e: anyhow::Error) -> anyhow::Result<()> {
        if exit_code(&e) == 6 {
            return Err(e);
        }
        let delay = self.retry.next_delay();
        self.not_before = Instant::now() + delay;
        // Interrupted by SIGINT/SIGTERM: the Stop event ends the loop.
        if !*self.stopping.borrow() {
            let msg = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!(
                "vault: error: {msg} (retrying in {:.1}s)",
                delay.as_secs_f64()
            );
        }
        Ok(())
    }

    /// Gives the socket the session's token, and the server that issued
    /// it, when either changed.
    fn publish_token(&self) {
        let Some(server) = self.session.server() else {
            return;
        };
        let Some(token) = server.token() else {
            return;
        };
        self.tokens.send_if_modified(|t| {
            let same = t.as_ref().is_some_and(|(old, target)| {
                old == token && target.url() == server.watch_target().url()
            });
            if !same {
                *t = Some((token.to_owned(), server.watch_target()));
            }
            !same
        });
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
