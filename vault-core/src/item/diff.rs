//! What one version of an item changes against another, field by field,
//! for a person deciding on a version (a quarantined record): the values
//! of the fields that are not secret, only the names of the others.

use super::{CryptoKey, GenericPassword, InternetPassword, ItemData};

/// One field that differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field's name, as in [`merge`](super::merge): `server`,
    /// `account`, `password`, ...; every custom field is reported as one
    /// `custom_fields` change, since a custom field's name can itself be
    /// sensitive.
    pub field: &'static str,
    /// The value before and after, for a field that is not secret
    /// (server, service, relying party, account, user name, label,
    /// folder, protocol, port, path, URIs, key type). `None` for a secret
    /// (password, notes, TOTP seed, private key, custom fields) and for a
    /// binary field (application tag, credential id, user handle): those
    /// are only named.
    pub values: Option<(String, String)>,
}

/// The fields `after` changes against `before`; against an empty item of
/// its class when there is no `before` (or one of another class), so a
/// new item lists every field it sets.
pub fn changes(before: Option<&ItemData>, after: &ItemData) -> Vec<FieldChange> {
    let mut d = Diff(Vec::new());
    match (before, after) {
        (Some(ItemData::Inet(b)), ItemData::Inet(a)) => d.inet(b, a),
        (_, ItemData::Inet(a)) => d.inet(&InternetPassword::default(), a),
        (Some(ItemData::Genp(b)), ItemData::Genp(a)) => d.genp(b, a),
        (_, ItemData::Genp(a)) => d.genp(&GenericPassword::default(), a),
        (Some(ItemData::Key(b)), ItemData::Key(a)) => d.key(b, a),
        (_, ItemData::Key(a)) => d.key(&CryptoKey::default(), a),
    }
    d.0
}

struct Diff(Vec<FieldChange>);

impl Diff {
    /// A field shown with its values.
    fn shown(&mut self, field: &'static str, before: &str, after: &str) {
        if before != after {
            self.0.push(FieldChange {
                field,
                values: Some((before.to_owned(), after.to_owned())),
            });
        }
    }

    /// A field only named.
    fn named<T: PartialEq + ?Sized>(&mut self, field: &'static str, before: &T, after: &T) {
        if before != after {
            self.0.push(FieldChange {
                field,
                values: None,
            });
        }
    }

    fn inet(&mut self, b: &InternetPassword, a: &InternetPassword) {
        let port = |p: Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
        self.shown("server", &b.server, &a.server);
        self.shown("account", &b.account, &a.account);
        self.shown("protocol", &b.protocol, &a.protocol);
        self.shown("port", &port(b.port), &port(a.port));
        self.shown("path", &b.path, &a.path);
        self.shown("label", &b.label, &a.label);
        self.named("notes", &b.notes, &a.notes);
        self.named("password", &b.password, &a.password);
        self.named("totp", &b.totp, &a.totp);
        self.shown("uris", &b.uris.join(" "), &a.uris.join(" "));
        self.named("custom_fields", &b.custom_fields[..], &a.custom_fields[..]);
        self.shown("folder", &b.folder, &a.folder);
    }

    fn genp(&mut self, b: &GenericPassword, a: &GenericPassword) {
        self.shown("service", &b.service, &a.service);
        self.shown("account", &b.account, &a.account);
        self.shown("label", &b.label, &a.label);
        self.named("notes", &b.notes, &a.notes);
        self.named("password", &b.password, &a.password);
        self.named("custom_fields", &b.custom_fields[..], &a.custom_fields[..]);
        self.shown("folder", &b.folder, &a.folder);
    }

    fn key(&mut self, b: &CryptoKey, a: &CryptoKey) {
        self.shown("label", &b.label, &a.label);
        self.shown("key_type", &b.key_type, &a.key_type);
        self.named("application_tag", &b.application_tag, &a.application_tag);
        self.named("private_key", &b.private_key, &a.private_key);
        self.shown("rp_id", &b.rp_id, &a.rp_id);
        self.named("credential_id", &b.credential_id, &a.credential_id);
        self.named("user_handle", &b.user_handle, &a.user_handle);
        self.shown("user_name", &b.user_name, &a.user_name);
        self.shown("folder", &b.folder, &a.folder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(server: &str, password: &str) -> ItemData {
        ItemData::Inet(InternetPassword {
            server: server.into(),
            account: "alice".into(),
            password: password.into(),
            ..Default::default()
        })
    }

    #[test]
    fn secrets_are_named_and_the_rest_shown() {
        let c = changes(Some(&inet("a.example", "p1")), &inet("b.example", "p2"));
        assert_eq!(
            c,
            vec![
                FieldChange {
                    field: "server",
                    values: Some(("a.example".into(), "b.example".into())),
                },
                FieldChange {
                    field: "password",
                    values: None,
                },
            ]
        );
        let text = format!("{c:?}");
        assert!(!text.contains("p1") && !text.contains("p2"), "{text}");
    }

    #[test]
    fn a_folder_move_is_shown_with_its_values() {
        let mut before = inet("a.example", "p1");
        before.set_folder("Work".into());
        let mut after = before.clone();
        after.set_folder("Work/Email".into());
        let c = changes(Some(&before), &after);
        assert_eq!(
            c,
            vec![FieldChange {
                field: "folder",
                values: Some(("Work".into(), "Work/Email".into())),
            }]
        );
        let key = |folder: &str| {
            ItemData::Key(CryptoKey {
                folder: folder.into(),
                ..Default::default()
            })
        };
        let c = changes(Some(&key("")), &key("Keys"));
        assert_eq!(c[0].values, Some((String::new(), "Keys".into())));
    }

    #[test]
    fn a_new_item_lists_what_it_sets() {
        let c = changes(None, &inet("a.example", "p1"));
        let fields: Vec<&str> = c.iter().map(|f| f.field).collect();
        assert_eq!(fields, ["server", "account", "password"]);
        assert!(changes(Some(&inet("a", "p")), &inet("a", "p")).is_empty());
    }
}
