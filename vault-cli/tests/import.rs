//! `vault import` and `vault export` through the built binary: every
//! fixture record lands in the right attribute, duplicates are skipped,
//! bad files change nothing, and exports round-trip.
//! (Over 500 lines: one case per import format and its fixture, which read
//! best side by side; the shared helpers live in `common`.)
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns too

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vault-import/tests/fixtures/"
);
const XPW: &str = "VAULT_EXPORT_PASSWORD_FILE";

/// A fixture of vault-import's tests.
fn fx(name: &str) -> String {
    format!("{FIXTURES}{name}")
}

/// `vault import --format FORMAT FILE`.
fn import(env: &Env, format: &str, file: &str) -> assert_cmd::Command {
    let mut cmd = env.cmd();
    cmd.args(["import", "--format", format, file]);
    cmd
}

/// A visible custom field, as `--json` writes it.
fn f(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value, "hidden": false })
}

/// A hidden custom field.
fn h(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value, "hidden": true })
}

/// An item's `--json` form without what the vault assigns.
fn strip(mut item: Value) -> Value {
    for k in ["uuid", "gencount", "created_ms", "modified_ms"] {
        item.as_object_mut().unwrap().remove(k);
    }
    item
}

/// Every item of the vault, stripped, in a stable order.
fn all_items(env: &Env) -> Vec<Value> {
    let ls = env.json(&["ls"]);
    let mut items: Vec<Value> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|s| strip(env.json(&["get", s["uuid"].as_str().unwrap()])))
        .collect();
    items.sort_by_key(Value::to_string);
    items
}

fn total(env: &Env) -> u64 {
    env.json(&["status"])["items"]["total"].as_u64().unwrap()
}

/// Imports `file` (a fixture) and checks every record and the duplicate
/// handling, then imports it again from stdin into a second vault.
fn import_fixture(format: &str, file: &str, want: &[Value]) {
    let n = want.len();
    let env = Env::init();
    let j = env.json(&["import", "--format", format, file]);
    assert_eq!(
        j,
        json!({ "added": n, "skipped_duplicates": 0, "repeated_in_file": 0 })
    );
    for w in want {
        let q = w["server"]
            .as_str()
            .or(w["service"].as_str())
            .or(w["label"].as_str())
            .unwrap();
        let got = strip(env.json(&["get", q]));
        assert_eq!(&got, w, "{format}: {q}");
    }
    assert_eq!(env.json(&["ls"]).as_array().unwrap().len(), n);
    assert_eq!(total(&env), n as u64);

    // Again: every record is already there.
    let j = env.json(&["import", "--format", format, file]);
    assert_eq!(
        j,
        json!({ "added": 0, "skipped_duplicates": n, "repeated_in_file": 0 })
    );
    let line = format!("imported 0 items, skipped {n} already in the vault\n");
    import(&env, format, file).assert().success().stdout(line);
    assert_eq!(total(&env), n as u64);

    // From stdin into a fresh vault, with the human summary.
    let other = Env::init();
    let line = format!("imported {n} items, skipped 0 already in the vault\n");
    let mut cmd = import(&other, format, "-");
    cmd.write_stdin(std::fs::read(file).unwrap())
        .assert()
        .success()
        .stdout(line);
    assert_eq!(all_items(&other), all_items(&env));
}

#[test]
fn keepassxc_csv_every_record() {
    let want = [
        json!({"class": "inet", "server": "git.kx-example.org", "account": "kx-alice", "protocol": "https", "port": 8443,
               "path": "/alice/repos", "label": "Forgejo (work)", "password": "kx-Forgejo-7f3!", "notes": "Self-hosted forge",
               "uris": ["https://git.kx-example.org:8443/alice/repos?tab=all"], "folder": "Work"}),
        json!({"class": "inet", "server": "www.fastmail.com", "account": "alice@kx-example.org", "protocol": "https",
               "label": "Fastmail", "password": "kx-say \"hi\", then, leave", "notes": "Recovery codes:\n1111-2222\n3333-4444",
               "totp": "otpauth://totp/Fastmail:alice%40kx-example.org?secret=JBSWY3DPEHPK3PXP&issuer=Fastmail",
               "uris": ["https://www.fastmail.com/"], "folder": "Email"}),
        json!({"class": "inet", "server": "bank.kx-example.ch", "account": "kx-bob-müller", "protocol": "https", "path": "/login",
               "label": "Café Zürich Bank ✓", "password": "kx-ünïcödé-🔑-Paß", "uris": ["bank.kx-example.ch/login"],
               "folder": "Finance"}),
        json!({"class": "genp", "service": "Home NAS", "account": "admin", "label": "Home NAS", "password": "kx-nas-Secret-42",
               "notes": "No URL on this one; the NAS is on the lab bench."}),
        json!({"class": "inet", "server": "192.168.1.1", "account": "root", "protocol": "http", "port": 8080, "path": "/admin",
               "label": "Router admin", "password": "kx-r0uter-pw", "uris": ["http://192.168.1.1:8080/admin"],
               "folder": "Network"}),
        json!({"class": "inet", "server": "com.kxexample.companion", "account": "kx-droid", "protocol": "androidapp",
               "label": "Android companion app", "password": "kx-droid-pw-9", "totp": "JBSWY3DPEHPK3PXP",
               "uris": ["androidapp://com.kxexample.companion"], "folder": "Dev/Mobile"}),
        json!({"class": "genp", "service": "SSH passphrase", "account": "kx-carol", "label": "SSH passphrase",
               "password": "kx-ssh-passphrase", "fields": [h("totp", "GEZDGNBVGY3TQOJQ")]}),
    ];
    import_fixture("keepassxc-csv", &fx("keepassxc.csv"), &want);
}

#[test]
fn bitwarden_json_every_record() {
    use base64::Engine;
    let doc: Value = serde_json::from_slice(&std::fs::read(fx("bitwarden.json")).unwrap()).unwrap();
    let key_text = doc["items"][6]["sshKey"]["privateKey"].as_str().unwrap();
    assert!(key_text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key_text);
    let want = [
        json!({"class": "inet", "server": "github.com", "account": "bw-octocat", "protocol": "https", "path": "/login",
               "label": "GitHub (bw)", "password": "bw-Gh\"quote\", comma\nnewline", "notes": "Org owner account",
               "totp": "otpauth://totp/GitHub:bw-octocat?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=GitHub",
               "uris": ["https://github.com/login", "https://gist.github.com/"],
               "folder": "Work/Dev", "fields": [f("Recovery email", "bw-recovery@example.net"),
                          h("Backup PIN", "bw-pin-8642"), f("2FA enabled", "true"), f("favorite", "true")]}),
        json!({"class": "inet", "server": "intranet.bw-example.net", "account": "bw-ωmega", "protocol": "https", "port": 8443,
               "path": "/portal/home", "label": "Intranet Portal Ω", "password": "bw-Ωmega-Pa55",
               "uris": ["intranet.bw-example.net:8443/portal/home"]}),
        json!({"class": "genp", "service": "Wi-Fi Büro", "account": "", "label": "Wi-Fi Büro", "password": "bw-wlan-Κωδικός",
               "notes": "SSID: Buero-5G", "folder": "Home"}),
        json!({"class": "genp", "service": "Recovery kit ✓", "account": "", "label": "Recovery kit ✓",
               "notes": "Seed words:\nalpha bravo charlie\n\"keep offline\", always", "folder": "Home"}),
        json!({"class": "genp", "service": "Visa Débito", "account": "", "label": "Visa Débito",
               "fields": [f("cardholderName", "Alice Bw-Card"), f("brand", "Visa"), h("number", "4111111111111111"),
                          f("expMonth", "7"), f("expYear", "2031"), h("code", "737")]}),
        json!({"class": "genp", "service": "Passport Alice", "account": "", "label": "Passport Alice",
               "fields": [f("title", "Ms"), f("firstName", "Alice"), f("lastName", "Bw-Ident"),
                          f("address1", "1 Rue de l'Exemple"), f("city", "Genève"), f("postalCode", "1201"),
                          f("country", "CH"), f("email", "alice@bw-example.net"), h("ssn", "756.1234.5678.97"),
                          f("username", "alice-bw"), h("passportNumber", "X1234567")]}),
        json!({"class": "key", "label": "Deploy key (bw)", "key_type": "ed25519", "private_key": key_b64,
               "folder": "Work/Dev"}),
    ];
    import_fixture("bitwarden-json", &fx("bitwarden.json"), &want);
    // The key's text comes back as written.
    let env = Env::init();
    env.ok(&[
        "import",
        "--format",
        "bitwarden-json",
        &fx("bitwarden.json"),
    ]);
    assert_eq!(env.ok(&["get", "Deploy key (bw)"]), key_text);
}

#[test]
fn onepassword_csv_every_record() {
    let want = [
        json!({"class": "inet", "server": "www.dropbox.com", "account": "op-carol@example.com", "protocol": "https",
               "path": "/login", "label": "Dropbox (1P)", "password": "op-Dr0pb0x!",
               "totp": "otpauth://totp/Dropbox:op-carol%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Dropbox",
               "uris": ["https://www.dropbox.com/login"], "folder": "cloud", "fields": [f("tags", "cloud,personal"), f("favorite", "true")]}),
        json!({"class": "inet", "server": "tienda.op-example.es", "account": "op-ñandú", "protocol": "https",
               "label": "Ñandú Tienda", "password": "op-pa,ss\"word", "notes": "Pedido nº 42\nentrega los martes",
               "uris": ["tienda.op-example.es"], "folder": "shopping", "fields": [f("tags", "shopping")]}),
        json!({"class": "inet", "server": "forum.op-example.org", "account": "op-carol", "protocol": "https", "port": 4443,
               "path": "/u/carol", "label": "Old Forum", "password": "op-forum-old",
               "notes": "Archived because the forum closed.", "uris": ["https://forum.op-example.org:4443/u/carol"],
               "fields": [f("archived", "true")]}),
        json!({"class": "genp", "service": "Server Console", "account": "op-root", "label": "Server Console",
               "password": "op-console-9!", "notes": "Rack B7", "folder": "infra", "fields": [f("tags", "infra")]}),
        json!({"class": "genp", "service": "Authenticator only", "account": "op-totp-user", "label": "Authenticator only",
               "fields": [f("favorite", "true"), h("totp", "JBSWY3DPEHPK3PXP")]}),
        json!({"class": "genp", "service": "(untitled)", "account": "op-nameless", "password": "op-nameless-pw"}),
    ];
    import_fixture("1password-csv", &fx("1password.csv"), &want);
}

#[test]
fn chrome_csv_every_record() {
    let want = [
        json!({"class": "inet", "server": "accounts.google.com", "account": "ch-dave@gmail.com", "protocol": "https",
               "path": "/signin/v2/identifier", "label": "accounts.google.com", "password": "ch-G00gle-Pw",
               "uris": ["https://accounts.google.com/signin/v2/identifier"]}),
        json!({"class": "inet", "server": "login.ch-example.com", "account": "ch-dave", "protocol": "https", "port": 9443,
               "path": "/sso/start", "label": "login.ch-example.com", "password": "ch-p@ss, \"quoted\"",
               "uris": ["https://login.ch-example.com:9443/sso/start"]}),
        json!({"class": "inet", "server": "com.chexample.android", "account": "ch-droid", "protocol": "android",
               "label": "com.chexample.android", "password": "ch-android-pw",
               "uris": ["android://AbCdEf123456==@com.chexample.android/"]}),
        json!({"class": "inet", "server": "xn--wgv71a119e.jp", "account": "ch-ユーザー", "protocol": "https",
               "path": "/%E3%83%AD%E3%82%B0%E3%82%A4%E3%83%B3", "label": "日本語.jp", "password": "ch-パスワード-✓",
               "notes": "Notiz: \"wichtig\"\nzweite Zeile, mit Komma", "uris": ["https://日本語.jp/ログイン"]}),
        json!({"class": "inet", "server": "192.168.0.1", "account": "ch-admin", "protocol": "https", "label": "router.ch-home",
               "password": "ch-router-pw", "notes": "no scheme", "uris": ["192.168.0.1"]}),
        json!({"class": "genp", "service": "Local app", "account": "ch-local", "label": "Local app", "password": "ch-local-pw",
               "notes": "app without URL"}),
    ];
    import_fixture("chrome-csv", &fx("chrome.csv"), &want);
}

/// Runs a command that must fail with `code` and leave the vault's bytes
/// alone; returns its one line of stderr.
fn refused(env: &Env, cmd: &mut assert_cmd::Command, code: i32) -> String {
    let before = env.snapshot();
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(out.stdout.is_empty(), "{err}");
    assert_eq!(env.snapshot(), before, "the vault changed");
    if err.starts_with("error: ") {
        // clap's own: several lines of detail.
        return err.into_owned();
    }
    one_line_error(&out)
}

/// An Env with one item, so the WAL is settled before a snapshot.
fn settled() -> Env {
    let env = Env::init();
    env.add_inet("settled.example", "u", "settled-pw");
    env
}

#[test]
fn malformed_files_are_refused_whole() {
    let env = settled();
    let vault_json_bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vault-json-bad.json"
    );
    let cases = [
        (
            fx("keepassxc-bad-row.csv"),
            "keepassxc-csv: line 5 (record 3): 5 fields where the header has 10",
        ),
        (
            fx("bitwarden-bad.json"),
            "bitwarden-json: line 9, column 7: invalid JSON (expected `,` or `}`)",
        ),
        (
            fx("bitwarden-encrypted.json"),
            "bitwarden-json: the export is encrypted; export again choosing the unencrypted `.json` format (`bw export --format json`)",
        ),
        (
            fx("chrome-missing-column.csv"),
            "chrome-csv: the header has no `password` column",
        ),
        (
            vault_json_bad.to_owned(),
            "vault-json: line 10 column 7: syntax error",
        ),
    ];
    // Every file's passwords and other values, none of which may be quoted.
    let secrets = "kx-bad-file-pw kx-u kx-example bw-broken Broken ch-missing accounts.google \
                   vj-broken bad.vj-example c2FsdHNhbHRz Yml0d2FyZGVu ZmFrZWl2";
    for (file, msg) in &cases {
        let format = msg.split(':').next().unwrap();
        let err = refused(&env, &mut import(&env, format, file), 2);
        assert_eq!(err, format!("vault: error: {msg}\n"), "{file}");
        for s in secrets.split_whitespace() {
            assert!(!err.contains(s), "{err:?} quotes {s:?}");
        }
    }
    // The same through stdin.
    let bad = std::fs::read(fx("keepassxc-bad-row.csv")).unwrap();
    let mut cmd = import(&env, "keepassxc-csv", "-");
    assert!(refused(&env, cmd.write_stdin(bad), 2).contains("line 5"));

    let err = refused(&env, &mut import(&env, "chrome-csv", "no-such.csv"), 1);
    assert!(err.contains("cannot read no-such.csv"), "{err}");
    let err = refused(&env, &mut import(&env, "nope", &fx("chrome.csv")), 2);
    assert!(err.contains("nope"), "{err}");
    assert_eq!(total(&env), 1);
}

#[test]
fn vault_json_item_errors_name_the_item() {
    let env = settled();
    let path = env.dir.path().join("bad-class.json");
    let file = path.to_str().unwrap();
    let doc = json!({"format": "vault-json", "version": 1, "items": [
        {"class": "genp", "service": "fine", "account": "a", "password": "vj-fine-pw"},
        {"class": "card", "label": "x", "password": "vj-card-pw"}]});
    std::fs::write(file, doc.to_string()).unwrap();
    let err = refused(&env, &mut import(&env, "vault-json", file), 2);
    assert!(err.contains("item 2") && err.contains("card"), "{err}");
    assert!(!err.contains("vj-"), "{err}");

    std::fs::write(
        file,
        json!({"format": "vault-json", "version": 9, "items": []}).to_string(),
    )
    .unwrap();
    let err = refused(&env, &mut import(&env, "vault-json", file), 2);
    assert!(err.contains("unsupported version 9"), "{err}");
}

/// One item of every class, with every flag `add` has; returns the
/// secrets they hold.
fn populate(env: &Env) -> Vec<&'static str> {
    let inet = "add inet --server git.rt-example.org --account rt-alice --protocol ssh --port 2222 \
                --path /repos --notes rt-notes-4 --field team=core --field pin=rt-pin-77 \
                --totp JBSWY3DPEHPK3PXP --url https://git.rt-example.org/ --password-stdin \
                --url ssh://git.rt-example.org:2222/";
    let add = |args: Vec<&str>, pw: &str| env.cmd().args(args).write_stdin(pw).assert().success();
    add(
        inet.split_whitespace()
            .chain(["--label", "Forge (rt) ✓"])
            .collect(),
        "rt-inet-pw-Ω1\n",
    );
    env.add_inet("mail.rt-example.org", "rt-bob", "rt-inet-pw-2");
    let genp = "add genp --service rt-wifi --account home --label Wi-Fi --notes rt-genp-notes-5 \
                --field ssid=rt-net --password-stdin";
    add(genp.split_whitespace().collect(), "rt-genp-pw-3\n");
    add(
        "add key --label rt-deploy --generate ed25519 --tag ci"
            .split(' ')
            .collect(),
        "",
    );
    let secrets = "rt-inet-pw-Ω1 rt-inet-pw-2 rt-genp-pw-3 rt-pin-77 rt-notes-4 rt-genp-notes-5 JBSWY3DPEHPK3PXP";
    secrets.split_whitespace().collect()
}

fn export_pw(env: &Env, pw: &str) -> PathBuf {
    let p = env.dir.path().join(format!("xpw-{}", pw.len()));
    std::fs::write(&p, format!("{pw}\n")).unwrap();
    p
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn encrypted_export_round_trips() {
    let src = Env::init();
    let secrets = populate(&src);
    let xpw = export_pw(&src, "export phrase 1");
    let out = src.dir.path().join("export.json");
    let j = json_pw(&src, &xpw, &["export", "--output", out.to_str().unwrap()]);
    assert_eq!(j["exported"], 4);
    assert_eq!(j["encrypted"], true);
    assert_eq!(mode(&out), 0o600);
    let text = std::fs::read_to_string(&out).unwrap();
    for s in &secrets {
        assert!(!text.contains(s), "the export holds {s:?} in plaintext");
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "vault-json-encrypted");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["kdf"], "pbkdf2-sha256");

    // It refuses to overwrite.
    let export = ["export", "--output", out.to_str().unwrap()];
    let err = refused(&src, src.cmd().env(XPW, &xpw).args(export), 2);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);

    let dst = settled();
    let base = all_items(&dst);
    let wrong = export_pw(&dst, "not the export phrase");
    let args = ["import", "--format", "vault-json", out.to_str().unwrap()];
    let err = refused(&dst, dst.cmd().env(XPW, &wrong).args(args), 3);
    assert_eq!(
        err,
        "vault: error: wrong export password, or the export file was altered\n"
    );

    assert_eq!(
        json_pw(&dst, &xpw, &args),
        json!({ "added": 4, "skipped_duplicates": 0, "repeated_in_file": 0 })
    );
    let mut want = all_items(&src);
    want.extend(base);
    want.sort_by_key(Value::to_string);
    assert_eq!(all_items(&dst), want);
    assert_eq!(
        json_pw(&dst, &xpw, &args),
        json!({ "added": 0, "skipped_duplicates": 4, "repeated_in_file": 0 })
    );
    assert_eq!(total(&dst), 5);
}

#[test]
fn plaintext_export_to_a_file_and_stdout() {
    let src = Env::init();
    let secrets = populate(&src);
    let out = src.dir.path().join("plain.json");
    src.cmd()
        .args(["export", "--plaintext", "--output", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(format!(
            "exported 4 items (PLAINTEXT) to {}\n",
            out.display()
        ));
    assert_eq!(mode(&out), 0o600);
    let text = std::fs::read_to_string(&out).unwrap();
    for s in &secrets {
        assert!(text.contains(s), "the plaintext export lacks {s:?}");
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "vault-json");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["items"].as_array().unwrap().len(), 4);

    // Stdout: the same document.
    let stdout = src.ok(&["export", "--plaintext"]);
    let streamed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(streamed["format"], "vault-json");
    assert_eq!(streamed["items"], doc["items"]);

    let dst = Env::init();
    let j = dst.json(&["import", "--format", "vault-json", out.to_str().unwrap()]);
    assert_eq!(
        j,
        json!({ "added": 4, "skipped_duplicates": 0, "repeated_in_file": 0 })
    );
    assert_eq!(all_items(&dst), all_items(&src));
    // And from stdin.
    let third = Env::init();
    third
        .cmd()
        .args(["import", "--format", "vault-json", "-"])
        .write_stdin(stdout)
        .assert()
        .success()
        .stdout("imported 4 items, skipped 0 already in the vault\n");
    assert_eq!(all_items(&third), all_items(&src));
}

/// `--json` output, with an export password file.
fn json_pw(env: &Env, pw_file: &Path, args: &[&str]) -> Value {
    let out = env
        .cmd()
        .env(XPW, pw_file)
        .arg("--json")
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Records that differ in any attribute are all kept (two secure notes
/// with one title); a record repeated within the file is added once and
/// reported as repeated, not as already in the vault.
#[test]
fn near_duplicates_are_kept_and_repeats_counted_apart() {
    let env = Env::init();
    let file = env.dir.path().join("bw.json");
    let note = |notes: &str| {
        json!({"id": notes, "organizationId": null, "folderId": null, "type": 2, "reprompt": 0,
               "name": "Note", "notes": notes, "favorite": false, "secureNote": {"type": 0},
               "collectionIds": null})
    };
    let doc = json!({"encrypted": false, "folders": [],
                     "items": [note("first text"), note("second text"), note("first text")]});
    std::fs::write(&file, doc.to_string()).unwrap();
    let j = env.json(&[
        "import",
        "--format",
        "bitwarden-json",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        j,
        json!({ "added": 2, "skipped_duplicates": 0, "repeated_in_file": 1 })
    );
    env.cmd()
        .args([
            "import",
            "--format",
            "bitwarden-json",
            file.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout("imported 0 items, skipped 3 already in the vault\n");
    let mut notes: Vec<String> = env
        .json(&["ls"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| env.ok(&["get", s["uuid"].as_str().unwrap(), "--field", "notes"]))
        .collect();
    notes.sort();
    assert_eq!(notes, ["first text\n", "second text\n"]);
}
