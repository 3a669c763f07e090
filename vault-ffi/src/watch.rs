//! `Vault.watch`: stay connected and sync on every change, here or on
//! another device, until cancelled (vault-client's watcher loop on a
//! thread of its own, with its own handle on the vault file, so the
//! `Vault` stays free for other calls). The host hears through a
//! [`SyncListener`]; [`WatchHandle::cancel`] stops it from any thread.

use crate::error::{VaultError, chain};
use crate::sync::{SyncReport, report_of};
use crate::vault::Vault;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vault_client::watcher::{self, WatchListener};
use vault_client::{ClientError, Outcome, Session, SessionError};
use vault_core::sync::{SyncError, TransportError};
use vault_core::{UnlockedVault, Vault as CoreVault};

/// Hears what a watch does (called on the watch's own thread).
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    /// A round ended (at start, after a change here or elsewhere).
    fn on_synced(&self, report: SyncReport);
    /// A round or the connection failed; the watch retries with backoff
    /// unless `fatal` (this device is no longer a member), when it ends.
    fn on_error(&self, error: VaultError, fatal: bool);
}

/// A running watch.
#[derive(uniffi::Object)]
pub struct WatchHandle {
    stop: tokio::sync::watch::Sender<bool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[uniffi::export]
impl WatchHandle {
    /// Stops the watch and waits for its thread to end (well within a
    /// second). Called from the listener (on the watch's own thread), it
    /// stops the watch once the callback returns. Cancelling again does
    /// nothing.
    pub fn cancel(&self) {
        let _ = self.stop.send(true);
        let mut slot = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if slot
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id())
        {
            // Joining itself would fail; the loop sees the stop next.
            return;
        }
        if let Some(thread) = slot.take() {
            drop(slot);
            let _ = thread.join();
        }
    }

    /// Whether the watch still runs.
    pub fn is_running(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// What a failure the loop retries is, for the host (the error itself
/// stays in the loop). The error that ends the loop goes through the
/// same conversion as `sync`'s instead.
fn error_of(e: &SessionError) -> VaultError {
    let message = chain(e);
    if watcher::is_not_member(e) {
        return VaultError::NotMember;
    }
    match e {
        SessionError::NoCircle => VaultError::NoCircle,
        SessionError::Client(ClientError::Unreachable { .. } | ClientError::Tls { .. })
        | SessionError::Sync(SyncError::Transport(TransportError::Unreachable(_))) => {
            VaultError::Unreachable { message }
        }
        SessionError::Client(ClientError::Refused { status, .. }) => VaultError::ServerRefused {
            status: *status,
            message,
        },
        SessionError::Sync(SyncError::Storage(_)) => VaultError::Storage { message },
        SessionError::Sync(SyncError::Zone(_))
        | SessionError::BadLog(_)
        | SessionError::LogDisagrees(_)
        | SessionError::BadShare(_) => VaultError::Tampered { message },
        _ => VaultError::ServerRefused { status: 0, message },
    }
}

struct Listener(Arc<dyn SyncListener>);

impl WatchListener for Listener {
    fn on_synced(&mut self, vault: &mut UnlockedVault, outcome: &Outcome) {
        self.0.on_synced(report_of(vault, outcome));
    }

    fn on_error(&mut self, error: &SessionError, _retry_in: Duration) -> bool {
        self.0.on_error(error_of(error), false);
        true
    }

    fn on_outage(&mut self, reason: &str, _retry_in: Duration) {
        self.0.on_error(
            VaultError::Unreachable {
                message: format!("no connection to the sync server ({reason})"),
            },
            false,
        );
    }
}

#[uniffi::export]
impl Vault {
    /// Syncs now and on every change until the returned handle is
    /// cancelled or dropped (keep it for as long as the watch should run):
    /// another device's change (the server's WebSocket hint), a local
    /// write (by this object or any other process), a reconnection.
    pub fn watch(&self, listener: Arc<dyn SyncListener>) -> Result<Arc<WatchHandle>, VaultError> {
        let (key, circle_id) = self.with(|v| {
            let circle = v.circle()?.ok_or(VaultError::NoCircle)?;
            Ok((v.session_key(), circle.circle_id))
        })?;
        // A handle of its own: the watch never holds this object's lock.
        let mut own = CoreVault::open(self.path())?.unlock_with_session_key(&key)?;
        drop(key);
        let runtime = vault_client::background_runtime()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("vault-watch".into())
            .spawn(move || {
                let session =
                    Session::new(runtime.handle().clone(), circle_id).with_stop(stopped.clone());
                let mut heard = Listener(listener);
                if let Err(e) =
                    watcher::run(session, &mut own, runtime.handle(), stopped, &mut heard)
                {
                    heard.0.on_error(e.into(), true);
                }
                runtime.shutdown_background();
            })?;
        Ok(Arc::new(WatchHandle {
            stop,
            thread: Mutex::new(Some(thread)),
        }))
    }
}
