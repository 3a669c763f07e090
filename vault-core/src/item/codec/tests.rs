//! Tests of the item codec: round trips, padding, malformed input.

use super::*;
use proptest::prelude::*;

fn sample_inet() -> ItemData {
    ItemData::Inet(InternetPassword {
        server: "example.com".into(),
        account: "ålice".into(),
        protocol: "https".into(),
        port: Some(0),
        path: "/login".into(),
        label: "Example 🔑".into(),
        notes: "multi\nline".into(),
        password: "p".repeat(200).into(),
        totp: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
        uris: vec!["https://a".into(), String::new(), "https://b".into()],
        custom_fields: vec![CustomField {
            name: "pin".into(),
            value: "1234".into(),
            hidden: true,
        }],
        folder: "Work/Email".into(),
    })
}

#[test]
fn round_trip_keeps_every_field_and_pads_to_64() {
    let d = sample_inet();
    let enc = encode(ItemClass::Inet, Some(&d), 5, -6, &[(99, vec![1, 2])]).unwrap();
    assert_eq!(enc.len() % PAD_TO, 0);
    let dec = decode(&enc).unwrap();
    assert_eq!(
        (dec.class, dec.tomb, dec.created_ms, dec.modified_ms),
        (ItemClass::Inet, false, 5, -6)
    );
    // An empty URI in the middle is kept (it is a list element).
    assert_eq!(dec.data, d);
    assert_eq!(dec.unknown, vec![(99, vec![1, 2])]);
}

#[test]
fn password_length_is_hidden_within_a_bucket() {
    let mk = |n: usize| {
        let d = ItemData::Genp(GenericPassword {
            service: "s".into(),
            password: "x".repeat(n).into(),
            ..Default::default()
        });
        encode(ItemClass::Genp, Some(&d), 0, 0, &[]).unwrap().len()
    };
    assert_eq!(mk(1), mk(30));
}

#[test]
fn summary_covers_exactly_the_non_secret_attributes() {
    let enc = encode(ItemClass::Inet, Some(&sample_inet()), 5, 6, &[]).unwrap();
    let s = summarize(&enc).unwrap();
    assert_eq!(
        (s.name.as_str(), s.account.as_str(), s.label.as_str()),
        ("example.com", "ålice", "Example 🔑")
    );
    assert_eq!(s.folder, "Work/Email");
    assert_eq!(s.modified_ms, 6);
    for searchable in [
        "example.com",
        "ålice",
        "https",
        "/login",
        "example 🔑",
        "https://a",
        "pin",
        "work/email",
    ] {
        assert!(
            s.text.contains(searchable),
            "{searchable} missing from {:?}",
            s.text
        );
    }
    for secret in ["multi", "ppp", "otpauth", "1234"] {
        assert!(!s.text.contains(secret), "{secret} must not be searchable");
    }
}

/// A plaintext body written field by field: the header, then `fields`.
fn plaintext(class: ItemClass, fields: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = vec![class as u8, 0];
    out.extend_from_slice(&7i64.to_le_bytes());
    out.extend_from_slice(&8i64.to_le_bytes());
    for (t, v) in fields {
        write_field(&mut out, *t, v);
    }
    out.push(0x80);
    out.resize(out.len().div_ceil(PAD_TO) * PAD_TO, 0);
    out
}

#[test]
fn every_class_keeps_its_folder_and_older_items_have_none() {
    let folder = || "Personal/Bank".to_owned();
    let items = [
        ItemData::Inet(InternetPassword {
            server: "bank.example".into(),
            folder: folder(),
            ..Default::default()
        }),
        ItemData::Genp(GenericPassword {
            service: "wifi".into(),
            folder: folder(),
            ..Default::default()
        }),
        ItemData::Key(CryptoKey {
            label: "deploy".into(),
            folder: folder(),
            ..Default::default()
        }),
    ];
    for d in items {
        let enc = encode(d.class(), Some(&d), 1, 2, &[]).unwrap();
        let dec = decode(&enc).unwrap();
        assert_eq!(dec.data.folder(), "Personal/Bank");
        assert_eq!(dec.data, d);
        assert!(dec.unknown.is_empty(), "the folder is a known field");
        assert_eq!(summarize(&enc).unwrap().folder, "Personal/Bank");
    }
    // An item written before folders existed: no folder tag at all.
    let old = plaintext(ItemClass::Genp, &[(tag::SERVICE, b"wifi")]);
    let dec = decode(&old).unwrap();
    assert_eq!(dec.data.folder(), "");
    assert!(dec.unknown.is_empty());
    assert_eq!(summarize(&old).unwrap().folder, "");
    // Two folders in one item are malformed, like any repeated field.
    let twice = plaintext(ItemClass::Genp, &[(tag::FOLDER, b"a"), (tag::FOLDER, b"b")]);
    assert_eq!(
        decode(&twice).unwrap_err(),
        DecryptError::Malformed("a field appears twice")
    );
}

/// The folder's bytes on the wire are pinned: tag 6, after the class's
/// other fields, on every class.
#[test]
fn the_folder_is_tag_6() {
    let d = ItemData::Genp(GenericPassword {
        service: "s".into(),
        folder: "W/E".into(),
        ..Default::default()
    });
    let enc = encode(ItemClass::Genp, Some(&d), 1, 2, &[]).unwrap();
    let mut want = vec![2u8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
    want.extend_from_slice(&[32, 1, b's', 6, 3, b'W', b'/', b'E', 0x80]);
    want.resize(PAD_TO, 0);
    assert_eq!(&enc[..], &want[..]);
}

/// A device that predates a field (as one before folders predates tag 6)
/// reads it as unknown; its edit must write it back byte for byte, or the
/// newer device's value would be lost the first time an older one edits.
#[test]
fn a_field_this_version_does_not_know_survives_an_edit() {
    const FUTURE: u8 = 14;
    let written = plaintext(
        ItemClass::Inet,
        &[
            (tag::SERVER, b"example.com"),
            (FUTURE, b"from a newer device"),
            (tag::PASSWORD, b"old"),
            (tag::FOLDER, b"Work"),
        ],
    );
    let dec = decode(&written).unwrap();
    assert_eq!(dec.unknown, vec![(FUTURE, b"from a newer device".to_vec())]);
    assert_eq!(dec.data.folder(), "Work");
    // The edit: a new password, the unknown fields passed back as
    // `Item::unknown` carries them.
    let mut data = dec.data;
    if let ItemData::Inet(i) = &mut data {
        i.password = "new".into();
    }
    let again = encode(ItemClass::Inet, Some(&data), 7, 9, &dec.unknown).unwrap();
    let back = decode(&again).unwrap();
    assert_eq!(back.unknown, dec.unknown, "the unknown field was dropped");
    assert_eq!(back.data, data);
    // Search ignores what it does not know, and still reads the rest.
    let s = summarize(&again).unwrap();
    assert_eq!(
        (s.name.as_str(), s.folder.as_str()),
        ("example.com", "Work")
    );
    assert!(!s.text.contains("newer device"), "{:?}", s.text);
    // A tombstone carries no attributes, so no unknown fields either.
    let tomb = encode(ItemClass::Inet, None, 7, 9, &dec.unknown).unwrap();
    assert!(decode(&tomb).unwrap().unknown.is_empty());
}

#[test]
fn tombstone_round_trip() {
    let enc = encode(ItemClass::Keys, None, 1, 2, &[]).unwrap();
    let dec = decode(&enc).unwrap();
    assert!(dec.tomb);
    assert_eq!(dec.data, ItemData::Key(CryptoKey::default()));
}

#[test]
fn malformed_inputs_are_typed_errors() {
    assert!(matches!(decode(&[]), Err(DecryptError::Malformed(_))));
    assert!(matches!(decode(&[0x80]), Err(DecryptError::Malformed(_))));
    let mut ok = encode(ItemClass::Genp, None, 0, 0, &[]).unwrap().to_vec();
    ok[0] = 7;
    assert_eq!(
        decode(&ok).unwrap_err(),
        DecryptError::Malformed("unknown item class")
    );
    // Duplicate singular field.
    let mut body = vec![2u8, 0];
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&[tag::SERVICE, 1, b'a', tag::SERVICE, 1, b'b', 0x80]);
    assert_eq!(
        decode(&body).unwrap_err(),
        DecryptError::Malformed("a field appears twice")
    );
    // Length past the end.
    let mut body = vec![2u8, 0];
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&[tag::SERVICE, 9, b'a', 0x80]);
    assert!(decode(&body).is_err());
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn genp_round_trips(service in ".*", account in ".*", password in ".*", notes in ".*") {
        let d = ItemData::Genp(GenericPassword {
            service, account, password: password.into(), notes: notes.into(), ..Default::default()
        });
        let enc = encode(ItemClass::Genp, Some(&d), 1, 1, &[]).unwrap();
        prop_assert_eq!(decode(&enc).unwrap().data, d);
    }
}
