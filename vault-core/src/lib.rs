//! vault-core: the local credential vault that password-manager front ends
//! embed. One SQLite file per device holds three item classes (`inet`,
//! `genp`, `keys`) under layered encryption: a random content key per item
//! version, wrapped by the vault key of its epoch (`wrappedkey`), seals the
//! item (`encitem`). Only uuids, counters, flags, key-epoch ids and keyed
//! blind indexes are stored in plaintext. See [`crypto`] for the key
//! hierarchy.
//!
//! Beyond items, an [`UnlockedVault`] is a device of a trusted circle
//! ([`circle`]: a signed membership log, key shares, pairing) and syncs
//! through the circle's server ([`sync`]: signed records, per-field merge,
//! Merkle manifests), with the network left to a [`sync::Transport`] the
//! front end supplies. The modules form layers (`crypto` at the bottom,
//! then `item` and `circle`, `sync`'s formats, the vault file, and the
//! circle's storage and the sync engine on top); `ARCHITECTURE.md` at the
//! repository's root draws them.
//!
//! ```
//! use vault_core::item::{InternetPassword, ItemData};
//! use vault_core::{KdfParams, Lookup, Vault};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("my.vault");
//!
//! // KdfParams::default(): PBKDF2-HMAC-SHA256, 600,000 iterations.
//! let mut vault = Vault::create(&path, "correct horse battery staple", KdfParams::default())?;
//! let id = vault.add(ItemData::Inet(InternetPassword {
//!     server: "example.com".into(),
//!     account: "alice".into(),
//!     password: "hunter2".into(),
//!     ..Default::default()
//! }))?;
//!
//! // Locking drops (and zeroizes) the keys; a locked vault reads nothing.
//! let mut vault = vault.lock().unlock("correct horse battery staple")?;
//! let hits = vault.find(Lookup::Server("EXAMPLE.com"))?;
//! assert_eq!(hits[0].uuid, id);
//! assert_eq!(hits[0].data.password().map(|p| p.expose()), Some("hunter2"));
//! assert_eq!(vault.search("alic")?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod circle;
pub mod crypto;
pub mod error;
pub mod generate;
mod info;
pub mod item;
pub mod secret;
pub mod sync;
mod vault;
mod wire;

pub use circle::{CircleInfo, CircleSummary, LogUpdate, MemberInfo, PendingEpoch, ShareEpochs};
pub use crypto::SessionKey;
pub use info::VaultInfo;
pub use vault::export;
pub use vault::{
    DEFAULT_BUSY_TIMEOUT, KdfParams, LockedVault, Lookup, MAX_REPORTED, MIN_UUID_PREFIX, MatchRule,
    Resolution, ResolveError, RestoreError, Restored, SCHEMA_VERSION, Selector, UnlockedVault,
    Vault, VaultOptions,
};

/// The README's Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
