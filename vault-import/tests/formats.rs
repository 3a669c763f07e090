//! Every format's fixture parsed into exactly the items listed in
//! `tests/fixtures/README.md`, and the layouts each format tolerates.

mod common;

use common::{assert_items, field, fixture, genp, hidden, in_folder, inet};
use vault_core::item::{CryptoKey, GenericPassword, ItemData};
use vault_import::{Format, parse};

#[test]
fn keepassxc_fixture() {
    let items = parse(Format::KeepassxcCsv, &fixture("keepassxc.csv")).unwrap();
    let want = [
        in_folder(
            inet(
                "Forgejo (work)",
                "kx-alice",
                "kx-Forgejo-7f3!",
                "https://git.kx-example.org:8443/alice/repos?tab=all",
                ("git.kx-example.org", "https", Some(8443), "/alice/repos"),
                "Self-hosted forge",
                "",
                vec![],
            ),
            "Work",
        ),
        in_folder(
            inet(
                "Fastmail",
                "alice@kx-example.org",
                "kx-say \"hi\", then, leave",
                "https://www.fastmail.com/",
                ("www.fastmail.com", "https", None, ""),
                "Recovery codes:\n1111-2222\n3333-4444",
                "otpauth://totp/Fastmail:alice%40kx-example.org?secret=JBSWY3DPEHPK3PXP&issuer=Fastmail",
                vec![],
            ),
            "Email",
        ),
        in_folder(
            inet(
                "Café Zürich Bank ✓",
                "kx-bob-müller",
                "kx-ünïcödé-🔑-Paß",
                "bank.kx-example.ch/login",
                ("bank.kx-example.ch", "https", None, "/login"),
                "",
                "",
                vec![],
            ),
            "Finance",
        ),
        in_folder(
            genp(
                "Home NAS",
                "admin",
                "kx-nas-Secret-42",
                "No URL on this one; the NAS is on the lab bench.",
                vec![],
            ),
            "",
        ),
        in_folder(
            inet(
                "Router admin",
                "root",
                "kx-r0uter-pw",
                "http://192.168.1.1:8080/admin",
                ("192.168.1.1", "http", Some(8080), "/admin"),
                "",
                "",
                vec![],
            ),
            "Network",
        ),
        in_folder(
            inet(
                "Android companion app",
                "kx-droid",
                "kx-droid-pw-9",
                "androidapp://com.kxexample.companion",
                ("com.kxexample.companion", "androidapp", None, ""),
                "",
                "JBSWY3DPEHPK3PXP",
                vec![],
            ),
            "Dev/Mobile",
        ),
        in_folder(
            genp(
                "SSH passphrase",
                "kx-carol",
                "kx-ssh-passphrase",
                "",
                vec![hidden("totp", "GEZDGNBVGY3TQOJQ")],
            ),
            "",
        ),
    ];
    assert_items(&items, &want);
}

#[test]
fn keepassxc_before_2_6_has_six_columns() {
    let csv = "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\"\n\
               \"Root/Old\",\"Legacy\",\"kx-old\",\"kx-old-pw\",\"https://old.kx-example.org\",\"n\"\n";
    let items = parse(Format::KeepassxcCsv, csv.as_bytes()).unwrap();
    let want = in_folder(
        inet(
            "Legacy",
            "kx-old",
            "kx-old-pw",
            "https://old.kx-example.org",
            ("old.kx-example.org", "https", None, ""),
            "n",
            "",
            vec![],
        ),
        "Old",
    );
    assert_items(&items, &[want]);
}

#[test]
fn bitwarden_fixture() {
    let items = parse(Format::BitwardenJson, &fixture("bitwarden.json")).unwrap();
    let ItemData::Inet(mut github) = in_folder(
        inet(
            "GitHub (bw)",
            "bw-octocat",
            "bw-Gh\"quote\", comma\nnewline",
            "https://github.com/login",
            ("github.com", "https", None, "/login"),
            "Org owner account",
            "otpauth://totp/GitHub:bw-octocat?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=GitHub",
            vec![
                field("Recovery email", "bw-recovery@example.net"),
                hidden("Backup PIN", "bw-pin-8642"),
                field("2FA enabled", "true"),
                field("favorite", "true"),
            ],
        ),
        "Work/Dev",
    ) else {
        unreachable!()
    };
    github.uris.push("https://gist.github.com/".into());
    let private_key = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
        QyNTUxOQAAACAemgj7o7CEGq6Zz2EqG9o8ndw2SpDSdho//2G24gpwVAAAAJhNP0RZTT9E\n\
        WQAAAAtzc2gtZWQyNTUxOQAAACAemgj7o7CEGq6Zz2EqG9o8ndw2SpDSdho//2G24gpwVA\n\
        AAAEBOuQy6RKtZ3zABF7kezFq5G502tmG4TdQfc+Dx+g42dh6aCPujsIQarpnPYSob2jyd\n\
        3DZKkNJ2Gj//YbbiCnBUAAAAFWRlcGxveUBidy1leGFtcGxlLmRldg==\n\
        -----END OPENSSH PRIVATE KEY-----\n";
    let want = [
        ItemData::Inet(github),
        inet(
            "Intranet Portal Ω",
            "bw-ωmega",
            "bw-Ωmega-Pa55",
            "intranet.bw-example.net:8443/portal/home",
            (
                "intranet.bw-example.net",
                "https",
                Some(8443),
                "/portal/home",
            ),
            "",
            "",
            vec![],
        ),
        in_folder(
            genp(
                "Wi-Fi Büro",
                "",
                "bw-wlan-Κωδικός",
                "SSID: Buero-5G",
                vec![],
            ),
            "Home",
        ),
        in_folder(
            genp(
                "Recovery kit ✓",
                "",
                "",
                "Seed words:\nalpha bravo charlie\n\"keep offline\", always",
                vec![],
            ),
            "Home",
        ),
        genp(
            "Visa Débito",
            "",
            "",
            "",
            vec![
                field("cardholderName", "Alice Bw-Card"),
                field("brand", "Visa"),
                hidden("number", "4111111111111111"),
                field("expMonth", "7"),
                field("expYear", "2031"),
                hidden("code", "737"),
            ],
        ),
        genp(
            "Passport Alice",
            "",
            "",
            "",
            vec![
                field("title", "Ms"),
                field("firstName", "Alice"),
                field("lastName", "Bw-Ident"),
                field("address1", "1 Rue de l'Exemple"),
                field("city", "Genève"),
                field("postalCode", "1201"),
                field("country", "CH"),
                field("email", "alice@bw-example.net"),
                hidden("ssn", "756.1234.5678.97"),
                field("username", "alice-bw"),
                hidden("passportNumber", "X1234567"),
            ],
        ),
        ItemData::Key(CryptoKey {
            label: "Deploy key (bw)".into(),
            key_type: "ed25519".into(),
            private_key: private_key.as_bytes().into(),
            folder: "Work/Dev".into(),
            ..CryptoKey::default()
        }),
    ];
    assert_items(&items, &want);
}

#[test]
fn bitwarden_organization_export_names_collections() {
    let json = r#"{
      "encrypted": false,
      "collections": [{"id": "c1", "organizationId": "o1", "name": "Ops/Shared", "externalId": null}],
      "items": [{"id": "i1", "organizationId": "o1", "folderId": null, "type": 1,
                 "name": "Shared DB", "notes": null, "favorite": false,
                 "login": {"uris": [{"match": null, "uri": "postgres://db.org-example.net:5433/prod"}],
                           "username": "org-dba", "password": "org-db-pw", "totp": null},
                 "collectionIds": ["c1"]}]
    }"#;
    let items = parse(Format::BitwardenJson, json.as_bytes()).unwrap();
    let want = inet(
        "Shared DB",
        "org-dba",
        "org-db-pw",
        "postgres://db.org-example.net:5433/prod",
        ("db.org-example.net", "postgres", Some(5433), "/prod"),
        "",
        "",
        vec![field("collection", "Ops/Shared")],
    );
    assert_items(&items, &[want]);
}

#[test]
fn onepassword_fixture() {
    let items = parse(Format::OnePasswordCsv, &fixture("1password.csv")).unwrap();
    let want = [
        in_folder(
            inet(
                "Dropbox (1P)",
                "op-carol@example.com",
                "op-Dr0pb0x!",
                "https://www.dropbox.com/login",
                ("www.dropbox.com", "https", None, "/login"),
                "",
                "otpauth://totp/Dropbox:op-carol%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Dropbox",
                vec![field("tags", "cloud,personal"), field("favorite", "true")],
            ),
            "cloud",
        ),
        in_folder(
            inet(
                "Ñandú Tienda",
                "op-ñandú",
                "op-pa,ss\"word",
                "tienda.op-example.es",
                ("tienda.op-example.es", "https", None, ""),
                "Pedido nº 42\nentrega los martes",
                "",
                vec![field("tags", "shopping")],
            ),
            "shopping",
        ),
        inet(
            "Old Forum",
            "op-carol",
            "op-forum-old",
            "https://forum.op-example.org:4443/u/carol",
            ("forum.op-example.org", "https", Some(4443), "/u/carol"),
            "Archived because the forum closed.",
            "",
            vec![field("archived", "true")],
        ),
        in_folder(
            genp(
                "Server Console",
                "op-root",
                "op-console-9!",
                "Rack B7",
                vec![field("tags", "infra")],
            ),
            "infra",
        ),
        genp(
            "Authenticator only",
            "op-totp-user",
            "",
            "",
            vec![
                field("favorite", "true"),
                hidden("totp", "JBSWY3DPEHPK3PXP"),
            ],
        ),
        ItemData::Genp(GenericPassword {
            service: "(untitled)".into(),
            account: "op-nameless".into(),
            password: "op-nameless-pw".into(),
            ..GenericPassword::default()
        }),
    ];
    assert_items(&items, &want);
}

#[test]
fn chrome_fixture() {
    let items = parse(Format::ChromeCsv, &fixture("chrome.csv")).unwrap();
    let want = [
        inet(
            "accounts.google.com",
            "ch-dave@gmail.com",
            "ch-G00gle-Pw",
            "https://accounts.google.com/signin/v2/identifier",
            (
                "accounts.google.com",
                "https",
                None,
                "/signin/v2/identifier",
            ),
            "",
            "",
            vec![],
        ),
        inet(
            "login.ch-example.com",
            "ch-dave",
            "ch-p@ss, \"quoted\"",
            "https://login.ch-example.com:9443/sso/start",
            ("login.ch-example.com", "https", Some(9443), "/sso/start"),
            "",
            "",
            vec![],
        ),
        inet(
            "com.chexample.android",
            "ch-droid",
            "ch-android-pw",
            "android://AbCdEf123456==@com.chexample.android/",
            ("com.chexample.android", "android", None, ""),
            "",
            "",
            vec![],
        ),
        inet(
            "日本語.jp",
            "ch-ユーザー",
            "ch-パスワード-✓",
            "https://日本語.jp/ログイン",
            (
                "xn--wgv71a119e.jp",
                "https",
                None,
                "/%E3%83%AD%E3%82%B0%E3%82%A4%E3%83%B3",
            ),
            "Notiz: \"wichtig\"\nzweite Zeile, mit Komma",
            "",
            vec![],
        ),
        inet(
            "router.ch-home",
            "ch-admin",
            "ch-router-pw",
            "192.168.0.1",
            ("192.168.0.1", "https", None, ""),
            "no scheme",
            "",
            vec![],
        ),
        genp(
            "Local app",
            "ch-local",
            "ch-local-pw",
            "app without URL",
            vec![],
        ),
    ];
    assert_items(&items, &want);
}

#[test]
fn chrome_without_note_column() {
    let csv = "name,url,username,password\nx,https://x.ch-example.com,ch-u,ch-pw\n";
    let items = parse(Format::ChromeCsv, csv.as_bytes()).unwrap();
    let want = inet(
        "x",
        "ch-u",
        "ch-pw",
        "https://x.ch-example.com",
        ("x.ch-example.com", "https", None, ""),
        "",
        "",
        vec![],
    );
    assert_items(&items, &[want]);
}

#[test]
fn shuffled_columns_extra_columns_and_a_bom() {
    let csv = "\u{feff}NOTES,url,Extra,password,Title,group,USERNAME\r\n\
               n1,https://a.kx-example.org/p,zzz,kx-pw1,T1,Root/G,kx-u1\r\n";
    let items = parse(Format::KeepassxcCsv, csv.as_bytes()).unwrap();
    let want = in_folder(
        inet(
            "T1",
            "kx-u1",
            "kx-pw1",
            "https://a.kx-example.org/p",
            ("a.kx-example.org", "https", None, "/p"),
            "n1",
            "",
            vec![],
        ),
        "G",
    );
    assert_items(&items, &[want]);

    let mut with_bom = "\u{feff}".as_bytes().to_vec();
    with_bom.extend(fixture("chrome.csv"));
    assert_eq!(
        parse(Format::ChromeCsv, &with_bom).unwrap(),
        parse(Format::ChromeCsv, &fixture("chrome.csv")).unwrap()
    );
    let mut with_bom = "\u{feff}".as_bytes().to_vec();
    with_bom.extend(fixture("bitwarden.json"));
    assert_eq!(parse(Format::BitwardenJson, &with_bom).unwrap().len(), 7);
}

#[test]
fn ten_thousand_chrome_rows() {
    let mut csv = String::from("name,url,username,password,note\n");
    for i in 0..10_000 {
        csv.push_str(&format!(
            "site{i}.example,https://site{i}.example:{port}/login,user{i},\"pw,{i}\"\"x\",\"note\n{i}\"\n",
            port = 1024 + i
        ));
    }
    let items = parse(Format::ChromeCsv, csv.as_bytes()).unwrap();
    assert_eq!(items.len(), 10_000);
    let ItemData::Inet(last) = &items[9_999] else {
        panic!("not inet")
    };
    assert_eq!(last.server, "site9999.example");
    assert_eq!(last.port, Some(11_023));
    assert_eq!(last.password.expose(), "pw,9999\"x");
    assert_eq!(last.notes.expose(), "note\n9999");
}

#[test]
fn format_names() {
    let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "bitwarden-json",
            "keepassxc-csv",
            "1password-csv",
            "chrome-csv"
        ]
    );
    for f in Format::ALL {
        assert_eq!(Format::from_name(f.name()), Some(f));
        assert_eq!(f.to_string(), f.name());
    }
    assert_eq!(Format::from_name("lastpass-csv"), None);
}
