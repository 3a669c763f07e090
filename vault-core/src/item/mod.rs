//! The three item classes and their typed attributes: what a front end
//! reads and writes. Serialization lives in `codec.rs`, the three-way merge
//! in `merge.rs`, a field diff for people in `diff.rs`. Imports only
//! `crypto`, `wire` and `secret`.

mod codec;
pub mod diff;
pub mod merge;
pub mod totp;

pub(crate) use codec::{Decoded, decode, encode, summarize};

use crate::crypto::{
    DecryptError, EpochKey, ItemContext, SealError, SealedItem, VaultRng, open_item, seal_item,
};
use crate::secret::{SecretBytes, SecretString};
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// An item class, as in Apple's keychain. Each has its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ItemClass {
    /// Internet passwords (`inet`).
    Inet = 1,
    /// Generic passwords (`genp`).
    Genp = 2,
    /// Crypto keys and passkeys (`keys`).
    Keys = 3,
}

impl ItemClass {
    /// Every class, in table order.
    pub const ALL: [ItemClass; 3] = [ItemClass::Inet, ItemClass::Genp, ItemClass::Keys];

    /// The SQLite table that holds this class.
    pub const fn table(self) -> &'static str {
        match self {
            ItemClass::Inet => "inet",
            ItemClass::Genp => "genp",
            ItemClass::Keys => "keys",
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(ItemClass::Inet),
            2 => Some(ItemClass::Genp),
            3 => Some(ItemClass::Keys),
            _ => None,
        }
    }
}

impl std::fmt::Display for ItemClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.table())
    }
}

/// A user-defined field. Hidden fields are treated as secrets: they are
/// redacted in `Debug` like every value, and left out of search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomField {
    /// The field's name.
    pub name: String,
    /// The field's value.
    pub value: SecretString,
    /// Whether the value is a secret (not searched, masked by front ends).
    pub hidden: bool,
}

/// An internet password (`inet`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InternetPassword {
    /// Host name; exact lookups ignore its case.
    pub server: String,
    /// Account (user name).
    pub account: String,
    /// Protocol, such as `https` or `ssh`.
    pub protocol: String,
    /// Port, if not the protocol's default.
    pub port: Option<u16>,
    /// Path on the server.
    pub path: String,
    /// A human label.
    pub label: String,
    /// Free-form notes (secret).
    pub notes: SecretString,
    /// The password.
    pub password: SecretString,
    /// An `otpauth://` URI or bare TOTP seed (secret).
    pub totp: SecretString,
    /// Further URIs the credential applies to.
    pub uris: Vec<String>,
    /// User-defined fields.
    pub custom_fields: Vec<CustomField>,
    /// The folder, a `/`-separated path such as `Work/Email`; empty for
    /// none (see [`folder_path`]).
    pub folder: String,
}

/// A generic password (`genp`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenericPassword {
    /// The service the password belongs to.
    pub service: String,
    /// Account (user name).
    pub account: String,
    /// A human label.
    pub label: String,
    /// Free-form notes (secret).
    pub notes: SecretString,
    /// The password.
    pub password: SecretString,
    /// User-defined fields.
    pub custom_fields: Vec<CustomField>,
    /// The folder, a `/`-separated path; empty for none.
    pub folder: String,
}

/// A crypto key or a passkey (`keys`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CryptoKey {
    /// A human label.
    pub label: String,
    /// Key type, such as `ed25519` or `p256`.
    pub key_type: String,
    /// Application tag (opaque bytes, as Apple's `kSecAttrApplicationTag`).
    pub application_tag: Vec<u8>,
    /// The private key's bytes.
    pub private_key: SecretBytes,
    /// Passkey: relying-party id; exact lookups ignore its case.
    pub rp_id: String,
    /// Passkey: credential id.
    pub credential_id: Vec<u8>,
    /// Passkey: user handle.
    pub user_handle: Vec<u8>,
    /// Passkey: user name.
    pub user_name: String,
    /// The folder, a `/`-separated path; empty for none.
    pub folder: String,
}

/// A folder path in its one stored form: `/`-separated names, each trimmed
/// of surrounding space, empty names dropped. `" Work//Email/ "` becomes
/// `Work/Email`; a path of nothing but slashes and space is no folder (`""`).
pub fn folder_path(path: &str) -> String {
    path.split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// An item's attributes, by class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemData {
    /// An internet password.
    Inet(InternetPassword),
    /// A generic password.
    Genp(GenericPassword),
    /// A crypto key or passkey.
    Key(CryptoKey),
}

impl ItemData {
    /// The class, and so the table, of these attributes.
    pub fn class(&self) -> ItemClass {
        match self {
            ItemData::Inet(_) => ItemClass::Inet,
            ItemData::Genp(_) => ItemClass::Genp,
            ItemData::Key(_) => ItemClass::Keys,
        }
    }

    /// Server (inet), service (genp) or relying party (keys): the
    /// attribute [`Lookup::Server`](crate::Lookup), `Service` and `RpId`
    /// match and lists show as the name.
    pub fn name(&self) -> &str {
        match self {
            ItemData::Inet(i) => &i.server,
            ItemData::Genp(g) => &g.service,
            ItemData::Key(k) => &k.rp_id,
        }
    }

    /// Account (inet, genp) or passkey user name (keys).
    pub fn account(&self) -> &str {
        match self {
            ItemData::Inet(i) => &i.account,
            ItemData::Genp(g) => &g.account,
            ItemData::Key(k) => &k.user_name,
        }
    }

    /// The label.
    pub fn label(&self) -> &str {
        match self {
            ItemData::Inet(i) => &i.label,
            ItemData::Genp(g) => &g.label,
            ItemData::Key(k) => &k.label,
        }
    }

    /// The folder path; empty for none.
    pub fn folder(&self) -> &str {
        match self {
            ItemData::Inet(i) => &i.folder,
            ItemData::Genp(g) => &g.folder,
            ItemData::Key(k) => &k.folder,
        }
    }

    /// Sets the folder path (taken as given; see [`folder_path`]).
    pub fn set_folder(&mut self, folder: String) {
        match self {
            ItemData::Inet(i) => i.folder = folder,
            ItemData::Genp(g) => g.folder = folder,
            ItemData::Key(k) => k.folder = folder,
        }
    }

    /// The password (or, for a key, nothing): what `vault get` prints.
    pub fn password(&self) -> Option<&SecretString> {
        match self {
            ItemData::Inet(i) => Some(&i.password),
            ItemData::Genp(g) => Some(&g.password),
            ItemData::Key(_) => None,
        }
    }
}

/// A stored item version, decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's uuid, stable across versions and devices.
    pub uuid: Uuid,
    /// The version's generation counter (+1 per change).
    pub gencount: u64,
    /// When the item was created, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// When this version was written, in milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// The attributes.
    pub data: ItemData,
    /// Fields a newer version of this library wrote; kept and written back.
    pub(crate) unknown: Vec<(u8, Vec<u8>)>,
    /// In history only: this version is a deletion (a tombstone that lost
    /// to a concurrent edit); `data` is then empty.
    pub deleted: bool,
}

impl Item {
    /// A new item version (gencount 1) with the given attributes.
    pub fn new(uuid: Uuid, data: ItemData, now_ms: i64) -> Self {
        Self {
            uuid,
            gencount: 1,
            created_ms: now_ms,
            modified_ms: now_ms,
            data,
            unknown: Vec::new(),
            deleted: false,
        }
    }

    /// The item's class.
    pub fn class(&self) -> ItemClass {
        self.data.class()
    }

    /// What a list shows of this item (no secrets).
    pub fn summary(&self) -> ItemSummary {
        ItemSummary {
            uuid: self.uuid,
            class: self.class(),
            name: self.data.name().to_owned(),
            account: self.data.account().to_owned(),
            label: self.data.label().to_owned(),
            folder: self.data.folder().to_owned(),
            modified_ms: self.modified_ms,
        }
    }

    /// Seals this version under `epoch` with a fresh content key; the
    /// context (zone, uuid, gencount) is bound as associated data.
    pub fn seal(
        &self,
        epoch: &EpochKey,
        zone: &str,
        rng: &mut VaultRng,
    ) -> Result<SealedItem, SealError> {
        self.seal_version(false, epoch, zone, rng)
    }

    /// Seals this version, or with `tomb` its tombstone (class and times
    /// only, no attributes).
    pub(crate) fn seal_version(
        &self,
        tomb: bool,
        epoch: &EpochKey,
        zone: &str,
        rng: &mut VaultRng,
    ) -> Result<SealedItem, SealError> {
        let data = (!tomb).then_some(&self.data);
        let plain = encode(
            self.class(),
            data,
            self.created_ms,
            self.modified_ms,
            &self.unknown,
        )
        .map_err(|_| SealError)?;
        let ctx = ItemContext {
            zone,
            uuid: self.uuid,
            gencount: self.gencount,
        };
        seal_item(epoch, &ctx, &plain, rng)
    }

    /// Opens a sealed version in its context. A tombstone is refused: it
    /// carries no item.
    pub fn open(
        epoch: &EpochKey,
        ctx: &ItemContext<'_>,
        sealed: &SealedItem,
    ) -> Result<Item, DecryptError> {
        let plain = open_item(epoch, ctx, sealed.wrappedkey(), sealed.encitem())?;
        let d = decode(&plain)?;
        if d.tomb {
            return Err(DecryptError::Malformed("a tombstone carries no item"));
        }
        Ok(Item {
            uuid: ctx.uuid,
            gencount: ctx.gencount,
            created_ms: d.created_ms,
            modified_ms: d.modified_ms,
            data: d.data,
            unknown: d.unknown,
            deleted: false,
        })
    }
}

/// The non-secret attributes of an item, for lists and search results.
#[derive(Debug, Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ItemSummary {
    /// The item's uuid.
    #[zeroize(skip)]
    pub uuid: Uuid,
    /// The item's class.
    #[zeroize(skip)]
    pub class: ItemClass,
    /// Server (inet), service (genp) or relying party (keys).
    pub name: String,
    /// Account (inet, genp) or passkey user name (keys).
    pub account: String,
    /// The label.
    pub label: String,
    /// The folder path (`Work/Email`); empty for none.
    pub folder: String,
    /// When the current version was written (ms since the Unix epoch).
    pub modified_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::folder_path;

    #[test]
    fn folder_paths_have_one_form() {
        assert_eq!(folder_path(" Work//Email/ "), "Work/Email");
        assert_eq!(folder_path("/Root/ a b /"), "Root/a b");
        assert_eq!(folder_path(" / "), "");
        assert_eq!(folder_path(""), "");
    }
}
