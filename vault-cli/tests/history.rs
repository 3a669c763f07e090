//! `vault history` (what each version changed, secrets named unless
//! --show-secrets, deletions as deleted) and `vault restore --version N`.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use predicates::prelude::*;
use serde_json::Value;

fn changed(v: &Value) -> Vec<&str> {
    v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

/// An item at gen 3: created, its label and password changed, then its
/// password again.
fn three_versions(env: &Env) -> String {
    let id = env.add_inet("github.com", "alice", "pw-one");
    env.cmd()
        .args(["edit", &id, "--label", "Work", "--password-stdin"])
        .write_stdin("pw-two\n")
        .assert()
        .success();
    env.cmd()
        .args(["edit", &id, "--password-stdin"])
        .write_stdin("pw-three\n")
        .assert()
        .success();
    id
}

#[test]
fn each_version_names_what_it_changed() {
    let env = Env::init();
    let id = three_versions(&env);
    let h = env.json(&["history", &id]);
    let v = h.as_array().unwrap();
    let gens: Vec<u64> = v.iter().map(|x| x["gen"].as_u64().unwrap()).collect();
    assert_eq!(gens, [3, 2, 1]);
    assert_eq!(v[0]["current"], true);
    assert_eq!(v[1]["current"], false);
    assert!(v.iter().all(|x| x["deleted"] == false));
    assert_eq!(changed(&v[0]), ["password"]);
    assert_eq!(changed(&v[1]), ["label", "password"]);
    assert_eq!(changed(&v[2]), ["server", "account", "password"]);
    assert!(v[0]["modified"].as_str().unwrap().ends_with('Z'));
    let text = h.to_string();
    assert!(!text.contains("pw-"), "{text}");
    assert_eq!(v[1]["item"]["label"], "Work");

    let human = env.ok(&["history", &id]);
    assert!(!human.contains("pw-"), "{human}");
    for line in [
        "gen 3 ",
        "(current)",
        "  password: changed",
        "  label: \"\" -> \"Work\"",
        "gen 1 ",
        "created",
        "  server: \"\" -> \"github.com\"",
    ] {
        assert!(human.contains(line), "{line:?} not in:\n{human}");
    }

    // With --show-secrets: the values, in JSON and for people.
    let h = env.json(&["history", &id, "--show-secrets"]);
    let pws: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["item"]["password"].as_str().unwrap())
        .collect();
    assert_eq!(pws, ["pw-three", "pw-two", "pw-one"]);
    let human = env.ok(&["history", &id, "--show-secrets"]);
    assert!(
        human.contains("  password: \"pw-two\" -> \"pw-three\""),
        "{human}"
    );
    assert!(human.contains("  password: \"\" -> \"pw-one\""), "{human}");
}

#[test]
fn a_deletion_shows_as_deleted_and_the_item_comes_back_by_uuid() {
    let env = Env::init();
    let id = three_versions(&env);
    env.ok(&["rm", &id]);
    // The query's name forms search live items only; the uuid finds it.
    env.cmd().args(["history", "github.com"]).assert().code(4);
    let h = env.json(&["history", &id]);
    let v = h.as_array().unwrap();
    assert_eq!(v[0]["gen"], 4);
    assert_eq!(v[0]["deleted"], true);
    assert_eq!(v[0]["current"], true);
    assert_eq!(v[0]["item"], Value::Null);
    assert_eq!(changed(&v[0]), Vec::<&str>::new());
    let human = env.ok(&["history", &id]);
    let first = human.lines().next().unwrap();
    assert!(
        first.starts_with("gen 4 ") && first.contains("deleted"),
        "{human}"
    );
    assert!(!human.contains("account=\"\""), "{human}");

    // Restoring a deleted item makes a new item of the old version.
    let out = env.ok(&["restore", &id, "--version", "2"]);
    assert!(
        out.contains(&format!("restored gen 2 of the deleted item {id}"))
            && out.contains("as the new item"),
        "{out}"
    );
    assert_eq!(env.ok(&["get", "github.com"]).trim_end(), "pw-two");
    let j = env.json(&["get", "github.com"]);
    assert_ne!(j["uuid"], id.as_str());
    // The deletion's own gen is not a version to restore.
    env.cmd()
        .args(["restore", &id, "--version", "4"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("current version"));
}

#[test]
fn restore_brings_an_old_password_back_as_a_new_gen() {
    let env = Env::init();
    let id = three_versions(&env);
    let out = env.ok(&["restore", "github.com", "--version", "1"]);
    assert!(
        out.contains("restored gen 1 of ")
            && out.contains("github.com")
            && out.ends_with("as gen 4\n"),
        "{out}"
    );
    assert_eq!(env.ok(&["get", &id]).trim_end(), "pw-one");
    assert_eq!(env.ok(&["get", &id, "--field", "label"]).trim_end(), "");
    let h = env.json(&["history", &id]);
    let v = h.as_array().unwrap();
    assert_eq!(v.len(), 4);
    assert_eq!(v[0]["gen"], 4);
    assert_eq!(changed(&v[0]), ["label", "password"]);
    // Waiting to sync like any edit.
    assert_eq!(env.json(&["status"])["sync"]["pending"], 1);

    let j = env.json(&["restore", &id, "--version", "3"]);
    assert_eq!(j["gencount"], 5);
    assert_eq!(j["restored_from"]["gen"], 3);
    assert_eq!(env.ok(&["get", &id]).trim_end(), "pw-three");

    // Versions that are not there, and the current one, are refused
    // and change nothing.
    let before = env.snapshot();
    for (n, want) in [("9", "no gen 9"), ("5", "current version")] {
        env.cmd()
            .args(["restore", &id, "--version", n])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(want));
    }
    env.cmd()
        .args(["restore", "nothing.example", "--version", "1"])
        .assert()
        .code(4);
    assert_eq!(env.snapshot(), before);
}
