//! Wake-ups for long-polling relay readers: one `tokio::sync::Notify` per
//! invite with a waiter, so a waiting `GET .../messages` costs no polling.
//! A post commits, then wakes every waiter of its invite, which re-reads;
//! on PostgreSQL the notifier wakes the waiters of other instances too
//! ([`crate::AppState::relay_posted`]).

use crate::storage::InviteId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// The per-invite wake-up channels of this process.
#[derive(Debug, Default)]
pub struct RelayHub {
    waiters: Mutex<HashMap<InviteId, Arc<Notify>>>,
}

impl RelayHub {
    /// The invite's channel (created on first use).
    pub fn channel(&self, invite_id: &InviteId) -> Arc<Notify> {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*invite_id)
            .or_default()
            .clone()
    }

    /// Wakes every reader waiting on the invite.
    pub fn wake(&self, invite_id: &InviteId) {
        let waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = waiters.get(invite_id) {
            n.notify_waiters();
        }
    }

    /// Wakes every waiting reader (wake-ups from other instances may
    /// have been missed).
    pub fn wake_all(&self) {
        let waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for n in waiters.values() {
            n.notify_waiters();
        }
    }

    /// Drops channels no reader holds.
    pub fn prune(&self) {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, n| Arc::strong_count(n) > 1);
    }

    /// Channels held (for tests).
    pub fn len(&self) -> usize {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no channel is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
