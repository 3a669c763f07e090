//! The runtimes the client's requests run on, and the stop signal that
//! abandons a request in flight.

use tokio::sync::watch;

/// A runtime with one worker thread that drives its I/O, so synchronous
/// code on another thread can `Handle::block_on` requests (the sync
/// engine's `Transport` is synchronous) while tasks such as the watcher's
/// WebSocket run on the worker.
pub fn background_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("vault-net")
        .enable_all()
        .build()
}

/// A single-threaded runtime for one command's requests.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Resolves once `stop` is true; never without one, or once its sender
/// is gone.
pub async fn stopped(stop: Option<&mut watch::Receiver<bool>>) {
    if let Some(stop) = stop
        && stop.wait_for(|s| *s).await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await
}
