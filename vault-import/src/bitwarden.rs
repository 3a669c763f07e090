//! Bitwarden's unencrypted JSON export (`bw export --format json`, or
//! Tools > Export vault > `.json`), personal or organization.
//!
//! The document is `{"encrypted": false, "folders": [{id, name}], "items":
//! [...]}`; an organization export has `collections` instead of (or beside)
//! `folders`. An export with `"encrypted": true` is refused with
//! [`ImportError::Encrypted`]. Every field may be `null` or absent.
//!
//! By item `type`:
//!
//! - 1, login: the common rule (internet password if a `login.uris[].uri`
//!   has a host, else generic password), with `login.username`,
//!   `login.password` and `login.totp`. Passkeys
//!   (`login.fido2Credentials`) and `uris[].match` are not imported.
//! - 2, secure note: a generic password with the name and notes.
//! - 3, card: a generic password with the custom fields `cardholderName`,
//!   `brand`, `number` (hidden), `expMonth`, `expYear`, `code` (hidden).
//! - 4, identity: a generic password with one custom field per non-empty
//!   `identity` attribute, named as Bitwarden names it; `ssn`,
//!   `passportNumber` and `licenseNumber` are hidden.
//! - 5, SSH key: a crypto key whose label is the name, whose private key is
//!   the `sshKey.privateKey` text, and whose type is read from the public
//!   key's algorithm (`ed25519`, `rsa`, `p256`, ...) or else the private
//!   key's PEM header (`openssh`, `rsa`, `ec`, `pkcs8`), and whose folder is
//!   the item's. A crypto key has no notes or fields: those of an SSH key
//!   item are not imported, nor its public key and fingerprint (both follow
//!   from the private key).
//!
//! Other types are an error. The folder's name (Bitwarden nests folders by
//! naming them `Work/Email`) becomes the item's folder. On the password
//! classes each collection's name becomes a field `collection` (an
//! organization's collections are shared groupings, not the user's
//! folders), and `"favorite": true` the field `favorite` = `true`.
//! Custom fields (`fields`) keep their name, value and order, even when
//! the value is empty: type 0 (text) is visible, 1 (hidden) hidden, 2
//! (boolean) visible with the value as given (`true`/`false`); type 3
//! (linked) only points at the user name or password and is skipped.
//! `reprompt`, `passwordHistory` and the dates are not imported.

use crate::entry::Entry;
use crate::{Format, ImportError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use vault_core::item::{CryptoKey, CustomField, ItemData, folder_path};

const FORMAT: Format = Format::BitwardenJson;

/// The card attributes, in Bitwarden's order, and whether each is hidden.
const CARD: [(&str, bool); 6] = [
    ("cardholderName", false),
    ("brand", false),
    ("number", true),
    ("expMonth", false),
    ("expYear", false),
    ("code", true),
];

/// The identity attributes, in Bitwarden's order, and whether each is
/// hidden. Attributes not listed here are imported after these, visible.
const IDENTITY: [(&str, bool); 18] = [
    ("title", false),
    ("firstName", false),
    ("middleName", false),
    ("lastName", false),
    ("address1", false),
    ("address2", false),
    ("address3", false),
    ("city", false),
    ("state", false),
    ("postalCode", false),
    ("country", false),
    ("company", false),
    ("email", false),
    ("phone", false),
    ("ssn", true),
    ("username", false),
    ("passportNumber", true),
    ("licenseNumber", true),
];

/// Parses the text of a Bitwarden JSON export.
pub(crate) fn parse(text: &str) -> Result<Vec<ItemData>, ImportError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| ImportError::json(FORMAT, &e))?;
    let top = doc
        .as_object()
        .ok_or(bad("the top level is not a JSON object"))?;
    let encrypted = |key: &str| top.get(key).and_then(Value::as_bool) == Some(true);
    if encrypted("encrypted")
        || encrypted("passwordProtected")
        || top.contains_key("encKeyValidation_DO_NOT_EDIT")
    {
        return Err(ImportError::Encrypted);
    }
    let folders = names(
        top,
        "folders",
        "`folders` is not a list of {id, name} objects",
    )?;
    let collections = names(
        top,
        "collections",
        "`collections` is not a list of {id, name} objects",
    )?;
    let items = top
        .get("items")
        .and_then(Value::as_array)
        .ok_or(bad("there is no `items` list"))?;
    let groups = Groups {
        folders,
        collections,
    };
    items
        .iter()
        .enumerate()
        .map(|(index, value)| item(&Obj::root(index, value)?, &groups))
        .collect()
}

fn bad(reason: &'static str) -> ImportError {
    ImportError::BadDocument {
        format: FORMAT,
        reason,
    }
}

/// Folder and collection names by id.
struct Groups<'v> {
    folders: HashMap<&'v str, &'v str>,
    collections: HashMap<&'v str, &'v str>,
}

/// The `{id, name}` list under `key` (absent or null: empty) as a map.
fn names<'v>(
    top: &'v Map<String, Value>,
    key: &str,
    reason: &'static str,
) -> Result<HashMap<&'v str, &'v str>, ImportError> {
    let list = match top.get(key) {
        None | Some(Value::Null) => return Ok(HashMap::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad(reason)),
    };
    list.iter()
        .map(|g| {
            let id = g.get("id").and_then(Value::as_str);
            let name = match g.get("name") {
                None | Some(Value::Null) => Some(""),
                Some(n) => n.as_str(),
            };
            id.zip(name).ok_or(bad(reason))
        })
        .collect()
}

/// One item.
fn item(it: &Obj<'_>, groups: &Groups<'_>) -> Result<ItemData, ImportError> {
    let kind = it.u64("type")?;
    let folder_id = it.str("folderId")?;
    let folder = if folder_id.is_empty() {
        String::new()
    } else {
        let name = groups
            .folders
            .get(folder_id)
            .ok_or_else(|| it.err("`folderId` names no folder in `folders`".into()))?;
        folder_path(name)
    };
    if kind == 5 {
        return ssh_key(it, folder);
    }
    let mut entry = Entry {
        title: it.str("name")?.to_owned(),
        notes: it.str("notes")?.into(),
        folder,
        ..Entry::default()
    };
    for (i, id) in it.list("collectionIds")?.iter().enumerate() {
        let name = id
            .as_str()
            .and_then(|id| groups.collections.get(id))
            .ok_or_else(|| it.err(format!("`collectionIds[{i}]` names no collection")))?;
        entry.field("collection", name);
    }
    match kind {
        1 => {
            let login = it.obj("login")?;
            entry.username = login.str("username")?.to_owned();
            entry.password = login.str("password")?.into();
            entry.totp = login.str("totp")?.into();
            for (i, uri) in login.list("uris")?.iter().enumerate() {
                let uri = it.child(format!("login.uris[{i}]."), uri)?;
                entry.urls.push(uri.str("uri")?.to_owned());
            }
        }
        2 => {}
        3 => {
            let card = it.obj("card")?;
            for (name, hidden) in CARD {
                entry.push_field(name, card.str(name)?, hidden);
            }
        }
        4 => {
            let identity = it.obj("identity")?;
            for (name, hidden) in IDENTITY {
                entry.push_field(name, identity.str(name)?, hidden);
            }
            for name in identity.keys() {
                if !IDENTITY.iter().any(|(known, _)| *known == name) {
                    entry.field(name, identity.str(name)?);
                }
            }
        }
        other => return Err(it.err(format!("unknown item type {other}"))),
    }
    for (i, field) in it.list("fields")?.iter().enumerate() {
        let field = it.child(format!("fields[{i}]."), field)?;
        let hidden = match field.u64_or("type", 0)? {
            0 | 2 => false,
            1 => true,
            3 => continue,
            other => return Err(field.err(format!("unknown field type {other}"))),
        };
        entry.fields.push(CustomField {
            name: field.str("name")?.to_owned(),
            value: field.str("value")?.into(),
            hidden,
        });
    }
    entry.flag("favorite", it.bool("favorite")?);
    Ok(entry.into_item())
}

/// A type 5 item.
fn ssh_key(it: &Obj<'_>, folder: String) -> Result<ItemData, ImportError> {
    let key = it.obj("sshKey")?;
    let private = key.str("privateKey")?;
    if private.trim().is_empty() {
        return Err(it.err("`sshKey.privateKey` is missing".into()));
    }
    Ok(ItemData::Key(CryptoKey {
        label: it.str("name")?.to_owned(),
        key_type: key_type(private, key.str("publicKey")?).to_owned(),
        private_key: private.as_bytes().into(),
        folder,
        ..CryptoKey::default()
    }))
}

/// The key type named by an OpenSSH public key's algorithm, or else by the
/// private key's PEM header.
fn key_type(private: &str, public: &str) -> &'static str {
    let by_public = match public.split_whitespace().next().unwrap_or("") {
        "ssh-ed25519" => Some("ed25519"),
        "sk-ssh-ed25519@openssh.com" => Some("ed25519-sk"),
        "ssh-rsa" => Some("rsa"),
        "ssh-dss" => Some("dsa"),
        "ecdsa-sha2-nistp256" => Some("p256"),
        "ecdsa-sha2-nistp384" => Some("p384"),
        "ecdsa-sha2-nistp521" => Some("p521"),
        "sk-ecdsa-sha2-nistp256@openssh.com" => Some("p256-sk"),
        _ => None,
    };
    by_public.unwrap_or_else(|| {
        let header = private
            .trim_start()
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .trim_start_matches("-----BEGIN ")
            .trim_end_matches("PRIVATE KEY-----")
            .trim();
        match header {
            "OPENSSH" => "openssh",
            "RSA" => "rsa",
            "EC" => "ec",
            "DSA" => "dsa",
            "" => "pkcs8",
            "ENCRYPTED" => "pkcs8-encrypted",
            _ => "ssh",
        }
    })
}

/// A JSON object inside item `index`, with the path that leads to it, so
/// that errors name the field but never its value.
struct Obj<'v> {
    index: usize,
    path: String,
    map: Option<&'v Map<String, Value>>,
}

impl<'v> Obj<'v> {
    fn root(index: usize, value: &'v Value) -> Result<Self, ImportError> {
        let root = Obj {
            index,
            path: String::new(),
            map: None,
        };
        root.child(String::new(), value)
    }

    /// `value` (an object, or null for an empty one) at `path`.
    fn child(&self, path: String, value: &'v Value) -> Result<Obj<'v>, ImportError> {
        let map = match value {
            Value::Object(map) => Some(map),
            Value::Null => None,
            _ => {
                let what = path.trim_end_matches('.');
                let what = if what.is_empty() { "the item" } else { what };
                return Err(self.err(format!("`{what}` is not an object")));
            }
        };
        Ok(Obj {
            index: self.index,
            path,
            map,
        })
    }

    fn err(&self, reason: String) -> ImportError {
        ImportError::InvalidItem {
            format: FORMAT,
            index: self.index,
            reason,
        }
    }

    fn wrong(&self, key: &str, what: &str) -> ImportError {
        self.err(format!("`{}{key}` is not {what}", self.path))
    }

    fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    fn keys(&self) -> impl Iterator<Item = &'v str> {
        self.map
            .into_iter()
            .flat_map(|m| m.keys().map(String::as_str))
    }

    /// A string (absent or null: `""`).
    fn str(&self, key: &str) -> Result<&'v str, ImportError> {
        match self.get(key) {
            None => Ok(""),
            Some(v) => v.as_str().ok_or_else(|| self.wrong(key, "a string")),
        }
    }

    /// A boolean (absent or null: false).
    fn bool(&self, key: &str) -> Result<bool, ImportError> {
        match self.get(key) {
            None => Ok(false),
            Some(v) => v.as_bool().ok_or_else(|| self.wrong(key, "true or false")),
        }
    }

    /// A required non-negative integer.
    fn u64(&self, key: &str) -> Result<u64, ImportError> {
        self.get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| self.wrong(key, "a number"))
    }

    /// A non-negative integer (absent or null: `default`).
    fn u64_or(&self, key: &str, default: u64) -> Result<u64, ImportError> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.u64(key),
        }
    }

    /// An object (absent or null: empty).
    fn obj(&self, key: &str) -> Result<Obj<'v>, ImportError> {
        match self.get(key) {
            None => Ok(Obj {
                index: self.index,
                path: format!("{}{key}.", self.path),
                map: None,
            }),
            Some(v) => self.child(format!("{}{key}.", self.path), v),
        }
    }

    /// A list (absent or null: empty).
    fn list(&self, key: &str) -> Result<&'v [Value], ImportError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(v) => v
                .as_array()
                .map(Vec::as_slice)
                .ok_or_else(|| self.wrong(key, "a list")),
        }
    }
}
