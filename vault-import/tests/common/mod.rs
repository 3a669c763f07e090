//! Helpers shared by the integration tests: fixtures, item builders and
//! the check that an error message quotes nothing from its file.

#![allow(dead_code)]

use vault_core::item::{CustomField, GenericPassword, InternetPassword, ItemData};

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn field(name: &str, value: &str) -> CustomField {
    CustomField {
        name: name.into(),
        value: value.into(),
        hidden: false,
    }
}

pub fn hidden(name: &str, value: &str) -> CustomField {
    CustomField {
        hidden: true,
        ..field(name, value)
    }
}

/// An internet password: label, account, password and URL given, the
/// site attributes as the URL should give them.
#[allow(clippy::too_many_arguments)]
pub fn inet(
    label: &str,
    account: &str,
    password: &str,
    uri: &str,
    (server, protocol, port, path): (&str, &str, Option<u16>, &str),
    notes: &str,
    totp: &str,
    custom_fields: Vec<CustomField>,
) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: server.into(),
        account: account.into(),
        protocol: protocol.into(),
        port,
        path: path.into(),
        label: label.into(),
        notes: notes.into(),
        password: password.into(),
        totp: totp.into(),
        uris: vec![uri.into()],
        custom_fields,
        folder: String::new(),
    })
}

pub fn genp(
    label: &str,
    account: &str,
    password: &str,
    notes: &str,
    custom_fields: Vec<CustomField>,
) -> ItemData {
    ItemData::Genp(GenericPassword {
        service: label.into(),
        account: account.into(),
        label: label.into(),
        notes: notes.into(),
        password: password.into(),
        custom_fields,
        folder: String::new(),
    })
}

/// `item` in `folder`.
pub fn in_folder(mut item: ItemData, folder: &str) -> ItemData {
    item.set_folder(folder.into());
    item
}

/// The secrets `Debug` redacts, exposed, so a mismatch shows which differs.
pub fn secrets(item: &ItemData) -> Vec<String> {
    let (fields, mut out) = match item {
        ItemData::Inet(i) => (
            &i.custom_fields,
            vec![&i.password, &i.notes, &i.totp]
                .into_iter()
                .map(|s| s.expose().to_owned())
                .collect::<Vec<_>>(),
        ),
        ItemData::Genp(g) => (
            &g.custom_fields,
            vec![g.password.expose().to_owned(), g.notes.expose().to_owned()],
        ),
        ItemData::Key(k) => (
            &Vec::new(),
            vec![String::from_utf8_lossy(k.private_key.expose()).into_owned()],
        ),
    };
    out.extend(
        fields
            .iter()
            .map(|f| format!("{}={}", f.name, f.value.expose())),
    );
    out
}

pub fn assert_items(got: &[ItemData], want: &[ItemData]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(secrets(g), secrets(w), "item {i}");
        assert_eq!(g, w, "item {i}");
    }
    assert_eq!(got.len(), want.len());
}

/// No field value of `input` (CSV fields, JSON strings) appears in `msg`;
/// single words (column names, JSON keys, `true`) are not values.
pub fn assert_quotes_nothing(msg: &str, input: &[u8]) {
    assert!(!msg.contains('\n'), "one line: {msg}");
    let text = String::from_utf8_lossy(input);
    for value in text.split(['"', ',', '\n']) {
        let value = value.trim();
        if value.len() >= 4 && !value.chars().all(|c| c.is_ascii_alphabetic()) {
            assert!(!msg.contains(value), "{msg:?} quotes {value:?}");
        }
    }
}
