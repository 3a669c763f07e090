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
    assert_eq!(s.modified_ms, 6);
    for searchable in [
        "example.com",
        "ålice",
        "https",
        "/login",
        "example 🔑",
        "https://a",
        "pin",
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
