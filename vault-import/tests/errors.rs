//! The malformed fixtures give the right error at the right place, and no
//! error message quotes a value from its file.

mod common;

use common::{assert_quotes_nothing, fixture};
use vault_import::{Format, ImportError, parse};

#[test]
fn bitwarden_semantic_errors_name_the_item_not_its_content() {
    let cases = [
        (
            r#"{"items": [{"type": 1}, {"type": 9, "name": "bw-secret-title"}]}"#,
            1,
            "unknown item type 9",
        ),
        (
            r#"{"items": [{"type": 1, "login": {"password": 42}}]}"#,
            0,
            "`login.password` is not a string",
        ),
        (
            r#"{"items": [{"type": 1, "folderId": "nope"}]}"#,
            0,
            "`folderId` names no folder",
        ),
        (
            r#"{"items": [{"type": 5, "name": "k", "sshKey": {}}]}"#,
            0,
            "`sshKey.privateKey` is missing",
        ),
        (
            r#"{"items": [{"name": "bw-secret-title"}]}"#,
            0,
            "`type` is not a number",
        ),
        (
            r#"{"items": [{"type": 2, "fields": [{"type": 7, "value": "bw-secret"}]}]}"#,
            0,
            "unknown field type 7",
        ),
    ];
    for (json, index, reason) in cases {
        let err = parse(Format::BitwardenJson, json.as_bytes()).unwrap_err();
        let ImportError::InvalidItem { index: got, .. } = &err else {
            panic!("{json}: {err:?}");
        };
        assert_eq!(*got, index, "{json}");
        let msg = err.to_string();
        assert!(msg.starts_with("bitwarden-json: items["), "{msg}");
        assert!(msg.contains(reason), "{msg}");
        assert!(
            !msg.contains("bw-secret") && !msg.contains("42") && !msg.contains("nope"),
            "{msg}"
        );
    }
    let err = parse(Format::BitwardenJson, br#"{"folders": []}"#).unwrap_err();
    assert!(matches!(err, ImportError::BadDocument { .. }), "{err:?}");
}

#[test]
fn bitwarden_encrypted_export_is_refused() {
    let err = parse(Format::BitwardenJson, &fixture("bitwarden-encrypted.json")).unwrap_err();
    assert!(matches!(err, ImportError::Encrypted), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("encrypted") && msg.contains("unencrypted"),
        "{msg}"
    );
    assert!(!msg.contains("2."), "{msg}");
}

#[test]
fn bitwarden_syntax_error_has_its_line() {
    let err = parse(Format::BitwardenJson, &fixture("bitwarden-bad.json")).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Syntax {
                line: 9,
                column: 7,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert_eq!(
        msg,
        "bitwarden-json: line 9, column 7: invalid JSON (expected `,` or `}`)"
    );
}

#[test]
fn onepassword_bad_flag_names_the_column() {
    let csv = "Title,Username,Password,Favorite\nA,op-u,op-flag-pw,maybe\n";
    let err = parse(Format::OnePasswordCsv, csv.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Malformed {
                line: 2,
                record: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("Favorite") && !msg.contains("maybe"), "{msg}");
}

#[test]
fn chrome_missing_column() {
    let err = parse(Format::ChromeCsv, &fixture("chrome-missing-column.csv")).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::MissingColumn {
                format: Format::ChromeCsv,
                column: "password"
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "chrome-csv: the header has no `password` column"
    );
}

#[test]
fn keepassxc_bad_row_has_its_line_and_quotes_nothing() {
    let input = fixture("keepassxc-bad-row.csv");
    let err = parse(Format::KeepassxcCsv, &input).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Malformed {
                format: Format::KeepassxcCsv,
                line: 5,
                record: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert_eq!(
        msg,
        "keepassxc-csv: line 5 (record 3): 5 fields where the header has 10"
    );
    assert_quotes_nothing(&msg, &input);
}

#[test]
fn errors_never_quote_the_file() {
    let cases: [(Format, &[u8]); 4] = [
        (Format::KeepassxcCsv, &fixture("keepassxc-bad-row.csv")),
        (Format::BitwardenJson, &fixture("bitwarden-bad.json")),
        (Format::BitwardenJson, &fixture("bitwarden-encrypted.json")),
        (Format::ChromeCsv, &fixture("chrome-missing-column.csv")),
    ];
    for (format, input) in cases {
        let msg = parse(format, input).unwrap_err().to_string();
        assert!(msg.starts_with(format.name()), "{msg}");
        assert_quotes_nothing(&msg, input);
    }
    // A password with JSON syntax damage right after it.
    let json = br#"{"items": [{"type": 1, "login": {"password": "bw-leak-check" "x"}}]}"#;
    let msg = parse(Format::BitwardenJson, json).unwrap_err().to_string();
    assert!(!msg.contains("leak"), "{msg}");
}

#[test]
fn not_utf8_names_the_line() {
    let mut csv = b"name,url,username,password\na,,b,c\nd,,e,".to_vec();
    csv.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let err = parse(Format::ChromeCsv, &csv).unwrap_err();
    assert!(
        matches!(err, ImportError::NotUtf8 { line: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn empty_files() {
    for format in Format::ALL {
        for input in [&b""[..], b"  \n", "\u{feff}".as_bytes()] {
            let err = parse(format, input).unwrap_err();
            assert!(
                matches!(err, ImportError::Empty { .. }),
                "{format}: {err:?}"
            );
        }
    }
    // A header alone is an export with no items.
    assert!(
        parse(Format::ChromeCsv, b"name,url,username,password\n")
            .unwrap()
            .is_empty()
    );
}
