//! One password on every platform: typed decomposed (NFD, as macOS and iOS
//! keyboards may give it) or composed (NFC, as Linux and Windows give it),
//! a master or export password opens what the other form made.
#![allow(clippy::unwrap_used)]

mod common;

use common::Env;

/// "Café-Ångström-ñ", composed and decomposed.
const NFC: &str = "Caf\u{e9}-\u{c5}ngstr\u{f6}m-\u{f1}";
const NFD: &str = "Cafe\u{301}-A\u{30a}ngstro\u{308}m-n\u{303}";

#[test]
fn either_form_of_a_password_opens_what_the_other_made() {
    assert_ne!(NFC.as_bytes(), NFD.as_bytes());
    let src = Env::new();
    std::fs::write(&src.pw_file, format!("{NFD}\n")).unwrap();
    src.cmd().arg("init").assert().success();
    src.add_inet("github.com", "alice", "gh-secret");

    // The same password from a keyboard that composes.
    src.cmd_nopw()
        .env("VAULT_PASSWORD", NFC)
        .args(["get", "github.com"])
        .assert()
        .success()
        .stdout("gh-secret\n");

    // An export sealed with one form imports with the other.
    let out = src.dir.path().join("export.json");
    src.cmd()
        .env("VAULT_EXPORT_PASSWORD", NFC)
        .args(["export", "--output", out.to_str().unwrap()])
        .assert()
        .success();
    let dst = Env::init();
    dst.cmd()
        .env("VAULT_EXPORT_PASSWORD", NFD)
        .args(["import", "--format", "vault-json", out.to_str().unwrap()])
        .assert()
        .success();
    dst.cmd()
        .args(["get", "github.com"])
        .assert()
        .success()
        .stdout("gh-secret\n");

    // A wrong password is still refused.
    src.cmd_nopw()
        .env("VAULT_PASSWORD", "Cafe-Angstrom-n")
        .args(["get", "github.com"])
        .assert()
        .code(3);
}
