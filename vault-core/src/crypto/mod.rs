//! Cryptography: key types, the one namespace list, the random source and
//! the envelopes that seal items and wrap keys.
#![doc = include_str!("README.md")]

mod envelope;
pub(crate) mod hazmat;
mod identity;
mod keys;
mod namespace;
mod rng;

pub use envelope::{
    BLOB_VERSION, DEFAULT_ZONE, DecryptError, ITEM_FORMAT, ItemContext, SealError, SealedItem,
    encitem_aad, open_item, open_item_into, rewrap_content_key, seal_item, wrappedkey_aad,
};
pub(crate) use envelope::{unwrap_data_key, unwrap_vault_key, wrap_data_key, wrap_vault_key};
pub use identity::DeviceIdentity;
pub use keys::{
    ContentKey, DataKey, EpochKey, IndexKey, InviterToJoinerKey, JoinerToInviterKey,
    KeyEncryptionKey, MasterKey, SessionKey, ShareKey, VaultKey,
};
pub use namespace::Namespace;
pub use rng::VaultRng;
