//! Notifications to connected devices, sent after a commit. They are hints
//! (a lost one is harmless: a device re-reads on reconnect), except that a
//! removal must close the removed device's sockets: a socket that lags
//! behind its channel re-checks membership in the database.
//!
//! A zone's event carries its `zone` frame serialized once ([`ZoneChange`]):
//! fanning it out to a thousand sockets clones a pointer per socket, never
//! the JSON.
//!
//! [`LocalNotifier`] serves one process (the SQLite server). With several
//! instances on one PostgreSQL database, [`pg::PgNotifier`] also sends
//! each event as a hint ([`wire`]) to the other instances over
//! LISTEN/NOTIFY, and after its listening connection comes back tells
//! every local socket to resync ([`Event::Resync`]).

pub mod pg;
pub mod wire;

use crate::frames::{FrameText, ServerFrame};
use crate::storage::{InviteId, PeerBytes};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Something devices of a circle should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The circle's log grew to `head_seq`; `author` appended it.
    CircleGrew {
        /// The new head.
        head_seq: u64,
        /// Who appended (not told about its own entry).
        author: PeerBytes,
    },
    /// A key share for `recipient` arrived.
    SharesArrived {
        /// The device addressed.
        recipient: PeerBytes,
    },
    /// `peer`'s membership ended: its sockets close.
    MemberRemoved {
        /// The removed device.
        peer: PeerBytes,
    },
    /// A push saved records in a zone.
    ZoneChanged(Arc<ZoneChange>),
    /// An admin disabled the circle: every socket of it closes.
    CircleDisabled,
    /// Events may have been missed (the bus between instances was
    /// down): each socket re-checks its membership and every zone's seq.
    Resync,
}

/// A zone reached a new seq after a push: told to every socket of the
/// circle but the author's.
#[derive(Debug, PartialEq, Eq)]
pub struct ZoneChange {
    /// The zone.
    pub zone: String,
    /// Its seq after the push.
    pub seq: u64,
    /// Who pushed (not told about its own push).
    pub author: PeerBytes,
    /// The `zone` frame's text, serialized once for every socket.
    pub frame: Utf8Bytes,
}

impl ZoneChange {
    /// The event of `author`'s push that took `zone` to `seq`.
    pub fn event(zone: &str, seq: u64, author: PeerBytes) -> Event {
        let frame = ServerFrame::Zone {
            zone: zone.to_owned(),
            seq,
        }
        .text();
        Event::ZoneChanged(Arc::new(ZoneChange {
            zone: zone.to_owned(),
            seq,
            author,
            frame,
        }))
    }
}

/// Delivers events to the sockets of a circle.
pub trait Notifier: Send + Sync + 'static {
    /// Publishes an event to every subscriber of the circle.
    fn publish(&self, circle_id: Uuid, event: Event);

    /// Subscribes to a circle's events.
    fn subscribe(&self, circle_id: Uuid) -> broadcast::Receiver<Event>;

    /// Drops channels nobody listens to any more.
    fn prune(&self);

    /// A relay session got a message: readers waiting on other instances
    /// re-read (this instance's own readers are woken by the caller).
    fn relay_posted(&self, _invite_id: &InviteId) {}
}

/// Events a socket may fall behind by before it lags (and re-checks its
/// membership and every zone's seq). Each slot costs ~80 bytes per circle
/// with listeners; an event is at most 48 bytes (a zone's is a pointer).
pub const CHANNEL_CAPACITY: usize = 64;

/// One tokio broadcast channel per circle with listeners, in this process.
#[derive(Debug, Default)]
pub struct LocalNotifier {
    channels: Mutex<HashMap<Uuid, broadcast::Sender<Event>>>,
}

impl LocalNotifier {
    /// An empty notifier.
    pub fn new() -> LocalNotifier {
        LocalNotifier::default()
    }

    /// Publishes an event to every circle with a channel.
    pub fn publish_all(&self, event: &Event) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for tx in channels.values() {
            let _ = tx.send(event.clone());
        }
    }

    /// Circles with a channel (for tests).
    pub fn channels(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Notifier for LocalNotifier {
    fn publish(&self, circle_id: Uuid, event: Event) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = channels.get(&circle_id)
            && tx.send(event).is_err()
        {
            // No receiver left: forget the channel.
            channels.remove(&circle_id);
        }
    }

    fn subscribe(&self, circle_id: Uuid) -> broadcast::Receiver<Event> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels
            .entry(circle_id)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    fn prune(&self) {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, tx| tx.receiver_count() > 0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_stay_small() {
        // Every slot of every circle's channel holds one.
        assert!(std::mem::size_of::<Event>() <= 48);
    }

    #[tokio::test]
    async fn events_reach_only_their_circle() {
        let n = LocalNotifier::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut ra = n.subscribe(a);
        let mut rb = n.subscribe(b);
        let ev = Event::SharesArrived { recipient: [1; 32] };
        n.publish(a, ev.clone());
        assert_eq!(ra.recv().await.unwrap(), ev);
        assert!(rb.try_recv().is_err());
        let zone = ZoneChange::event("keychain", 7, [2; 32]);
        n.publish(b, zone.clone());
        assert_eq!(rb.recv().await.unwrap(), zone);
        let Event::ZoneChanged(z) = zone else {
            unreachable!()
        };
        assert_eq!(
            z.frame.as_str(),
            r#"{"type":"zone","zone":"keychain","seq":7}"#
        );
        assert!(ra.try_recv().is_err());
        drop((ra, rb));
        n.publish(a, ev);
        n.prune();
        assert_eq!(n.channels(), 0);
    }
}
