//! Outstanding authentication challenges, kept in process memory by the
//! single-process SQLite backend.
//!
//! Why not a table: a challenge lives 60 s, is used once, and is worthless
//! after a restart (the device asks for a new one). Storing it cost one
//! write transaction per login, half of authentication's writes; in memory
//! the login rate rose by about 15% on 2 cores (see the `auth_bench`
//! example). Memory stays bounded: only current members get challenges
//! (the handler checks first), each device holds at most
//! [`PER_DEVICE`] (a new one evicts its oldest), and expired ones are
//! purged. The PostgreSQL backend keeps them in its shared database (an
//! unlogged table) instead: that is why they sit behind the
//! [`Storage`](super::Storage) trait.

use super::PeerBytes;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use uuid::Uuid;

/// Challenges one device may have outstanding.
pub const PER_DEVICE: usize = 8;

/// A device: its circle and peer id.
type DeviceKey = (Uuid, PeerBytes);

/// A challenge and its expiry (Unix seconds).
type Pending = ([u8; 32], i64);

/// The outstanding challenges of every device.
#[derive(Debug, Default)]
pub struct MemoryChallenges {
    by_device: Mutex<HashMap<DeviceKey, Vec<Pending>>>,
}

impl MemoryChallenges {
    /// Records a challenge for a device, evicting its oldest beyond
    /// [`PER_DEVICE`].
    pub fn put(&self, circle_id: Uuid, peer: &PeerBytes, challenge: &[u8; 32], expires: i64) {
        let mut map = self
            .by_device
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending = map.entry((circle_id, *peer)).or_default();
        if pending.len() >= PER_DEVICE {
            pending.remove(0);
        }
        pending.push((*challenge, expires));
    }

    /// Removes the device's challenge; true if it was there and unexpired.
    pub fn take(&self, circle_id: Uuid, peer: &PeerBytes, challenge: &[u8; 32], now: i64) -> bool {
        let mut map = self
            .by_device
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (circle_id, *peer);
        let Some(pending) = map.get_mut(&key) else {
            return false;
        };
        let found = pending
            .iter()
            .position(|(c, _)| c == challenge)
            .map(|i| pending.remove(i));
        if pending.is_empty() {
            map.remove(&key);
        }
        matches!(found, Some((_, expires)) if expires > now)
    }

    /// Forgets expired challenges; returns how many.
    pub fn purge(&self, now: i64) -> usize {
        let mut map = self
            .by_device
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut purged = 0;
        map.retain(|_, pending| {
            let before = pending.len();
            pending.retain(|&(_, expires)| expires > now);
            purged += before - pending.len();
            !pending.is_empty()
        });
        purged
    }

    /// Challenges outstanding (for tests).
    pub fn len(&self) -> usize {
        self.by_device
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Vec::len)
            .sum()
    }

    /// Whether none is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_per_device_bounded_and_expiring() {
        let m = MemoryChallenges::default();
        let (c, me, other) = (Uuid::new_v4(), [1; 32], [2; 32]);
        m.put(c, &me, &[1; 32], 100);
        assert!(!m.take(c, &other, &[1; 32], 10), "another device's");
        assert!(
            !m.take(Uuid::new_v4(), &me, &[1; 32], 10),
            "another circle's"
        );
        assert!(m.take(c, &me, &[1; 32], 10));
        assert!(!m.take(c, &me, &[1; 32], 10), "used");
        m.put(c, &me, &[2; 32], 100);
        assert!(!m.take(c, &me, &[2; 32], 100), "expired");
        assert!(m.is_empty(), "an expired one is gone once tried");
        for i in 0..=PER_DEVICE as u8 {
            m.put(c, &me, &[i; 32], 100 + i64::from(i));
        }
        assert_eq!(m.len(), PER_DEVICE);
        assert!(!m.take(c, &me, &[0; 32], 10), "the oldest was evicted");
        m.put(c, &other, &[9; 32], 50);
        assert_eq!(m.purge(101), 1 + 1);
        assert_eq!(m.len(), PER_DEVICE - 1);
    }
}
