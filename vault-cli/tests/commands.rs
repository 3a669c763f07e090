//! Every command through the built binary: exit code, the key lines of
//! output, and the parsed `--json`.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn init_creates_once_and_status_reports_it() {
    let env = Env::new();
    let j = env.json(&["init"]);
    assert_eq!(j["kdf_iterations"], 600_000);
    assert_eq!(j["path"], env.vault.to_str().unwrap());
    let s = env.json(&["status"]);
    assert_eq!(s["locked"], true);
    assert_eq!(s["items"]["total"], 0);
    assert_eq!(s["key_epoch"], 1);
    assert_eq!(s["vault_id"], j["vault_id"]);
    env.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("state:     locked"))
        .stdout(predicate::str::contains("600000 iterations"));
    // A second init refuses and leaves the file alone.
    let before = env.snapshot();
    env.cmd()
        .arg("init")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("refusing to overwrite"));
    assert_eq!(env.snapshot(), before);
}

#[test]
fn init_refuses_a_weak_kdf() {
    let env = Env::new();
    env.cmd()
        .args(["init", "--kdf-iterations", "1000"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("600000").or(predicate::str::contains("600,000")));
    assert!(!env.vault.exists());
}

#[test]
fn add_get_by_uuid_prefix_name_label_and_fields() {
    let env = Env::init();
    let out = env
        .cmd()
        .args([
            "add",
            "inet",
            "--server",
            "github.com",
            "--account",
            "alice",
            "--protocol",
            "https",
            "--port",
            "8443",
            "--path",
            "/login",
            "--label",
            "GitHub work",
            "--notes",
            "recovery 1234",
            "--url",
            "https://github.com/login",
            "--field",
            "pin=4321",
            "--password-stdin",
        ])
        .write_stdin("hunter2-gh\n")
        .assert()
        .success();
    let uuid = String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(uuid.len(), 36, "{uuid}");

    assert_eq!(env.ok(&["get", &uuid]), "hunter2-gh\n");
    assert_eq!(env.ok(&["get", &uuid[..8]]), "hunter2-gh\n");
    assert_eq!(env.ok(&["get", "GitHub.com"]), "hunter2-gh\n");
    assert_eq!(env.ok(&["get", "GitHub work"]), "hunter2-gh\n");
    assert_eq!(
        env.ok(&["get", "github.com", "--field", "account"]),
        "alice\n"
    );
    assert_eq!(env.ok(&["get", "github.com", "--field", "pin"]), "4321\n");
    assert_eq!(
        env.ok(&["get", "github.com", "--field", "notes"]),
        "recovery 1234\n"
    );
    assert_eq!(
        env.ok(&["get", "github.com", "--field", "url"]),
        "https://github.com/login\n"
    );
    assert_eq!(env.ok(&["get", "github.com", "--field", "port"]), "8443\n");

    let j = env.json(&["get", "github.com"]);
    assert_eq!(j["uuid"], uuid.as_str());
    assert_eq!(j["class"], "inet");
    assert_eq!(j["server"], "github.com");
    assert_eq!(j["account"], "alice");
    assert_eq!(j["protocol"], "https");
    assert_eq!(j["port"], 8443);
    assert_eq!(j["path"], "/login");
    assert_eq!(j["label"], "GitHub work");
    assert_eq!(j["password"], "hunter2-gh");
    assert_eq!(j["gencount"], 1);
    assert_eq!(j["fields"][0]["name"], "pin");
    let f = env.json(&["get", "github.com", "--field", "pin"]);
    assert_eq!(f["value"], "4321");

    env.cmd()
        .args(["get", "github.com", "--field", "colour"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no field \"colour\""));
}

#[test]
fn add_genp_with_generated_password_and_gen() {
    let env = Env::init();
    let j = env.json(&[
        "add",
        "genp",
        "--service",
        "wifi",
        "--account",
        "home",
        "--generate",
        "32",
    ]);
    assert_eq!(j["generated"], true);
    let pw = env.ok(&["get", "wifi"]);
    assert_eq!(pw.trim_end().chars().count(), 32);
    let again = env.ok(&["get", j["uuid"].as_str().unwrap()]);
    assert_eq!(pw, again);

    let p = env.ok(&["gen", "--length", "30", "--no-symbols"]);
    assert_eq!(p.trim_end().len(), 30);
    assert!(p.trim_end().chars().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(p, env.ok(&["gen", "--length", "30", "--no-symbols"]));
    let g = env.json(&["gen", "--words", "6"]);
    assert!(is_eff_words(g["password"].as_str().unwrap(), 6), "{g}");
    assert_eq!(g["entropy_bits"], 77.0);
    env.cmd().args(["gen", "--length", "2"]).assert().code(2);
}

/// Whether `phrase` is `n` EFF long-list words joined by dashes. A few
/// words hold a dash themselves (t-shirt, yo-yo), so `n` need not be the
/// number of dash-separated parts.
fn is_eff_words(phrase: &str, n: usize) -> bool {
    let list: std::collections::HashSet<&str> = diceware_wordlists::Wordlist::EffLong
        .get_list()
        .iter()
        .copied()
        .collect();
    let parts: Vec<&str> = phrase.split('-').collect();
    // counts[i]: bit k set when parts[..i] can be k words.
    let mut counts = vec![0u128; parts.len() + 1];
    counts[0] = 1;
    for end in 1..=parts.len() {
        for start in 0..end {
            if counts[start] != 0 && list.contains(parts[start..end].join("-").as_str()) {
                counts[end] |= counts[start] << 1;
            }
        }
    }
    n < 128 && counts[parts.len()] & (1 << n) != 0
}

#[test]
fn eff_words_may_hold_a_dash() {
    assert!(is_eff_words("t-shirt-abacus", 2));
    assert!(!is_eff_words("t-shirt-abacus", 3));
    assert!(is_eff_words("abacus-abdomen", 2));
    assert!(!is_eff_words("abacus-notaword", 2));
}

#[test]
fn add_key_generated_and_from_file() {
    let env = Env::init();
    let j = env.json(&[
        "add",
        "key",
        "--label",
        "deploy",
        "--generate",
        "ed25519",
        "--tag",
        "ci",
    ]);
    let pem = env.ok(&["get", j["uuid"].as_str().unwrap()]);
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    assert_eq!(
        env.ok(&["get", "deploy", "--field", "key-type"]),
        "ed25519\n"
    );

    let file = env.dir.path().join("id_test");
    let text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n";
    std::fs::write(&file, text).unwrap();
    env.ok(&[
        "add",
        "key",
        "--label",
        "laptop ssh",
        "--from-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        env.ok(&["get", "laptop ssh", "--field", "private-key"]),
        text
    );
    assert_eq!(
        env.ok(&["get", "laptop ssh", "--field", "key-type"]),
        "openssh\n"
    );

    std::fs::write(&file, "not a key").unwrap();
    let before = env.snapshot();
    env.cmd()
        .args([
            "add",
            "key",
            "--label",
            "x",
            "--from-file",
            file.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a PEM or OpenSSH private key"));
    assert_eq!(env.snapshot(), before);
    env.cmd()
        .args(["add", "key", "--label", "x"])
        .assert()
        .code(2);
    let ls = env.json(&["ls", "--class", "key"]);
    assert_eq!(ls.as_array().unwrap().len(), 2);
}

#[test]
fn ls_and_search_show_no_secrets() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw-secret-1");
    env.add_inet("gitlab.com", "bob", "pw-secret-2");
    env.cmd()
        .args([
            "add",
            "genp",
            "--service",
            "wifi",
            "--account",
            "home",
            "--password-stdin",
        ])
        .write_stdin("pw-secret-3\n")
        .assert()
        .success();
    let ls = env.ok(&["ls"]);
    assert_eq!(ls.lines().count(), 3, "{ls}");
    assert!(ls.contains("github.com") && ls.contains("alice") && ls.contains("wifi"));
    assert!(!ls.contains("pw-secret"));
    let j = env.json(&["ls", "--class", "genp"]);
    assert_eq!(j.as_array().unwrap().len(), 1);
    assert_eq!(j[0]["name"], "wifi");
    assert_eq!(j[0]["class"], "genp");

    let s = env.json(&["search", "GIT"]);
    let names: Vec<_> = s
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["github.com", "gitlab.com"]);
    let human = env.ok(&["search", "bob"]);
    assert!(human.contains("gitlab.com") && !human.contains("github"));
    assert!(!env.ok(&["search", "pw-secret"]).contains("git"));
    assert_eq!(env.json(&["search", "pw-secret"]), serde_json::json!([]));
}

#[test]
fn edit_changes_fields_and_keeps_history() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "old-pass");
    env.ok(&["edit", &id[..6], "--label", "Work", "--field", "team=core"]);
    env.cmd()
        .args(["edit", "github.com", "--password-stdin"])
        .write_stdin("new-pass\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("version 3"));
    let j = env.json(&["get", &id]);
    assert_eq!(j["password"], "new-pass");
    assert_eq!(j["label"], "Work");
    assert_eq!(j["fields"][0]["value"], "core");
    assert_eq!(j["gencount"], 3);

    let h = env.json(&["history", "github.com"]);
    let versions = h.as_array().unwrap();
    assert_eq!(versions.len(), 3);
    assert!(
        versions.iter().all(|v| v["item"].get("password").is_none()),
        "{h}"
    );
    let h = env.json(&["history", "github.com", "--show-secrets"]);
    let old: Vec<_> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["item"]["password"].as_str().unwrap())
        .collect();
    assert_eq!(old, ["new-pass", "old-pass", "old-pass"]);
    let human = env.ok(&["history", "github.com"]);
    assert!(human.contains("gen 2") && human.contains("gen 1") && !human.contains("old-pass"));

    // A flag of another class, and no flag at all, are refused untouched.
    let before = env.snapshot();
    env.cmd()
        .args(["edit", &id, "--service", "x"])
        .assert()
        .code(2);
    // No flag opens the editor, which needs $EDITOR or a terminal.
    env.cmd()
        .args(["edit", &id])
        .env_remove("VISUAL")
        .env_remove("EDITOR")
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("$EDITOR"));
    env.cmd()
        .args(["edit", &id, "--remove-field", "nope"])
        .assert()
        .code(2);
    assert_eq!(env.snapshot(), before);
    env.ok(&["edit", &id, "--remove-field", "team", "--account", "alice2"]);
    assert_eq!(
        env.ok(&["get", "github.com", "--field", "account"]),
        "alice2\n"
    );
}

#[test]
fn rm_deletes_and_the_item_is_gone() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    env.add_inet("example.org", "bob", "pw2");
    env.cmd()
        .args(["rm", "github.com"])
        .assert()
        .success()
        .stdout(predicate::str::contains("deleted"));
    env.cmd().args(["get", &id]).assert().code(4);
    assert_eq!(env.json(&["status"])["items"]["total"], 1);
    let j = env.json(&["rm", "example.org"]);
    assert_eq!(j["deleted"], true);
    assert_eq!(env.json(&["ls"]), serde_json::json!([]));
}

#[test]
fn totp_prints_the_rfc_6238_code() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    env.ok(&[
        "edit",
        &id,
        "--totp",
        "otpauth://totp/GitHub:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=GitHub",
    ]);
    for _ in 0..3 {
        let j = env.json(&["totp", "github.com"]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code = j["code"].as_str().unwrap();
        assert_eq!(code.len(), 6);
        let left = j["seconds_left"].as_u64().unwrap();
        assert!((1..=30).contains(&left));
        let expected = rfc6238(now);
        if left > 2 {
            assert_eq!(code, expected);
            break;
        }
    }
    env.cmd()
        .args(["totp", "github.com"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"^\d{6} \(\d+s left\)\n$").unwrap());
    let other = env.add_inet("example.org", "bob", "pw");
    env.cmd()
        .args(["totp", &other])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no TOTP"));
}

/// RFC 6238 (HMAC-SHA1, 6 digits, 30 s) for the seed "12345678901234567890",
/// computed here independently of the CLI's library.
fn rfc6238(now: u64) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"12345678901234567890").unwrap();
    mac.update(&(now / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

#[test]
fn passwd_changes_the_password() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw");
    let new_file = env.dir.path().join("new-pw");
    std::fs::write(&new_file, "a brand new password\n").unwrap();
    env.cmd()
        .arg("passwd")
        .env("VAULT_NEW_PASSWORD_FILE", &new_file)
        .assert()
        .success()
        .stdout(predicate::str::contains("master password changed"));
    env.cmd().args(["get", "github.com"]).assert().code(3);
    env.cmd_nopw()
        .env("VAULT_PASSWORD_FILE", &new_file)
        .args(["get", "github.com"])
        .assert()
        .success()
        .stdout("pw\n");
}

#[test]
fn rotate_starts_a_new_epoch_and_items_still_open() {
    let env = Env::init();
    env.add_inet("github.com", "alice", "pw");
    let j = env.json(&["rotate"]);
    assert_eq!(j["key_epoch"], 2);
    assert_eq!(env.json(&["status"])["key_epoch"], 2);
    assert_eq!(env.ok(&["get", "github.com"]), "pw\n");
}

#[test]
fn quiet_and_help() {
    let env = Env::init();
    let out = env
        .cmd()
        .args([
            "-q",
            "add",
            "genp",
            "--service",
            "s",
            "--account",
            "a",
            "--generate",
        ])
        .assert()
        .success();
    assert!(out.get_output().stderr.is_empty());
    Env::new()
        .cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
    Env::new().cmd().arg("--version").assert().success();
}
