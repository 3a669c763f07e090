//! The format-neutral record every parser fills in, and the one rule that
//! turns it into an internet or generic password.

use crate::site::site;
use vault_core::item::{CustomField, GenericPassword, InternetPassword, ItemData};
use vault_core::secret::SecretString;

/// The service of a generic password with neither title nor URL.
pub(crate) const UNTITLED: &str = "(untitled)";

/// One login-like record, as read from any format.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// Title or name; becomes the label (and a generic password's service).
    pub title: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: SecretString,
    /// Notes.
    pub notes: SecretString,
    /// TOTP, as given (an `otpauth://` URI or a bare secret).
    pub totp: SecretString,
    /// Every URL of the record, as written, in order.
    pub urls: Vec<String>,
    /// Custom fields, in the order they are to be stored.
    pub fields: Vec<CustomField>,
    /// The folder path (`Work/Email`), already in
    /// [`folder_path`](vault_core::item::folder_path)'s form; empty for none.
    pub folder: String,
}

impl Entry {
    /// Adds a visible custom field, unless `value` is empty.
    pub fn field(&mut self, name: &str, value: &str) {
        self.push_field(name, value, false);
    }

    /// Adds a custom field, unless `value` is empty.
    pub fn push_field(&mut self, name: &str, value: &str, hidden: bool) {
        if !value.is_empty() {
            self.fields.push(CustomField {
                name: name.to_owned(),
                value: value.into(),
                hidden,
            });
        }
    }

    /// Adds `name` = `true` when `set`.
    pub fn flag(&mut self, name: &str, set: bool) {
        if set {
            self.field(name, "true");
        }
    }

    /// The item: an internet password if some URL has a host (the first
    /// such URL gives the server), otherwise a generic password.
    pub fn into_item(self) -> ItemData {
        let urls: Vec<String> = self
            .urls
            .into_iter()
            .filter(|u| !u.trim().is_empty())
            .collect();
        if let Some(site) = urls.iter().find_map(|u| site(u)) {
            return ItemData::Inet(InternetPassword {
                server: site.server,
                account: self.username,
                protocol: site.protocol,
                port: site.port,
                path: site.path,
                label: self.title,
                notes: self.notes,
                password: self.password,
                totp: self.totp,
                uris: urls,
                custom_fields: self.fields,
                folder: self.folder,
            });
        }
        let service = if !self.title.trim().is_empty() {
            self.title.clone()
        } else if let Some(url) = urls.first() {
            url.clone()
        } else {
            UNTITLED.to_owned()
        };
        let mut fields = self.fields;
        if !self.totp.is_empty() {
            fields.push(CustomField {
                name: "totp".to_owned(),
                value: self.totp.clone(),
                hidden: true,
            });
        }
        for url in urls {
            fields.push(CustomField {
                name: "url".to_owned(),
                value: url.into(),
                hidden: false,
            });
        }
        ItemData::Genp(GenericPassword {
            service,
            account: self.username,
            label: self.title,
            notes: self.notes,
            password: self.password,
            custom_fields: fields,
            folder: self.folder,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_host_makes_an_internet_password() {
        let e = Entry {
            title: "T".into(),
            urls: vec!["".into(), "not a url".into(), "https://b.example/x".into()],
            folder: "Work/Web".into(),
            ..Default::default()
        };
        let ItemData::Inet(i) = e.into_item() else {
            panic!("expected inet")
        };
        assert_eq!(i.server, "b.example");
        assert_eq!(i.folder, "Work/Web");
        assert_eq!(i.uris, ["not a url", "https://b.example/x"]);
    }

    #[test]
    fn otherwise_a_generic_password_keeping_totp_and_urls_as_fields() {
        let e = Entry {
            title: String::new(),
            totp: "SEED".into(),
            urls: vec!["not a url".into()],
            folder: "Notes".into(),
            ..Default::default()
        };
        let ItemData::Genp(g) = e.into_item() else {
            panic!("expected genp")
        };
        assert_eq!(g.service, "not a url");
        assert_eq!(g.folder, "Notes");
        assert_eq!(g.custom_fields.len(), 2);
        assert_eq!(g.custom_fields[0].name, "totp");
        assert!(g.custom_fields[0].hidden);
        assert_eq!(g.custom_fields[1].name, "url");

        let ItemData::Genp(g) = Entry::default().into_item() else {
            panic!("expected genp")
        };
        assert_eq!(g.service, UNTITLED);
        assert!(g.custom_fields.is_empty());
    }
}
