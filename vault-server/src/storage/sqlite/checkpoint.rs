//! WAL checkpoints off the request path. Every connection has automatic
//! checkpoints turned off; one background thread with its own connection
//! runs a `PASSIVE` checkpoint (it never blocks readers or the writer) every
//! [`INTERVAL`]. Pages rewritten many times in between (challenges and
//! tokens churn) are copied back to the database once, and no request
//! pays for a checkpoint's writes and fsync.

use super::{BUSY_TIMEOUT, db_err, flags};
use crate::storage::StorageError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the WAL is checkpointed.
pub(super) const INTERVAL: Duration = Duration::from_secs(1);

/// The checkpoint thread; stopped (after a last checkpoint) on drop.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StorageError> {
        let conn = Connection::open_with_flags(path, flags()).map_err(db_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vault-wal-checkpoint".into())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(INTERVAL),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                    if last {
                        return;
                    }
                }
            })
            .map_err(|e| StorageError::Backend(Box::new(e)))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
