//! `AppState`: what every handler shares (config, storage, metrics,
//! notifier, relay wake-ups, rate limiters, the shutdown signal). There is
//! no global state: tests build as many independent servers as they like.

use crate::config::{Config, Database};
use crate::error::ApiError;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::notify::pg::PgNotifier;
use crate::notify::{LocalNotifier, Notifier};
use crate::relay::RelayHub;
use crate::storage::postgres::PgStorage;
use crate::storage::{SqliteStorage, Storage, StorageError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database did not open.
    #[error("cannot open the database {db}")]
    Storage {
        /// The database: a file's path, or a URL with its password masked.
        db: String,
        /// Why.
        #[source]
        source: StorageError,
    },
}

/// The shared state of one server. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    storage: Arc<dyn Storage>,
    metrics: Metrics,
    notifier: Arc<dyn Notifier>,
    relay: Arc<RelayHub>,
    limits: RateLimits,
    shutdown: watch::Sender<bool>,
    sockets: AtomicUsize,
    sockets_closed: Notify,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the configured database (a SQLite file, or PostgreSQL with
    /// its notifier for several instances) and builds the state around it.
    pub fn new(config: &Config) -> Result<AppState, StateError> {
        let failed = |source| StateError::Storage {
            db: config.db.to_string(),
            source,
        };
        let relay = Arc::new(RelayHub::default());
        Ok(match &config.db {
            Database::Sqlite(path) => AppState::build(
                config,
                Arc::new(SqliteStorage::open(path).map_err(failed)?),
                Arc::new(LocalNotifier::new()),
                relay,
            ),
            Database::Postgres(url) => {
                let storage =
                    PgStorage::open_with(url.expose(), config.postgres).map_err(failed)?;
                // The URL parsed when the config was read.
                let bus = url
                    .expose()
                    .parse()
                    .map_err(|e| failed(StorageError::Backend(Box::new(e))))?;
                let notifier = PgNotifier::start(bus, relay.clone());
                AppState::build(config, Arc::new(storage), Arc::new(notifier), relay)
            }
        })
    }

    /// Builds the state around any storage and notifier.
    pub fn with_parts(
        config: &Config,
        storage: Arc<dyn Storage>,
        notifier: Arc<dyn Notifier>,
    ) -> AppState {
        AppState::build(config, storage, notifier, Arc::default())
    }

    fn build(
        config: &Config,
        storage: Arc<dyn Storage>,
        notifier: Arc<dyn Notifier>,
        relay: Arc<RelayHub>,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                config: config.clone(),
                storage,
                metrics: Metrics::new(),
                notifier,
                relay,
                limits: RateLimits::new(&config.limits),
                shutdown: watch::channel(false).0,
                sockets: AtomicUsize::new(0),
                sockets_closed: Notify::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The notifier.
    pub fn notifier(&self) -> &dyn Notifier {
        self.inner.notifier.as_ref()
    }

    /// The relay wake-ups.
    pub fn relay(&self) -> &RelayHub {
        &self.inner.relay
    }

    /// A relay session got a message: wakes its readers here and, through
    /// the notifier, on other instances.
    pub fn relay_posted(&self, invite_id: &crate::storage::InviteId) {
        self.inner.relay.wake(invite_id);
        self.inner.notifier.relay_posted(invite_id);
    }

    /// The rate limiters.
    pub fn limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    /// Runs a storage call on the blocking pool and maps its error.
    pub async fn db<T, E>(
        &self,
        f: impl FnOnce(&dyn Storage) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        self.db_raw(f).await?.map_err(Into::into)
    }

    /// Runs a storage call on the blocking pool, leaving its error to the
    /// caller (only a failed blocking task becomes an [`ApiError`]).
    pub async fn db_raw<T, E>(
        &self,
        f: impl FnOnce(&dyn Storage) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, ApiError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let storage = self.inner.storage.clone();
        tokio::task::spawn_blocking(move || f(storage.as_ref()))
            .await
            .map_err(ApiError::internal)
    }

    /// Tells sockets and long polls to finish: the server is stopping.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Whether the server is stopping.
    pub fn shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Resolves once [`AppState::begin_shutdown`] was called.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.shutdown.subscribe();
        async move {
            // An error means the sender is gone: the state is being dropped.
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    /// Counts an open WebSocket until the guard drops.
    pub fn socket_guard(&self) -> SocketGuard {
        self.inner.sockets.fetch_add(1, Ordering::SeqCst);
        self.inner.metrics.socket_opened();
        SocketGuard {
            state: self.clone(),
        }
    }

    /// WebSockets open now.
    pub fn open_sockets(&self) -> usize {
        self.inner.sockets.load(Ordering::SeqCst)
    }

    /// Resolves when no WebSocket is open.
    pub async fn sockets_closed(&self) {
        loop {
            let notified = self.inner.sockets_closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open_sockets() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Keeps a WebSocket counted while it lives.
pub struct SocketGuard {
    state: AppState,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let inner = &self.state.inner;
        inner.metrics.socket_closed();
        if inner.sockets.fetch_sub(1, Ordering::SeqCst) == 1 {
            inner.sockets_closed.notify_waiters();
        }
    }
}
