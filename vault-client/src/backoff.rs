//! Exponential backoff with full jitter (a random wait between zero and a
//! ceiling that doubles from 250 ms to 30 s), for reconnecting to and
//! retrying the sync server without a herd of devices hitting it at once.

use std::time::Duration;

/// The first ceiling.
pub const START: Duration = Duration::from_millis(250);
/// The largest ceiling.
pub const CAP: Duration = Duration::from_secs(30);

/// Successive failures' waits; [`Backoff::reset`] after a success.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The ceiling of the next wait: `START * 2^failures`, at most `CAP`.
    pub fn ceiling(&self) -> Duration {
        START.saturating_mul(1u32 << self.failures.min(16)).min(CAP)
    }

    /// The wait after one more failure: uniform in `[0, ceiling]`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        // Without the OS random source the full ceiling is a safe wait.
        let r = getrandom::u64().unwrap_or(u64::MAX);
        Duration::from_millis(r % (ms + 1))
    }

    /// A success: the next failure waits at most `START` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_to_the_cap_and_reset() {
        let mut b = Backoff::default();
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            ceilings.push(b.ceiling().as_millis());
            let d = b.next_delay();
            assert!(d <= CAP);
        }
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), CAP);
        b.reset();
        assert_eq!(b.ceiling(), START);
        assert!(b.next_delay() <= START);
    }

    #[test]
    fn waits_are_jittered() {
        let mut b = Backoff::default();
        for _ in 0..7 {
            b.next_delay();
        }
        let waits: std::collections::HashSet<_> = (0..20)
            .map(|_| {
                let mut b = Backoff { failures: 7 };
                b.next_delay()
            })
            .collect();
        assert!(waits.len() > 1, "full jitter draws different waits");
    }
}
