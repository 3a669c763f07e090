//! The sync loop of a device that stays connected (`vault sync --watch`,
//! or any front end's background sync): syncs at start, on every hint
//! from the server's WebSocket ([`crate::watch`]: another device's
//! change; a circle or key share hint refreshes the circle first), on
//! every reconnect, and on every local change (the outbox, polled every
//! [`POLL`], so writes by other processes count). Hints that arrive
//! during a round are coalesced into one follow-up round.
//!
//! [`run`] blocks the calling thread, which holds the vault and does
//! every sync and authentication; the socket runs on the runtime's
//! worker and talks to it through a channel. A failed step is retried
//! with the same backoff as the socket's reconnects; every error but
//! "not a member" is handed to the [`WatchListener`] and the loop goes
//! on. A connection removes the peers a killed inviter left unconfirmed
//! ([`crate::session::remove_unconfirmed`]). The loop ends within a
//! fraction of a second of its stop signal turning true, wherever it is.

use crate::backoff::Backoff;
use crate::runtime::stopped;
use crate::session::{CircleRefresh, Outcome, Session, SessionError, UnconfirmedRemoval};
use crate::watch::{self, Event, WatchTarget};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::watch as signal;
use vault_core::UnlockedVault;
use vault_core::sync::{SyncError, TransportError};

/// How often the outbox is polled for local changes (and the stop
/// signal looked at, besides its own wake-up).
pub const POLL: Duration = Duration::from_millis(250);
/// How long the first round waits for the socket (so no change between
/// the round and the subscription is missed).
const FIRST_SOCKET_WAIT: Duration = Duration::from_secs(2);

/// What the loop tells its front end. Called on [`run`]'s thread.
pub trait WatchListener {
    /// A round completed (the vault is lent to describe what it did).
    fn on_synced(&mut self, vault: &mut UnlockedVault, outcome: &Outcome);
    /// A step failed and is retried after `retry_in` (not called once
    /// stopping, nor for "not a member", which ends the loop). `false`
    /// ends the loop with this error.
    fn on_error(&mut self, error: &SessionError, retry_in: Duration) -> bool;
    /// The socket is down (said once per outage) and is retried after
    /// `retry_in`; rounds still run on local changes.
    fn on_outage(&mut self, reason: &str, retry_in: Duration);
    /// A connection refreshed the circle: key shares refused and epochs
    /// still missing (`refresh`), and the unconfirmed adds it removed or
    /// failed to remove. Nothing by default.
    fn on_circle(&mut self, refresh: &CircleRefresh, removals: &[UnconfirmedRemoval]) {
        let _ = (refresh, removals);
    }
}

/// Runs the loop over `session` (not yet connected, or connected) until
/// `stop` turns true (`Ok`) or the server refuses this device as a
/// member, or `listener` gives up on an error (`Err`). `handle` is a
/// runtime whose worker drives I/O ([`crate::background_runtime`]); the
/// session's requests are abandoned once `stop` turns true, and the
/// socket's task ends when this returns.
pub fn run(
    session: Session,
    vault: &mut UnlockedVault,
    handle: &Handle,
    stop: signal::Receiver<bool>,
    listener: &mut dyn WatchListener,
) -> Result<(), SessionError> {
    let (event_tx, events) = mpsc::channel();
    let (tokens, token_rx) = signal::channel(None);
    // Dropped when this returns: ends the tasks spawned here (a
    // receiver's `changed` fails once its sender is gone).
    let (alive, _) = signal::channel(());
    let (mut gone, mut also_gone) = (alive.subscribe(), alive.subscribe());
    let mut stopping = stop.clone();
    let stop_events = event_tx.clone();
    handle.spawn(async move {
        tokio::select! {
            () = stopped(Some(&mut stopping)) => {
                let _ = stop_events.send(Event::Stop);
            }
            _ = gone.changed() => {}
        }
    });
    handle.spawn(async move {
        tokio::select! {
            () = watch::run(token_rx, event_tx) => {}
            _ = also_gone.changed() => {}
        }
    });
    let mut w = Watcher {
        session: session.with_stop(stop.clone()),
        vault,
        listener,
        handle: handle.clone(),
        events,
        tokens,
        stop,
        wants: Wants::default(),
        retry: Backoff::default(),
        not_before: Instant::now(),
    };
    w.run()
}

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

struct Watcher<'a> {
    session: Session,
    vault: &'a mut UnlockedVault,
    listener: &'a mut dyn WatchListener,
    handle: Handle,
    events: Receiver<Event>,
    tokens: signal::Sender<Option<(String, WatchTarget)>>,
    stop: signal::Receiver<bool>,
    wants: Wants,
    retry: Backoff,
    /// No retry of a failed round or authentication before this.
    not_before: Instant,
}

impl Watcher<'_> {
    fn run(&mut self) -> Result<(), SessionError> {
        if self.start()? {
            return Ok(());
        }
        let mut last_poll = Instant::now();
        loop {
            if self.stopping() {
                return Ok(());
            }
            if Instant::now() >= self.not_before {
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

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Records an event; `Stop` is handled by the caller.
    fn note(&mut self, event: Event) {
        match event {
            Event::Connected | Event::Zone => self.wants.sync = true,
            Event::Circle => {
                self.wants.circle = true;
                self.wants.sync = true;
            }
            Event::Unauthorized => self.wants.auth = true,
            Event::Outage { reason, retry_in } => self.listener.on_outage(&reason, retry_in),
            Event::Stop => {}
        }
    }

    /// Authenticates, lets the socket connect, and asks for the first
    /// round. `Ok(true)`: stopped meanwhile.
    fn start(&mut self) -> Result<bool, SessionError> {
        self.wants.sync = true;
        if !self.authenticate()? {
            return Ok(self.stopping());
        }
        let deadline = Instant::now() + FIRST_SOCKET_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Stop) => return Ok(true),
                Ok(Event::Connected) | Err(RecvTimeoutError::Timeout) => return Ok(false),
                Ok(other) => self.note(other),
                Err(RecvTimeoutError::Disconnected) => return Ok(false),
            }
            if self.wants.auth {
                return Ok(false);
            }
        }
    }

    /// Waits up to `wait` for events and takes every one queued (a burst
    /// makes one round). `Ok(true)` once stopped.
    fn wait(&mut self, wait: Duration) -> Result<bool, SessionError> {
        let first = match self.events.recv_timeout(wait) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => return Ok(self.stopping()),
            // The socket's task is gone (its runtime shut down): local
            // changes still sync, polled.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(wait.max(Duration::from_millis(10)));
                return Ok(self.stopping());
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
            self.note(event);
            next = self.events.try_recv().ok();
        }
        Ok(false)
    }

    /// Authenticates again and hands the token to the socket. `Ok(false)`
    /// when it failed (told; retried after a backoff).
    fn authenticate(&mut self) -> Result<bool, SessionError> {
        self.wants.auth = false;
        self.session.disconnect();
        let result = self.connect();
        self.publish_token();
        match result {
            Ok(()) => Ok(true),
            Err(e) => {
                self.wants.auth = true;
                self.failed(e).map(|()| false)
            }
        }
    }

    /// Connects unless connected with a fresh token; what a connection
    /// found goes to the listener, after the unconfirmed adds it found
    /// are removed.
    fn connect(&mut self) -> Result<(), SessionError> {
        match self.session.connect(self.vault)? {
            Some(refresh) => self.refreshed(&refresh),
            None => Ok(()),
        }
    }

    /// Removes the unconfirmed adds `refresh` found, and tells the
    /// listener.
    fn refreshed(&mut self, refresh: &CircleRefresh) -> Result<(), SessionError> {
        let removals = match self.session.server() {
            Some(server) if !refresh.unconfirmed_adds.is_empty() => {
                let peers = &refresh.unconfirmed_adds;
                self.handle.block_on(crate::session::remove_unconfirmed(
                    self.vault, server, peers,
                ))?
            }
            _ => Vec::new(),
        };
        self.listener.on_circle(refresh, &removals);
        Ok(())
    }

    /// One round (after a circle refresh if hinted), to the listener.
    fn round(&mut self) -> Result<(), SessionError> {
        self.wants.sync = false;
        let result = self.refresh_and_round();
        self.publish_token();
        match result {
            Ok(outcome) => {
                self.wants.circle = false;
                self.retry.reset();
                self.listener.on_synced(self.vault, &outcome);
                Ok(())
            }
            Err(e) => {
                self.wants.sync = true;
                self.failed(e)
            }
        }
    }

    fn refresh_and_round(&mut self) -> Result<Outcome, SessionError> {
        if self.wants.circle {
            let refresh = self.session.refresh_circle(self.vault)?;
            self.refreshed(&refresh)?;
        }
        self.connect()?;
        self.session.round(self.vault, None)
    }

    /// A failed step: ends the loop on "not a member" or when the
    /// listener says so; otherwise backs off (told, unless stopping).
    fn failed(&mut self, e: SessionError) -> Result<(), SessionError> {
        if is_not_member(&e) {
            return Err(e);
        }
        let delay = self.retry.next_delay();
        self.not_before = Instant::now() + delay;
        // Interrupted by the stop: the loop ends at its next look.
        if !self.stopping() && !self.listener.on_error(&e, delay) {
            return Err(e);
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

/// Whether `e` says the server no longer takes this device as a member.
pub fn is_not_member(e: &SessionError) -> bool {
    matches!(
        e,
        SessionError::NotMember
            | SessionError::Sync(SyncError::NotMember)
            | SessionError::Sync(SyncError::Transport(TransportError::NotMember))
    )
}
