//! The form's round trips for every class and its parse errors.

use super::*;

fn full_inet() -> ItemData {
    ItemData::Inet(InternetPassword {
        server: "example.com".into(),
        account: "alice".into(),
        protocol: "https".into(),
        port: Some(8443),
        path: "/login".into(),
        label: "Work: main".into(),
        folder: "Work/Email".into(),
        // Spaces at both ends, a colon, and a lone '|' elsewhere.
        password: " pw: with spaces ".into(),
        totp: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
        notes: "first line\n\n  indented third\n# not a comment\n".into(),
        uris: vec![
            "https://example.com/a".into(),
            "https://example.com/b".into(),
        ],
        custom_fields: vec![
            CustomField {
                name: "pin".into(),
                value: "1234".into(),
                hidden: true,
            },
            CustomField {
                name: "team: core".replace(": ", ":"),
                value: "|".into(),
                hidden: false,
            },
            CustomField {
                name: "empty".into(),
                value: "".into(),
                hidden: false,
            },
        ],
    })
}

fn full_genp() -> ItemData {
    ItemData::Genp(GenericPassword {
        service: "wifi".into(),
        account: "home".into(),
        label: "".into(),
        folder: String::new(),
        notes: "one line".into(),
        password: "two\nlines".into(),
        custom_fields: vec![CustomField {
            name: "ssid".into(),
            value: "  spaced  ".into(),
            hidden: false,
        }],
    })
}

fn text_key() -> ItemData {
    ItemData::Key(CryptoKey {
        label: "deploy".into(),
        folder: "Servers".into(),
        key_type: "ed25519".into(),
        application_tag: b"tag".to_vec(),
        private_key: b"-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----\n"
            .to_vec()
            .into(),
        rp_id: "example.com".into(),
        credential_id: vec![0, 1, 2, 255],
        user_handle: vec![9; 16],
        user_name: "alice".into(),
    })
}

fn binary_key() -> ItemData {
    ItemData::Key(CryptoKey {
        label: "raw".into(),
        private_key: vec![0xff, 0, 0x80, 1].into(),
        ..Default::default()
    })
}

fn empties() -> [ItemData; 3] {
    [
        ItemData::Inet(InternetPassword::default()),
        ItemData::Genp(GenericPassword::default()),
        ItemData::Key(CryptoKey::default()),
    ]
}

#[test]
fn every_class_round_trips() {
    let mut all = vec![full_inet(), full_genp(), text_key(), binary_key()];
    all.extend(empties());
    for data in all {
        let text = render(&data, "title").unwrap();
        assert!(text.starts_with("# vault edit: title\n"), "{}", *text);
        let back = parse(&text, data.class()).unwrap_or_else(|e| panic!("{e}: {}", *text));
        assert_eq!(back, data, "{}", *text);
        assert!(!is_empty(&text));
    }
}

#[test]
fn the_form_reads_as_documented() {
    let text = render(&full_inet(), "t").unwrap();
    for line in [
        "server: example.com\n",
        "port: 8443\n",
        "password:  pw: with spaces \n",
        "url: https://example.com/a\nurl: https://example.com/b\n",
        "notes: |\n  first line\n  \n    indented third\n  # not a comment\n  \n",
        "hidden.pin: 1234\n",
        "field.team:core: |\n  |\n",
        "field.empty:\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{}", *text);
    }
    let key = render(&binary_key(), "t").unwrap();
    assert!(key.contains("private-key.base64: /wCAAQ==\n"), "{}", *key);
}

#[test]
fn edits_parse_and_left_out_keys_clear() {
    let text = "# a comment\n\nserver: example.org\naccount: bob\n\
                password: new\nurl: https://x.example\nurl:\nnotes: |\n  a\n  b\n\n\
                port: 22\nfield.pin: 1\nhidden.otp: 2\n";
    let ItemData::Inet(i) = parse(text, ItemClass::Inet).unwrap() else {
        panic!("not inet");
    };
    assert_eq!(i.server, "example.org");
    assert_eq!(i.password.expose(), "new");
    assert_eq!(i.uris, ["https://x.example"]);
    assert_eq!(i.notes.expose(), "a\nb");
    assert_eq!(i.port, Some(22));
    assert_eq!(i.label, "");
    assert_eq!(i.protocol, "");
    assert_eq!(i.custom_fields.len(), 2);
    assert!(!i.custom_fields[0].hidden && i.custom_fields[1].hidden);
    // A bare seed is a TOTP value too.
    assert!(parse("totp: JBSW Y3DP EHPK 3PXP\n", ItemClass::Inet).is_ok());
}

#[test]
fn errors_name_the_line_and_never_a_secret() {
    let cases: [(&str, ItemClass, &str); 11] = [
        (
            "server: a\ncolour: red\n",
            ItemClass::Inet,
            "line 2: unknown key \"colour\"",
        ),
        (
            "port: abc\n",
            ItemClass::Inet,
            "line 1: port: \"abc\" is not a number",
        ),
        ("port: 0\n", ItemClass::Inet, "line 1: port"),
        ("port: 70000\n", ItemClass::Inet, "line 1: port"),
        (
            "label: a\n# c\nlabel: b\n",
            ItemClass::Genp,
            "line 3: \"label\" is given twice",
        ),
        (
            "field.x: 1\nhidden.x: 2\n",
            ItemClass::Inet,
            "line 2: \"hidden.x\" is given twice",
        ),
        (
            "totp: not-base32-SECRETVALUE!\n",
            ItemClass::Inet,
            "line 1: totp: not an otpauth",
        ),
        (
            "server example.com\n",
            ItemClass::Inet,
            "line 1: expected \"key: value\"",
        ),
        (
            "  stray\n",
            ItemClass::Genp,
            "line 1: an indented line outside a block",
        ),
        (
            "server: x\n",
            ItemClass::Genp,
            "line 1: unknown key \"server\" (a genp item has: service",
        ),
        (
            "credential-id: %%%\n",
            ItemClass::Keys,
            "line 1: credential-id: not valid base64",
        ),
    ];
    for (text, class, want) in cases {
        let err = parse(text, class).unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: {err}");
        assert!(!err.contains("SECRETVALUE"), "{err}");
    }
    assert!(
        parse(
            "private-key: a\nprivate-key.base64: YQ==\n",
            ItemClass::Keys
        )
        .unwrap_err()
        .to_string()
        .contains("given twice")
    );
    assert!(
        parse("field.x: 1\n", ItemClass::Keys)
            .unwrap_err()
            .to_string()
            .contains("unknown key")
    );
}

#[test]
fn unwritable_field_names_are_refused() {
    let data = ItemData::Genp(GenericPassword {
        custom_fields: vec![CustomField {
            name: "a: b".into(),
            value: "v".into(),
            hidden: false,
        }],
        ..Default::default()
    });
    let err = render(&data, "t").unwrap_err().to_string();
    assert!(err.contains("--field"), "{err}");
}

#[test]
fn empty_forms_and_error_lines() {
    assert!(is_empty(""));
    assert!(is_empty("# only\n\n# comments\n"));
    assert!(!is_empty("# c\nlabel:\n"));
    let text = "# error: line 1: bad\n# keep\nport: abc\n";
    assert_eq!(*strip_errors(text), "# keep\nport: abc\n");
}
