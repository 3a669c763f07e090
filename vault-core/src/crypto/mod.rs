//! Cryptography: key types, the one namespace list, the random source, the
//! envelopes every AEAD goes through, signatures and peer ids. The crate's
//! leaf: it imports nothing of the crate but itself (a test enforces it),
//! and its raw primitives (`hazmat`) are private to it.
#![doc = include_str!("README.md")]

mod derive;
pub(crate) mod envelope;
mod hazmat;
mod identity;
mod keys;
mod namespace;
mod password;
mod peer;
mod rng;
pub(crate) mod sigbatch;

pub use derive::{EphemeralSecret, Hasher, hash};
pub(crate) use derive::{InviteMacKey, derive_key};
pub use envelope::{
    BLOB_VERSION, DEFAULT_ZONE, DecryptError, ITEM_FORMAT, ItemContext, SealError, SealedItem,
    encitem_aad, open_item, open_item_into, rewrap_content_key, seal_item, wrappedkey_aad,
};
pub(crate) use envelope::{unwrap_data_key, unwrap_vault_key, wrap_data_key, wrap_vault_key};
pub(crate) use hazmat::{KEY_LEN, NONCE_LEN, TAG_LEN};
pub use identity::DeviceIdentity;
pub use keys::{
    ContentKey, DataKey, EpochKey, ExportKey, IndexKey, InviterToJoinerKey, JoinerToInviterKey,
    KeyEncryptionKey, MasterKey, SessionKey, ShareKey, VaultKey,
};
pub use namespace::Namespace;
pub(crate) use password::KdfPassword;
pub use peer::{BadSignature, ParseIdError, PeerId, PeerKeys, VerifyError, VerifyingKey, WeakKey};
pub(crate) use peer::{hex, parse_hex, write_hex};
pub use rng::VaultRng;

#[cfg(test)]
pub(crate) use keys::kdf_runs;
