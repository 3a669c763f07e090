//! vault-server: stores ciphertext, orders changes, keeps the circle log.
//!
//! The wire contract is `schema/PROTOCOL.md`; its JSON bodies, error
//! envelope, WebSocket frames and field codecs are `vault_proto`'s types,
//! shared with clients ([`frames`] only turns a frame into an axum
//! message, and a `vault_proto::DecodeError` is a 400 `invalid`, see
//! [`error`]). The server is built from an
//! [`AppState`] (config, storage behind the [`storage::Storage`] trait,
//! metrics, notifier, rate limiters); [`router::router`] turns it into an
//! axum `Router`, and [`serve`] runs it on a listener (through
//! [`conn`]: connection caps, header-read and idle timeouts) until a
//! shutdown future resolves: it stops accepting, finishes in-flight requests, ends
//! long polls, closes WebSockets, and returns. [`serve_on`] does the same
//! on any listener, such as [`tls::TlsListener`] (rustls, certificates
//! reloaded from their files, each handshake in its own task).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use vault_server::{AppState, Config, serve};
//!
//! let config = Config { db: "/tmp/vault-server.db".into(), ..Config::default() };
//! let state = AppState::new(&config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("listening on {}", listener.local_addr()?);
//! serve(listener, state, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```

pub mod circle;
pub mod config;
pub mod conn;
pub mod error;
pub mod extract;
pub mod frames;
pub mod handlers;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod notify;
pub mod relay;
pub mod router;
pub mod state;
pub mod storage;
pub mod tls;

pub use config::{
    Config, ConfigError, Database, DatabaseError, Limits, LogFormat, MetricsListen, Overrides,
    PgUrl, Registration, Tls,
};
pub use error::ApiError;
pub use state::{AppState, StateError};
pub use storage::{SqliteStorage, Storage, StorageError};

use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::time::Duration;

/// How often the database is read for circles an admin disabled (the admin
/// command is another process): their sockets close within this.
const DISABLED_EVERY: Duration = Duration::from_millis(500);

/// How long [`serve`] waits for WebSockets to close after the shutdown.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener failed.
    #[error("the listener failed")]
    Io(#[from] std::io::Error),
}

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// gracefully: no new connections, in-flight requests finish, long polls
/// return, WebSockets get a close frame.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = listener.tap_io(|tcp| {
        // Small request/response pairs: do not wait to coalesce segments.
        let _ = tcp.set_nodelay(true);
    });
    serve_on(listener, state, shutdown).await
}

/// [`serve`] on any listener: a [`tls::TlsListener`], or a TCP one.
pub async fn serve_on<L>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: Send,
{
    let app = router::router(state.clone());
    let purge = tokio::spawn(purge_loop(state.clone()));
    let disabled = tokio::spawn(disabled_loop(state.clone()));
    let signal_state = state.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down");
        signal_state.begin_shutdown();
    };
    conn::serve_connections(listener, app, state.clone(), signal).await;
    // Upgraded sockets outlive their HTTP connection: wait for them too.
    state.begin_shutdown();
    if tokio::time::timeout(SOCKET_CLOSE_GRACE, state.sockets_closed())
        .await
        .is_err()
    {
        tracing::warn!(open = state.open_sockets(), "WebSockets still open at exit");
    }
    purge.abort();
    disabled.abort();
    Ok(())
}

/// Closes the sockets of circles an admin disabled since the last look
/// (requests are refused by the token check itself).
async fn disabled_loop(state: AppState) {
    let mut tick = tokio::time::interval(DISABLED_EVERY);
    let mut known = std::collections::HashSet::new();
    loop {
        tick.tick().await;
        match state.db_raw(|s| s.disabled_circles()).await {
            Ok(Ok(now)) => {
                let now: std::collections::HashSet<uuid::Uuid> = now.into_iter().collect();
                for circle in now.difference(&known) {
                    tracing::info!(%circle, "circle disabled: closing its sockets");
                    state
                        .notifier()
                        .publish(*circle, notify::Event::CircleDisabled);
                }
                known = now;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %error::ErrorChain(&e), "reading disabled circles failed")
            }
            Err(e) => tracing::warn!(error = %e, "reading disabled circles failed"),
        }
    }
}

/// Serves `/metrics` alone on `listener` (the private metrics listener)
/// until `shutdown` resolves.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(listener, router::metrics_router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Deletes expired rows and forgets idle limiter and channel state.
async fn purge_loop(state: AppState) {
    let every = Duration::from_secs(state.config().purge_interval_secs);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = state::unix_now();
        match state.db_raw(move |s| s.purge_expired(now)).await {
            Ok(Ok(p)) => tracing::debug!(
                challenges = p.challenges,
                tokens = p.tokens,
                invites = p.invites,
                registration_tokens = p.registration_tokens,
                "purged expired rows"
            ),
            Ok(Err(e)) => tracing::warn!(error = %error::ErrorChain(&e), "purge failed"),
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
        state.limits().forget_idle();
        state.relay().prune();
        state.notifier().prune();
    }
}
