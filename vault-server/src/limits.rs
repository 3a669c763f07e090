//! Rate limits: one GCRA bucket per client IP (every request) and one per
//! device (authenticated requests), from `governor`. Over the limit a
//! request gets 429 `rate_limited` with `Retry-After`; a device's flood
//! empties only its own bucket, so other devices go on being served.

use crate::config::Limits;
use crate::error::ApiError;
use crate::storage::PeerBytes;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use uuid::Uuid;

/// A keyed limiter, or none when its rate is 0.
struct Keyed<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(per_sec: u32, burst: u32) -> Keyed<K> {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Keyed { limiter }
    }

    fn check(&self, key: &K, clock: &DefaultClock) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(clock.now());
            // Whole seconds, rounded up, at least 1.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::RateLimited {
                retry_after_secs: secs.max(1),
            }
        })
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The server's rate limiters.
pub struct RateLimits {
    clock: DefaultClock,
    per_ip: Keyed<IpAddr>,
    per_device: Keyed<(Uuid, PeerBytes)>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limiters for the configured rates (0 turns one off).
    pub fn new(limits: &Limits) -> RateLimits {
        RateLimits {
            clock: DefaultClock::default(),
            per_ip: Keyed::new(limits.per_ip_per_sec, limits.per_ip_burst),
            per_device: Keyed::new(limits.per_device_per_sec, limits.per_device_burst),
        }
    }

    /// Takes one request from the IP's bucket.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_ip.check(&ip, &self.clock)
    }

    /// Takes one request from the device's bucket.
    pub fn check_device(&self, circle_id: Uuid, peer: &PeerBytes) -> Result<(), ApiError> {
        self.per_device.check(&(circle_id, *peer), &self.clock)
    }

    /// Drops the state of keys that are back to a full bucket.
    pub fn forget_idle(&self) {
        self.per_ip.forget_idle();
        self.per_device.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_flood_from_one_key_leaves_others_alone() {
        let limits = Limits {
            per_ip_per_sec: 1,
            per_ip_burst: 3,
            per_device_per_sec: 1,
            per_device_burst: 2,
            ..Limits::default()
        };
        let r = RateLimits::new(&limits);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            r.check_ip(a).unwrap();
        }
        match r.check_ip(a) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected 429, got {other:?}"),
        }
        r.check_ip(b).unwrap();

        let c = Uuid::new_v4();
        r.check_device(c, &[1; 32]).unwrap();
        r.check_device(c, &[1; 32]).unwrap();
        assert!(r.check_device(c, &[1; 32]).is_err());
        r.check_device(c, &[2; 32]).unwrap();
    }

    #[test]
    fn a_zero_rate_turns_the_limiter_off() {
        let limits = Limits {
            per_ip_per_sec: 0,
            ..Limits::default()
        };
        let r = RateLimits::new(&limits);
        for _ in 0..10_000 {
            r.check_ip("10.0.0.1".parse().unwrap()).unwrap();
        }
    }
}
