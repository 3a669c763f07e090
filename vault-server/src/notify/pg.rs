//! Notifications across instances on one PostgreSQL database. Each
//! instance delivers its own events locally at once and queues them as
//! hints ([`wire`]) for one batching publisher, which sends whatever has
//! queued as few `NOTIFY`s as fit, on a connection of its own, after the
//! handler's commit. A listener on another dedicated connection (never
//! from the pool: a pooled connection would be recycled and lose its
//! `LISTEN`) feeds the other instances' hints into the local channels.
//! When the listening connection drops, it reconnects with backoff and
//! then tells every local socket to resync and wakes every relay reader:
//! hints sent meanwhile are lost, and nothing waits on one for
//! correctness.

use super::wire::{self, Delivery, Hint};
use super::{Event, LocalNotifier, Notifier};
use crate::relay::RelayHub;
use crate::storage::InviteId;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use uuid::Uuid;

/// Hints queued at most; past this, new ones are dropped (and counted):
/// the bus is behind, and hints are only hints.
const OUTBOX: usize = 65_536;

/// Hints the publisher takes in one go.
const BATCH: usize = 4_096;

/// The listener's first wait before reconnecting, doubled up to the next.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How often the listener checks its connection still answers.
const HEALTH_EVERY: Duration = Duration::from_secs(10);

/// The connections' `application_name`s, as `pg_stat_activity` lists them.
pub const LISTENER_NAME: &str = "vault-server notify listener";
/// See [`LISTENER_NAME`].
pub const PUBLISHER_NAME: &str = "vault-server notify publisher";

/// Counters for the metrics and the tests.
#[derive(Debug, Default)]
pub struct BusCounts {
    /// NOTIFY payloads sent.
    pub sent: AtomicU64,
    /// Hints received from other instances.
    pub received: AtomicU64,
    /// Hints dropped (the outbox was full, or a send failed twice).
    pub dropped: AtomicU64,
    /// Times the listener came back after losing its connection.
    pub reconnects: AtomicU64,
}

/// The notifier of one instance among several.
pub struct PgNotifier {
    local: Arc<LocalNotifier>,
    outbox: mpsc::Sender<Hint>,
    counts: Arc<BusCounts>,
    tasks: [JoinHandle<()>; 2],
}

impl std::fmt::Debug for PgNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgNotifier").finish_non_exhaustive()
    }
}

impl Drop for PgNotifier {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PgNotifier {
    /// Starts the publisher and the listener on the current tokio runtime
    /// (they connect, and reconnect, by themselves); `relay` is woken by
    /// other instances' relay posts.
    pub fn start(config: tokio_postgres::Config, relay: Arc<RelayHub>) -> PgNotifier {
        let origin = format!(
            "{:016x}",
            getrandom::u64().unwrap_or_else(|_| rand_fallback())
        );
        let local = Arc::new(LocalNotifier::new());
        let counts = Arc::new(BusCounts::default());
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let mut publisher_config = config.clone();
        publisher_config.application_name(PUBLISHER_NAME);
        let mut config = config;
        config.application_name(LISTENER_NAME);
        let publisher = tokio::spawn(publish(
            publisher_config,
            origin.clone(),
            queued,
            counts.clone(),
        ));
        let listener = tokio::spawn(listen(config, origin, local.clone(), relay, counts.clone()));
        PgNotifier {
            local,
            outbox,
            counts,
            tasks: [publisher, listener],
        }
    }

    /// The bus's counters.
    pub fn counts(&self) -> &BusCounts {
        &self.counts
    }

    fn send(&self, hint: Hint) {
        if self.outbox.try_send(hint).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A distinct origin even if the OS's randomness failed (it does not on
/// any supported system): the clock's nanoseconds and the process id.
fn rand_fallback() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

impl Notifier for PgNotifier {
    fn publish(&self, circle_id: Uuid, event: Event) {
        if let Some(hint) = Hint::of(circle_id, &event) {
            self.send(hint);
        }
        self.local.publish(circle_id, event);
    }

    fn subscribe(&self, circle_id: Uuid) -> broadcast::Receiver<Event> {
        self.local.subscribe(circle_id)
    }

    fn prune(&self) {
        self.local.prune();
    }

    fn relay_posted(&self, invite_id: &InviteId) {
        self.send(Hint::relay(invite_id));
    }
}

/// A connection of its own, its driver on a task.
async fn connect(
    config: &tokio_postgres::Config,
) -> Result<
    (
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    tokio_postgres::Error,
> {
    config.connect(NoTls).await
}

/// The batching publisher: takes whatever hints have queued and sends
/// them as few payloads as fit, reconnecting when a send fails.
async fn publish(
    config: tokio_postgres::Config,
    origin: String,
    mut queued: mpsc::Receiver<Hint>,
    counts: Arc<BusCounts>,
) {
    let mut client: Option<Client> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while queued.recv_many(&mut batch, BATCH).await > 0 {
        for payload in wire::payloads(&origin, &batch) {
            let mut sent = false;
            for _ in 0..2 {
                if client.as_ref().is_none_or(Client::is_closed) {
                    client = match connect(&config).await {
                        Ok((c, connection)) => {
                            tokio::spawn(connection);
                            Some(c)
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the notification publisher cannot connect");
                            None
                        }
                    };
                }
                let Some(c) = &client else { break };
                match c
                    .execute("SELECT pg_notify($1, $2)", &[&wire::CHANNEL, &payload])
                    .await
                {
                    Ok(_) => {
                        sent = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sending a notification failed");
                        client = None;
                    }
                }
            }
            if sent {
                counts.sent.fetch_add(1, Ordering::Relaxed);
            } else {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        batch.clear();
    }
}

/// The listener: LISTENs on a dedicated connection and delivers other
/// instances' hints; after a lost connection, reconnects and resyncs.
async fn listen(
    config: tokio_postgres::Config,
    origin: String,
    local: Arc<LocalNotifier>,
    relay: Arc<RelayHub>,
    counts: Arc<BusCounts>,
) {
    let mut wait = RETRY_FIRST;
    // Events may have been missed before the first LISTEN, too.
    let mut missed = false;
    loop {
        match connect(&config).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(n) = message
                            && tx.send(n.payload().to_owned()).is_err()
                        {
                            break;
                        }
                    }
                });
                match client
                    .batch_execute(&format!("LISTEN {}", wire::CHANNEL))
                    .await
                {
                    Ok(()) => {
                        wait = RETRY_FIRST;
                        if missed {
                            counts.reconnects.fetch_add(1, Ordering::Relaxed);
                            tracing::info!("the notification listener is back: sockets resync");
                            local.publish_all(&Event::Resync);
                            relay.wake_all();
                        }
                        missed = true;
                        deliver_until_lost(&client, &mut rx, &origin, &local, &relay, &counts)
                            .await;
                        tracing::warn!("the notification listener lost its connection");
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                }
                driver.abort();
            }
            Err(e) => {
                missed = true;
                tracing::warn!(error = %e, "the notification listener cannot connect");
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MAX);
    }
}

/// Delivers payloads until the connection is lost (the driver ends, or
/// the periodic check fails).
async fn deliver_until_lost(
    client: &Client,
    rx: &mut mpsc::UnboundedReceiver<String>,
    origin: &str,
    local: &LocalNotifier,
    relay: &RelayHub,
    counts: &BusCounts,
) {
    let mut health = tokio::time::interval(HEALTH_EVERY);
    health.tick().await;
    loop {
        tokio::select! {
            payload = rx.recv() => {
                let Some(payload) = payload else { return };
                let Some(hints) = wire::decode(origin, &payload) else { continue };
                for hint in hints {
                    counts.received.fetch_add(1, Ordering::Relaxed);
                    match hint.delivery() {
                        Some(Delivery::Event(circle, event)) => local.publish(circle, event),
                        Some(Delivery::Relay(invite)) => relay.wake(&invite),
                        None => tracing::warn!("a notification hint does not parse"),
                    }
                }
            }
            _ = health.tick() => {
                let check = tokio::time::timeout(HEALTH_EVERY, client.simple_query("SELECT 1"));
                if !matches!(check.await, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}
