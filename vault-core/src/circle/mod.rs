//! The trusted peer circle: device identities, the signed hash-chained
//! membership log, key shares and pairing.
//!
//! The log's formats and rules (`entry`, `chain`, `name`, `share`,
//! `pairing`, `auth`) import only `crypto` and `wire`. `store` (the
//! circle's tables and `UnlockedVault`'s circle methods) sits above the
//! vault file (`tests/layering.rs`).
//!
//! Every device has an Ed25519 signing key and an X25519 agreement key
//! ([`DeviceIdentity`](crate::crypto::DeviceIdentity)); its [`PeerId`] is a
//! hash of the signing key. The circle is an append-only log of
//! [`SignedEntry`]s (genesis, add peer, remove peer, new epoch), each signed
//! by a current member and carrying its predecessor's [`EntryHash`]. The
//! server stores and orders the log; every device verifies it whole. The
//! byte layout is pinned in [`entry`]'s documentation and tests; key
//! shares are [`KeyShare`]s and pairing is in [`pairing`].
//!
//! ```
//! use vault_core::circle::CircleState;
//! use vault_core::{KdfParams, Vault};
//! # let dir = tempfile::tempdir()?;
//! let mut vault = Vault::create(dir.path().join("v"), "pw", KdfParams::insecure_for_tests_only(1))?;
//! let genesis = vault.prepare_genesis("laptop")?;
//! // Post `genesis.entry_bytes()` and `genesis.signature()` to the server, then:
//! vault.create_circle("https://sync.example", &Default::default(), &genesis)?;
//! let state = CircleState::verify_chain(Some(genesis.hash()), &[genesis])?;
//! assert!(state.is_member(&vault.peer_id()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
pub(crate) mod cache;
mod chain;
pub mod cut;
pub mod entry;
pub(crate) mod ids;
mod name;
pub mod pairing;
mod share;
pub(crate) mod store;
mod trust;

pub use auth::{auth_payload, sign_auth, verify_auth};
pub(crate) use chain::parallel_map;
pub use chain::{ChainError, CircleState, Member, Removal};
pub use cut::{CutError, CutList, CutRow, ZoneCut};
pub use entry::{
    ENTRY_VERSION, Entry, EntryBody, EntryError, EpochCommit, MAX_EPOCHS, MAX_NAME_LEN, NameError,
    SEALED_NAME_LEN, SealedName, SignedEntry,
};
pub use ids::{EntryHash, ParseIdError, PeerId, PeerKeys, safety_number};
pub use share::{KeyShare, SHARE_VERSION, ShareError};
pub use store::{
    CircleInfo, CircleSummary, LogUpdate, MemberInfo, PendingAdd, PendingEpoch, PendingVerdict,
    Repost, ShareEpochs, ShareReport,
};
pub use trust::ServerTrust;
