//! Quotas per circle: how many devices, live records and ciphertext bytes
//! one circle may hold. The limits are the server's `[quotas]` unless an
//! admin set the circle's own (`vault-server admin circle quota`). The rule
//! is written once here and every backend calls it inside the transaction
//! that would grow the circle, so a refused push or append stores nothing.
//!
//! A change that does not grow a quantity is never refused by it: a circle
//! an admin put over its quota can still delete items and remove devices.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The limits of one circle; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Current members (devices) of the circle.
    pub max_devices: u64,
    /// Live records (items, not tombstones) across the circle's zones.
    pub max_records: u64,
    /// Ciphertext bytes stored (each record's wrapped key and encrypted
    /// item, tombstones included) across the circle's zones.
    pub max_bytes: u64,
}

impl Default for Quotas {
    /// Room for a person with 100,000 items ten times over, and for every
    /// device a family owns.
    fn default() -> Self {
        Quotas {
            max_devices: 64,
            max_records: 1_000_000,
            max_bytes: 4 << 30,
        }
    }
}

/// A circle's own limits, each in place of the server's when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuotaOverrides {
    /// In place of `max_devices`.
    pub max_devices: Option<u64>,
    /// In place of `max_records`.
    pub max_records: Option<u64>,
    /// In place of `max_bytes`.
    pub max_bytes: Option<u64>,
}

impl QuotaOverrides {
    /// The limits that apply: each override, else the server's default.
    pub fn over(&self, defaults: &Quotas) -> Quotas {
        Quotas {
            max_devices: self.max_devices.unwrap_or(defaults.max_devices),
            max_records: self.max_records.unwrap_or(defaults.max_records),
            max_bytes: self.max_bytes.unwrap_or(defaults.max_bytes),
        }
    }
}

/// Which quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// `max_devices`.
    Devices,
    /// `max_records`.
    Records,
    /// `max_bytes`.
    Bytes,
}

impl QuotaKind {
    /// Every kind, for metric labels.
    pub const ALL: [QuotaKind; 3] = [QuotaKind::Devices, QuotaKind::Records, QuotaKind::Bytes];

    /// The word for it, as in the error message and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::Devices => "devices",
            QuotaKind::Records => "records",
            QuotaKind::Bytes => "bytes",
        }
    }
}

impl fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change refused because it would take the circle past a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the circle's {kind} quota is {limit} and this change would make it {would_be}")]
pub struct QuotaExceeded {
    /// The quota.
    pub kind: QuotaKind,
    /// Its limit for this circle.
    pub limit: u64,
    /// What the change would have made the quantity.
    pub would_be: u64,
}

/// A circle's quantities, before or after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Current members.
    pub devices: u64,
    /// Live records.
    pub records: u64,
    /// Ciphertext bytes.
    pub bytes: u64,
}

/// The rule: a quantity the change grows must stay within its limit (0:
/// none). Devices first, then records, then bytes.
pub fn check(limits: &Quotas, before: &Usage, after: &Usage) -> Result<(), QuotaExceeded> {
    let pairs = [
        (
            QuotaKind::Devices,
            limits.max_devices,
            before.devices,
            after.devices,
        ),
        (
            QuotaKind::Records,
            limits.max_records,
            before.records,
            after.records,
        ),
        (
            QuotaKind::Bytes,
            limits.max_bytes,
            before.bytes,
            after.bytes,
        ),
    ];
    for (kind, limit, was, now) in pairs {
        if limit != 0 && now > was && now > limit {
            return Err(QuotaExceeded {
                kind,
                limit,
                would_be: now,
            });
        }
    }
    Ok(())
}

/// The rule for one more device: within `max_devices` after it joins.
pub fn check_new_device(limits: &Quotas, usage: &Usage) -> Result<(), QuotaExceeded> {
    let after = Usage {
        devices: usage.devices.saturating_add(1),
        ..*usage
    };
    check(limits, usage, &after)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn usage(devices: u64, records: u64, bytes: u64) -> Usage {
        Usage {
            devices,
            records,
            bytes,
        }
    }

    #[test]
    fn growth_past_a_limit_is_refused_naming_the_quota() {
        let q = Quotas {
            max_devices: 2,
            max_records: 100,
            max_bytes: 1000,
        };
        assert!(check(&q, &usage(1, 0, 0), &usage(2, 100, 1000)).is_ok());
        let e = check(&q, &usage(2, 0, 0), &usage(3, 0, 0)).unwrap_err();
        assert_eq!((e.kind, e.limit, e.would_be), (QuotaKind::Devices, 2, 3));
        let e = check(&q, &usage(1, 0, 0), &usage(1, 150, 10)).unwrap_err();
        assert_eq!(
            (e.kind, e.limit, e.would_be),
            (QuotaKind::Records, 100, 150)
        );
        let e = check(&q, &usage(1, 10, 10), &usage(1, 10, 1001)).unwrap_err();
        assert_eq!(e.kind, QuotaKind::Bytes);
        assert_eq!(
            e.to_string(),
            "the circle's bytes quota is 1000 and this change would make it 1001"
        );
    }

    #[test]
    fn over_a_limit_a_circle_may_still_shrink_and_zero_is_no_limit() {
        let q = Quotas {
            max_devices: 1,
            max_records: 10,
            max_bytes: 10,
        };
        // An admin lowered the quota below what the circle holds.
        assert!(check(&q, &usage(5, 50, 500), &usage(4, 40, 400)).is_ok());
        assert!(check(&q, &usage(5, 50, 500), &usage(5, 50, 500)).is_ok());
        assert!(check(&q, &usage(5, 50, 500), &usage(5, 51, 500)).is_err());
        let none = Quotas {
            max_devices: 0,
            max_records: 0,
            max_bytes: 0,
        };
        assert!(check(&none, &usage(0, 0, 0), &usage(u64::MAX, u64::MAX, u64::MAX)).is_ok());
    }

    #[test]
    fn an_override_replaces_only_its_own_limit() {
        let o = QuotaOverrides {
            max_records: Some(100),
            ..QuotaOverrides::default()
        };
        let q = o.over(&Quotas::default());
        assert_eq!(q.max_records, 100);
        assert_eq!(q.max_devices, Quotas::default().max_devices);
        assert_eq!(q.max_bytes, Quotas::default().max_bytes);
    }
}
