//! Folders end to end: `add --folder`, `ls --folder`, `ls --tree`,
//! `edit --folder`, folders from an import, and `ls`'s aligned columns.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use serde_json::Value;

/// Adds an item with `args` (a password on stdin for inet and genp);
/// returns the first 8 hex digits of its uuid, as `ls` shows them.
fn add(env: &Env, args: &[&str]) -> String {
    let mut cmd = env.cmd();
    cmd.args(["--json", "add"]).args(args);
    if args[0] != "key" {
        cmd.arg("--password-stdin")
            .write_stdin("pw-folder-secret\n");
    }
    let out = cmd.assert().success();
    let j: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    j["uuid"].as_str().unwrap()[..8].to_owned()
}

/// `ls --json` with `args`: each item's name and folder, in list order.
fn listed(env: &Env, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["ls"];
    all.extend(args);
    env.json(&all)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let name = s["name"].as_str().unwrap().to_owned();
            (name, s["folder"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Four items: two under Work (one in a subfolder), a key in Keys, and
/// one in no folder; returns their ids in that order.
fn sample(env: &Env) -> [String; 4] {
    let mail = add(
        env,
        &[
            "inet",
            "--server",
            "mail.example",
            "--account",
            "alice",
            "--folder",
            "/Work//Email/",
        ],
    );
    let git = add(
        env,
        &[
            "genp",
            "--service",
            "git",
            "--account",
            "bob",
            "--folder",
            "work",
        ],
    );
    let key = add(
        env,
        &[
            "key",
            "--generate",
            "ed25519",
            "--label",
            "deploy",
            "--folder",
            "Keys",
        ],
    );
    let wifi = add(env, &["genp", "--service", "wifi", "--account", "home"]);
    [mail, git, key, wifi]
}

#[test]
fn add_with_a_folder_and_list_by_folder() {
    let env = Env::init();
    sample(&env);
    // The path is stored in one form; every listed item says its folder.
    assert_eq!(
        listed(&env, &[]),
        pairs(&[
            ("", "Keys"),
            ("git", "work"),
            ("mail.example", "Work/Email"),
            ("wifi", ""),
        ])
    );
    // A folder holds its subfolders, whatever the case.
    let work = pairs(&[("git", "work"), ("mail.example", "Work/Email")]);
    assert_eq!(listed(&env, &["--folder", "WORK"]), work);
    assert_eq!(listed(&env, &["--folder", "work/"]), work);
    assert_eq!(
        listed(&env, &["--folder", "work/email"]),
        pairs(&[("mail.example", "Work/Email")])
    );
    assert_eq!(listed(&env, &["--folder", "Wor"]), pairs(&[]));
    assert_eq!(listed(&env, &["--folder", ""]), pairs(&[("wifi", "")]));
    assert_eq!(
        listed(&env, &["--folder", "keys", "--class", "key"]),
        pairs(&[("", "Keys")])
    );
    // The item's own JSON has it, and so does `get --field`.
    let j = env.json(&["get", "mail.example"]);
    assert_eq!(j["folder"], "Work/Email");
    assert!(env.json(&["get", "wifi"]).get("folder").is_none());
    assert_eq!(env.ok(&["get", "git", "--field", "folder"]), "work\n");
    // Search covers the folder's name.
    let found = env.json(&["search", "emai"]);
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["name"], "mail.example");
    // The human list has a folder column.
    let text = env.ok(&["ls", "--folder", "work"]);
    assert!(text.lines().all(|l| l.contains("ork")), "{text}");
}

#[test]
fn ls_tree_groups_items_under_their_folders() {
    let env = Env::init();
    let [mail, git, key, wifi] = sample(&env);
    let want = format!(
        "\
Keys/
  {key}    key                        deploy
work/
  {git}    genp  git           bob
  Email/
    {mail}  inet  mail.example  alice
(no folder)
  {wifi}    genp  wifi          home
"
    );
    assert_eq!(env.ok(&["ls", "--tree"]), want);
    // Filtered first, then grouped.
    let want = format!(
        "\
work/
  {git}    genp  git           bob
  Email/
    {mail}  inet  mail.example  alice
"
    );
    assert_eq!(env.ok(&["ls", "--tree", "--folder", "Work"]), want);
    // With --json the list stays flat.
    let j = env.json(&["ls", "--tree"]);
    assert_eq!(j.as_array().unwrap().len(), 4);
}

#[test]
fn edit_moves_an_item_and_an_empty_folder_takes_it_out() {
    let env = Env::init();
    sample(&env);
    env.ok(&["edit", "mail.example", "--folder", "Personal/ Mail"]);
    env.ok(&["edit", "deploy", "--folder", "Work/SSH"]);
    assert_eq!(
        listed(&env, &["--folder", "work"]),
        pairs(&[("", "Work/SSH"), ("git", "work")])
    );
    assert_eq!(
        listed(&env, &["--folder", "personal"]),
        pairs(&[("mail.example", "Personal/Mail")])
    );
    env.ok(&["edit", "git", "--folder", ""]);
    assert_eq!(
        listed(&env, &["--folder", ""]),
        pairs(&[("git", ""), ("wifi", "")])
    );
    // The move is a new version; the old folder is in the history.
    let history = env.json(&["history", "git"]);
    let folders: Vec<Option<&str>> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["item"]["folder"].as_str())
        .collect();
    assert!(folders.contains(&Some("work")), "{history}");
}

#[test]
fn a_bitwarden_import_keeps_its_folders() {
    let env = Env::init();
    let file = format!(
        "{}/../vault-import/tests/fixtures/bitwarden.json",
        env!("CARGO_MANIFEST_DIR")
    );
    env.ok(&["import", "--format", "bitwarden-json", &file]);
    let tree = env.ok(&["ls", "--tree"]);
    // Item rows as indentation, then their cells after the id.
    let shape: Vec<String> = tree
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            let is_id = cells[0].len() == 8 && cells[0].chars().all(|c| c.is_ascii_hexdigit());
            if is_id {
                let indent = l.len() - l.trim_start().len();
                format!("{}{}", " ".repeat(indent), cells[1..].join(" "))
            } else {
                l.to_owned()
            }
        })
        .collect();
    let want = [
        "Home/",
        "  genp Recovery kit ✓ Recovery kit ✓",
        "  genp Wi-Fi Büro Wi-Fi Büro",
        "Work/",
        "  Dev/",
        "    key Deploy key (bw)",
        "    inet github.com bw-octocat GitHub (bw)",
        "(no folder)",
        "  genp Passport Alice Passport Alice",
        "  genp Visa Débito Visa Débito",
        "  inet intranet.bw-example.net bw-ωmega Intranet Portal Ω",
    ];
    assert_eq!(shape, want, "{tree}");
    assert_eq!(
        listed(&env, &["--folder", "work/dev"]).len(),
        2,
        "the login and the SSH key"
    );
}

#[test]
fn issue_17_ls_account_column_is_aligned() {
    let env = Env::init();
    for (server, account, label) in [
        ("a.example", "al", "L-one"),
        ("much-longer.example", "a-much-longer-account", "L-two"),
        ("日本語.example", "ユーザー", "L-three"),
    ] {
        add(
            &env,
            &[
                "inet",
                "--server",
                server,
                "--account",
                account,
                "--label",
                label,
            ],
        );
    }
    let text = env.ok(&["ls"]);
    // Display columns: each CJK character takes two cells.
    let col = |line: &str, needle: &str| {
        let at = line.find(needle).unwrap();
        line[..at]
            .chars()
            .map(|c| if c.is_ascii() { 1 } else { 2 })
            .sum::<usize>()
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let labels: Vec<usize> = lines.iter().map(|l| col(l, "L-")).collect();
    assert!(labels.iter().all(|c| *c == labels[0]), "{text}");
    let accounts = [
        col(lines[0], "al "),
        col(lines[1], "a-much"),
        col(lines[2], "ユーザー"),
    ];
    assert!(accounts.iter().all(|c| *c == accounts[0]), "{text}");
}
