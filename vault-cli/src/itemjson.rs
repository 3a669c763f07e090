//! Items as JSON: `--json` output and the `vault-json` export format. One
//! shape for every class; attributes a class lacks are left out.

use crate::error::CliError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use vault_core::item::{
    CryptoKey, CustomField, GenericPassword, InternetPassword, Item, ItemClass, ItemData,
    folder_path,
};

/// The CLI's name of a class (`key`, not the table's `keys`).
pub fn class_name(class: ItemClass) -> &'static str {
    match class {
        ItemClass::Inet => "inet",
        ItemClass::Genp => "genp",
        ItemClass::Keys => "key",
    }
}

/// One custom field.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldJson {
    /// Its name.
    pub name: String,
    /// Its value (left out when secrets are hidden and the field is hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether it is a secret.
    #[serde(default)]
    pub hidden: bool,
}

/// An item, or an item version, as JSON. `Debug` shows no attribute: the
/// secrets are plain strings here.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ItemJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    pub class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gencount: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// Base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_tag: Option<String>,
    /// Base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// Base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// Base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// A `/`-separated path; left out when the item has none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub folder: String,
}

impl std::fmt::Debug for FieldJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldJson")
            .field("name", &self.name)
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ItemJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemJson")
            .field("uuid", &self.uuid)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl ItemJson {
    /// A stored item; secrets (password, notes, TOTP, hidden fields, key
    /// bytes) only if `secrets`.
    pub fn from_item(item: &Item, secrets: bool) -> Self {
        let mut j = Self::from_data(&item.data, secrets);
        j.uuid = Some(item.uuid.to_string());
        j.gencount = Some(item.gencount);
        j.created_ms = Some(item.created_ms);
        j.modified_ms = Some(item.modified_ms);
        j
    }

    /// Attributes alone.
    pub fn from_data(data: &ItemData, secrets: bool) -> Self {
        let secret = |s: &vault_core::secret::SecretString| {
            (secrets && !s.expose().is_empty()).then(|| s.expose().to_owned())
        };
        let fields = |fs: &[CustomField]| {
            fs.iter()
                .map(|f| FieldJson {
                    name: f.name.clone(),
                    value: (secrets || !f.hidden).then(|| f.value.expose().to_owned()),
                    hidden: f.hidden,
                })
                .collect()
        };
        let b64 = |b: &[u8]| (!b.is_empty()).then(|| B64.encode(b));
        let folder = data.folder().to_owned();
        match data {
            ItemData::Inet(i) => Self {
                class: "inet".into(),
                server: Some(i.server.clone()),
                account: Some(i.account.clone()),
                protocol: some(&i.protocol),
                port: i.port,
                path: some(&i.path),
                label: i.label.clone(),
                password: secret(&i.password),
                notes: secret(&i.notes),
                totp: secret(&i.totp),
                uris: i.uris.clone(),
                fields: fields(&i.custom_fields),
                folder,
                ..Self::default()
            },
            ItemData::Genp(g) => Self {
                class: "genp".into(),
                service: Some(g.service.clone()),
                account: Some(g.account.clone()),
                label: g.label.clone(),
                password: secret(&g.password),
                notes: secret(&g.notes),
                fields: fields(&g.custom_fields),
                folder,
                ..Self::default()
            },
            ItemData::Key(k) => Self {
                class: "key".into(),
                label: k.label.clone(),
                key_type: some(&k.key_type),
                application_tag: b64(&k.application_tag),
                private_key: if secrets {
                    b64(k.private_key.expose())
                } else {
                    None
                },
                rp_id: some(&k.rp_id),
                credential_id: b64(&k.credential_id),
                user_handle: b64(&k.user_handle),
                user_name: some(&k.user_name),
                folder,
                ..Self::default()
            },
        }
    }

    /// Back to attributes (for `vault import --format vault-json`).
    pub fn into_data(self) -> Result<ItemData, CliError> {
        let bad = |what: &str| CliError::Usage(format!("{what} is not valid base64"));
        let unb64 = |s: Option<String>, what: &str| -> Result<Vec<u8>, CliError> {
            s.map(|s| B64.decode(s).map_err(|_| bad(what)))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let fields = self
            .fields
            .into_iter()
            .map(|f| CustomField {
                name: f.name,
                value: f.value.unwrap_or_default().into(),
                hidden: f.hidden,
            })
            .collect();
        let s = |o: Option<String>| o.unwrap_or_default();
        let folder = folder_path(&self.folder);
        Ok(match self.class.as_str() {
            "inet" => ItemData::Inet(InternetPassword {
                server: s(self.server),
                account: s(self.account),
                protocol: s(self.protocol),
                port: self.port,
                path: s(self.path),
                label: self.label,
                notes: s(self.notes).into(),
                password: s(self.password).into(),
                totp: s(self.totp).into(),
                uris: self.uris,
                custom_fields: fields,
                folder,
            }),
            "genp" => ItemData::Genp(GenericPassword {
                service: s(self.service),
                account: s(self.account),
                label: self.label,
                notes: s(self.notes).into(),
                password: s(self.password).into(),
                custom_fields: fields,
                folder,
            }),
            "key" => ItemData::Key(CryptoKey {
                label: self.label,
                key_type: s(self.key_type),
                application_tag: unb64(self.application_tag, "application_tag")?,
                private_key: unb64(self.private_key, "private_key")?.into(),
                rp_id: s(self.rp_id),
                credential_id: unb64(self.credential_id, "credential_id")?,
                user_handle: unb64(self.user_handle, "user_handle")?,
                user_name: s(self.user_name),
                folder,
            }),
            other => return Err(CliError::Usage(format!("unknown item class {other:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_round_trips_with_secrets() {
        let items = [
            ItemData::Inet(InternetPassword {
                server: "example.com".into(),
                account: "alice".into(),
                protocol: "https".into(),
                port: Some(8443),
                path: "/login".into(),
                label: "Example".into(),
                notes: "n".into(),
                password: "pw".into(),
                totp: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
                uris: vec!["https://example.com/login".into()],
                custom_fields: vec![CustomField {
                    name: "pin".into(),
                    value: "1234".into(),
                    hidden: true,
                }],
                folder: "Work/Email".into(),
            }),
            ItemData::Genp(GenericPassword {
                service: "wifi".into(),
                account: "home".into(),
                password: "x".into(),
                folder: "Home".into(),
                ..Default::default()
            }),
            ItemData::Key(CryptoKey {
                label: "k".into(),
                folder: "Keys/SSH".into(),
                key_type: "ed25519".into(),
                application_tag: b"tag".to_vec(),
                private_key: b"\x00\x01secret".to_vec().into(),
                ..Default::default()
            }),
        ];
        for data in items {
            let json = serde_json::to_string(&ItemJson::from_data(&data, true)).unwrap();
            let back: ItemJson = serde_json::from_str(&json).unwrap();
            assert_eq!(back.into_data().unwrap(), data);
        }
    }

    #[test]
    fn without_secrets_nothing_secret_is_written() {
        let data = ItemData::Inet(InternetPassword {
            server: "example.com".into(),
            password: "pw-distinct".into(),
            notes: "notes-distinct".into(),
            totp: "totp-distinct".into(),
            custom_fields: vec![CustomField {
                name: "pin".into(),
                value: "pin-distinct".into(),
                hidden: true,
            }],
            ..Default::default()
        });
        let json = serde_json::to_string(&ItemJson::from_data(&data, false)).unwrap();
        assert!(!json.contains("distinct"), "{json}");
        assert!(json.contains("\"pin\""));
    }

    #[test]
    fn debug_shows_no_attribute() {
        let data = ItemData::Genp(GenericPassword {
            service: "svc".into(),
            password: "pw-distinct".into(),
            notes: "notes-distinct".into(),
            custom_fields: vec![CustomField {
                name: "pin".into(),
                value: "pin-distinct".into(),
                hidden: false,
            }],
            ..Default::default()
        });
        let j = ItemJson::from_data(&data, true);
        let text = format!("{j:?} {:?}", j.fields);
        assert!(!text.contains("distinct"), "{text}");
        assert!(text.contains("genp") && text.contains("pin"), "{text}");
    }

    #[test]
    fn folders_are_written_when_set_and_read_in_one_form() {
        let data = ItemData::Genp(GenericPassword {
            service: "s".into(),
            ..Default::default()
        });
        let json = serde_json::to_string(&ItemJson::from_data(&data, false)).unwrap();
        assert!(!json.contains("folder"), "{json}");
        let j: ItemJson =
            serde_json::from_str(r#"{"class":"genp","service":"s","folder":"/Work// Email/"}"#)
                .unwrap();
        assert_eq!(j.into_data().unwrap().folder(), "Work/Email");
    }

    #[test]
    fn unknown_classes_and_keys_are_refused() {
        assert!(serde_json::from_str::<ItemJson>(r#"{"class":"inet","colour":"red"}"#).is_err());
        let j: ItemJson = serde_json::from_str(r#"{"class":"card"}"#).unwrap();
        assert!(j.into_data().is_err());
    }
}
