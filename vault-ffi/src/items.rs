//! Items as the bindings show them: records without secret values (a
//! front end asks for a secret by name with `Vault.get_secret`), and the
//! input record `add` and `update` take.

use crate::error::VaultError;
use vault_core::item::{
    self, CryptoKey, CustomField as CoreField, GenericPassword, InternetPassword, ItemClass,
    ItemData,
};
use vault_core::secret::{SecretBytes, SecretString};

/// The three item classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ItemKind {
    /// An internet password: server, account, URLs (`inet`).
    Internet,
    /// A generic password: service and account (`genp`).
    Generic,
    /// A crypto key or passkey (`keys`).
    Key,
}

impl From<ItemClass> for ItemKind {
    fn from(c: ItemClass) -> Self {
        match c {
            ItemClass::Inet => Self::Internet,
            ItemClass::Genp => Self::Generic,
            ItemClass::Keys => Self::Key,
        }
    }
}

impl From<ItemKind> for ItemClass {
    fn from(k: ItemKind) -> Self {
        match k {
            ItemKind::Internet => Self::Inet,
            ItemKind::Generic => Self::Genp,
            ItemKind::Key => Self::Keys,
        }
    }
}

/// An item in a list or search result: no secret in it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ItemSummary {
    /// The item's uuid.
    pub uuid: String,
    /// Its class.
    pub kind: ItemKind,
    /// Server (internet), service (generic) or relying party (key).
    pub name: String,
    /// Account, or a passkey's user name.
    pub account: String,
    /// The label.
    pub label: String,
    /// The folder path (`Work/Email`); empty for none.
    pub folder: String,
    /// When the current version was written (ms since the Unix epoch).
    pub modified_ms: i64,
}

impl From<&item::ItemSummary> for ItemSummary {
    fn from(s: &item::ItemSummary) -> Self {
        Self {
            uuid: s.uuid.to_string(),
            kind: s.class.into(),
            name: s.name.clone(),
            account: s.account.clone(),
            label: s.label.clone(),
            folder: s.folder.clone(),
            modified_ms: s.modified_ms,
        }
    }
}

/// A custom field. Read from an item, a hidden field's value is `None`
/// (ask `get_secret(uuid, name)`); given to `update`, a hidden field
/// with `None` keeps the value of the item's hidden field of that name
/// (any other field without a value is refused).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its value, `None` for a hidden one read from an item.
    #[uniffi(default = None)]
    pub value: Option<String>,
    /// Whether the value is a secret.
    #[uniffi(default = false)]
    pub hidden: bool,
}

impl std::fmt::Debug for Field {
    /// A hidden field's value is not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = match (&self.value, self.hidden) {
            (Some(_), true) => Some("<hidden>"),
            (Some(v), false) => Some(v.as_str()),
            (None, _) => None,
        };
        f.debug_struct("Field")
            .field("name", &self.name)
            .field("value", &value)
            .field("hidden", &self.hidden)
            .finish()
    }
}

/// One version of an item, without its secret values: `secrets` names
/// the secrets it holds, which `get_secret` returns one at a time.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Item {
    /// The item's uuid.
    pub uuid: String,
    /// Its class.
    pub kind: ItemKind,
    /// The version's generation counter.
    pub gencount: u64,
    /// When the item was created (ms since the Unix epoch).
    pub created_ms: i64,
    /// When this version was written (ms since the Unix epoch).
    pub modified_ms: i64,
    /// Whether this version is a deletion.
    pub deleted: bool,
    /// Server (internet), service (generic) or relying party (key).
    pub name: String,
    /// Account, or a passkey's user name.
    pub account: String,
    /// The label.
    pub label: String,
    /// The folder path; empty for none.
    pub folder: String,
    /// Internet: the item's further URLs.
    pub urls: Vec<String>,
    /// Internet: the protocol (`https`), if set.
    pub protocol: String,
    /// Internet: the port, if set.
    pub port: Option<u16>,
    /// Internet: the path, if set.
    pub path: String,
    /// Key: the key type (`ed25519`, `p256`).
    pub key_type: String,
    /// Custom fields (hidden ones without their value).
    pub custom_fields: Vec<Field>,
    /// The names of the secrets set: `password`, `notes`, `totp`,
    /// `private_key`, and each hidden custom field's name.
    pub secrets: Vec<String>,
}

/// What `add` and `update` take. Secrets left `None` are empty on `add`
/// and unchanged on `update`; every other attribute is replaced. An
/// attribute of another class (a TOTP seed on a key, a private key on a
/// password) is refused, not dropped.
#[derive(Clone, uniffi::Record)]
pub struct ItemInput {
    /// The class (`update` cannot change it).
    pub kind: ItemKind,
    /// Server (internet), service (generic) or relying party (key).
    pub name: String,
    /// Account, or a passkey's user name.
    #[uniffi(default = "")]
    pub account: String,
    /// The label.
    #[uniffi(default = "")]
    pub label: String,
    /// The folder path (`Work/Email`).
    #[uniffi(default = "")]
    pub folder: String,
    /// Internet: further URLs.
    #[uniffi(default = [])]
    pub urls: Vec<String>,
    /// Internet: protocol.
    #[uniffi(default = "")]
    pub protocol: String,
    /// Internet: port.
    #[uniffi(default = None)]
    pub port: Option<u16>,
    /// Internet: path.
    #[uniffi(default = "")]
    pub path: String,
    /// Key: key type.
    #[uniffi(default = "")]
    pub key_type: String,
    /// The password (internet, generic).
    #[uniffi(default = None)]
    pub password: Option<String>,
    /// Notes (internet, generic).
    #[uniffi(default = None)]
    pub notes: Option<String>,
    /// A TOTP seed (base32) or `otpauth://` URI (internet); checked.
    #[uniffi(default = None)]
    pub totp: Option<String>,
    /// Key: the private key's bytes.
    #[uniffi(default = None)]
    pub private_key: Option<Vec<u8>>,
    /// Custom fields, replacing the item's.
    #[uniffi(default = [])]
    pub custom_fields: Vec<Field>,
}

impl std::fmt::Debug for ItemInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemInput")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The item as the bindings show it.
pub(crate) fn item_of(it: &item::Item) -> Item {
    let mut secrets = Vec::new();
    let mut note = |name: &str, set: bool| {
        if set {
            secrets.push(name.to_owned());
        }
    };
    let (mut urls, mut protocol, mut port, mut path, mut key_type) = (
        Vec::new(),
        String::new(),
        None,
        String::new(),
        String::new(),
    );
    let mut fields: &[CoreField] = &[];
    let (name, account, label) = match &it.data {
        ItemData::Inet(i) => {
            note("password", !i.password.is_empty());
            note("notes", !i.notes.is_empty());
            note("totp", !i.totp.is_empty());
            urls = i.uris.clone();
            protocol = i.protocol.clone();
            port = i.port;
            path = i.path.clone();
            fields = &i.custom_fields;
            (&i.server, &i.account, &i.label)
        }
        ItemData::Genp(g) => {
            note("password", !g.password.is_empty());
            note("notes", !g.notes.is_empty());
            fields = &g.custom_fields;
            (&g.service, &g.account, &g.label)
        }
        ItemData::Key(k) => {
            note("private_key", !k.private_key.expose().is_empty());
            key_type = k.key_type.clone();
            (&k.rp_id, &k.user_name, &k.label)
        }
    };
    for f in fields.iter().filter(|f| f.hidden) {
        secrets.push(f.name.clone());
    }
    Item {
        uuid: it.uuid.to_string(),
        kind: it.data.class().into(),
        gencount: it.gencount,
        created_ms: it.created_ms,
        modified_ms: it.modified_ms,
        deleted: it.deleted,
        name: name.clone(),
        account: account.clone(),
        label: label.clone(),
        folder: it.data.folder().to_owned(),
        urls,
        protocol,
        port,
        path,
        key_type,
        custom_fields: fields
            .iter()
            .map(|f| Field {
                name: f.name.clone(),
                value: (!f.hidden).then(|| f.value.expose().to_owned()),
                hidden: f.hidden,
            })
            .collect(),
        secrets,
    }
}

/// Wraps a secret that crossed the boundary: its `String` is moved, not
/// copied, into memory wiped on drop.
fn secret(value: Option<String>, current: &SecretString) -> SecretString {
    value.map_or_else(|| current.clone(), SecretString::new)
}

/// The custom fields of `input`. A hidden one without a value keeps the
/// value of the current hidden field of that name (as `get` gave it); any
/// other field without a value is refused, so a secret is neither made
/// visible nor lost by a field renamed or unhidden without its value.
fn fields(input: Vec<Field>, current: &[CoreField]) -> Result<Vec<CoreField>, VaultError> {
    input
        .into_iter()
        .map(|f| {
            let value = match f.value {
                Some(v) => SecretString::new(v),
                None => current
                    .iter()
                    .find(|c| f.hidden && c.hidden && c.name == f.name)
                    .map(|c| c.value.clone())
                    .ok_or_else(|| {
                        VaultError::invalid(format!(
                            "custom field {:?} has no value (only a hidden field the item \
                             already has may leave its value out)",
                            f.name
                        ))
                    })?,
            };
            Ok(CoreField {
                name: f.name,
                value,
                hidden: f.hidden,
            })
        })
        .collect()
}

/// The attributes `input` sets that its class does not hold: refused,
/// not dropped (a secret among them would be lost without a word).
fn foreign_attributes(input: &ItemInput, class: ItemClass) -> Vec<&'static str> {
    let mut set = Vec::new();
    let mut note = |name, given: bool| {
        if given {
            set.push(name);
        }
    };
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    if class != ItemClass::Inet {
        note("urls", !input.urls.is_empty());
        note("protocol", !input.protocol.is_empty());
        note("port", input.port.is_some());
        note("path", !input.path.is_empty());
        note("totp", given(&input.totp));
    }
    if class == ItemClass::Keys {
        note("password", given(&input.password));
        note("notes", given(&input.notes));
        note("custom_fields", !input.custom_fields.is_empty());
    } else {
        note("private_key", input.private_key.is_some());
        note("key_type", !input.key_type.is_empty());
    }
    set
}

/// The attributes `input` gives, over `current` (an empty item of its
/// class for `add`). A TOTP value that gives no code is refused.
pub(crate) fn data_of(
    input: ItemInput,
    current: Option<&ItemData>,
) -> Result<ItemData, VaultError> {
    let class = ItemClass::from(input.kind);
    let foreign = foreign_attributes(&input, class);
    if !foreign.is_empty() {
        return Err(VaultError::invalid(format!(
            "an item of class {class} has no {}",
            foreign.join(", ")
        )));
    }
    if let Some(t) = &input.totp {
        item::totp::check(t)?;
    }
    let empty;
    let current = match current {
        Some(c) if c.class() != class => {
            return Err(VaultError::invalid(format!(
                "the item is of class {}, not {class}: a class cannot change",
                c.class()
            )));
        }
        Some(c) => c,
        None => {
            empty = match class {
                ItemClass::Inet => ItemData::Inet(InternetPassword::default()),
                ItemClass::Genp => ItemData::Genp(GenericPassword::default()),
                ItemClass::Keys => ItemData::Key(CryptoKey::default()),
            };
            &empty
        }
    };
    let folder = item::folder_path(&input.folder);
    Ok(match current {
        ItemData::Inet(c) => ItemData::Inet(InternetPassword {
            server: input.name,
            account: input.account,
            protocol: input.protocol,
            port: input.port,
            path: input.path,
            label: input.label,
            notes: secret(input.notes, &c.notes),
            password: secret(input.password, &c.password),
            totp: secret(input.totp, &c.totp),
            uris: input.urls,
            custom_fields: fields(input.custom_fields, &c.custom_fields)?,
            folder,
        }),
        ItemData::Genp(c) => ItemData::Genp(GenericPassword {
            service: input.name,
            account: input.account,
            label: input.label,
            notes: secret(input.notes, &c.notes),
            password: secret(input.password, &c.password),
            custom_fields: fields(input.custom_fields, &c.custom_fields)?,
            folder,
        }),
        ItemData::Key(c) => ItemData::Key(CryptoKey {
            label: input.label,
            key_type: input.key_type,
            private_key: input
                .private_key
                .map_or_else(|| c.private_key.clone(), SecretBytes::new),
            rp_id: input.name,
            user_name: input.account,
            folder,
            ..c.clone()
        }),
    })
}

/// The secret named `field` of `data`: `password`, `notes`, `totp`, or a
/// custom field's name.
pub(crate) fn secret_of<'a>(data: &'a ItemData, field: &str) -> Option<&'a SecretString> {
    let (fixed, custom): (Option<&SecretString>, &[CoreField]) = match (data, field) {
        (ItemData::Inet(i), "password") => (Some(&i.password), &[]),
        (ItemData::Inet(i), "notes") => (Some(&i.notes), &[]),
        (ItemData::Inet(i), "totp") => (Some(&i.totp), &[]),
        (ItemData::Genp(g), "password") => (Some(&g.password), &[]),
        (ItemData::Genp(g), "notes") => (Some(&g.notes), &[]),
        (ItemData::Inet(i), _) => (None, &i.custom_fields),
        (ItemData::Genp(g), _) => (None, &g.custom_fields),
        (ItemData::Key(_), _) => (None, &[]),
    };
    fixed.or_else(|| {
        custom
            .iter()
            .find(|f| f.name == field)
            .or_else(|| custom.iter().find(|f| f.name.eq_ignore_ascii_case(field)))
            .map(|f| &f.value)
    })
}
