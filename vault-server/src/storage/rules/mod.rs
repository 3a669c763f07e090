//! The sync rules, written once above the backends. Each rule is a
//! function over a small trait of transaction primitives (fetch this,
//! store that) that a backend implements and runs inside one write
//! transaction; the backend stores and fetches, the rule decides. So
//! SQLite and PostgreSQL cannot decide a conflict, number a sequence or
//! count a quota differently.
//!
//! Moved here so far: the push ([`push`]: conflicts, sequence numbers,
//! quotas), the circle log's append ([`append`]: the head, membership, the
//! devices quota, removal cuts), the manifests ([`manifest`]: bucket
//! hashes and the root cache, signed manifests, tombstone collection) and
//! the changes feed ([`changes`]: which tokens are still valid, where a
//! page ends).

pub mod append;
pub mod changes;
pub mod manifest;
pub mod push;
