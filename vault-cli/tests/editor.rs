//! `vault edit QUERY` with no flags: the item as a text form in $EDITOR
//! (here small shell scripts), in a private scratch file that is wiped
//! afterwards; unchanged forms change nothing, bad forms reopen with the
//! error.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;
use predicates::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes an executable editor script into the test's directory; `$1` is
/// the form, `$LOG` a side file the script may append to.
fn script(env: &Env, name: &str, body: &str) -> (PathBuf, PathBuf) {
    let log = env.dir.path().join(format!("{name}.log"));
    let path = env.dir.path().join(format!("{name}.sh"));
    let text = format!("#!/bin/sh\nLOG='{}'\nf=\"$1\"\n{body}\n", log.display());
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (path, log)
}

/// Records the form's path, its mode and its directory's mode.
const RECORD: &str = r#"echo "file $(stat -c %a "$f") $f" >> "$LOG"
echo "dir $(stat -c %a "$(dirname "$f")")" >> "$LOG"
echo "env ${VAULT_PASSWORD:-unset}" >> "$LOG""#;

fn edit(env: &Env, editor: &Path, query: &str) -> assert_cmd::Command {
    let mut c = env.cmd();
    c.args(["edit", query])
        .env_remove("VISUAL")
        .env("EDITOR", editor)
        .write_stdin("");
    c
}

fn versions(env: &Env, query: &str) -> usize {
    env.json(&["history", query]).as_array().unwrap().len()
}

/// The form file the log names: (mode, path, directory mode).
fn recorded(log: &Path) -> Vec<(String, PathBuf, String)> {
    let text = std::fs::read_to_string(log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for w in lines.windows(2) {
        if let (Some(f), Some(d)) = (w[0].strip_prefix("file "), w[1].strip_prefix("dir ")) {
            let (mode, path) = f.split_once(' ').unwrap();
            out.push((mode.to_owned(), PathBuf::from(path), d.to_owned()));
        }
    }
    out
}

fn assert_wiped(files: &[(String, PathBuf, String)]) {
    assert!(!files.is_empty(), "the editor never ran");
    for (mode, path, dir_mode) in files {
        assert_eq!(mode, "600", "{}", path.display());
        assert_eq!(dir_mode, "700", "{}", path.display());
        assert!(!path.exists(), "{} is still there", path.display());
        assert!(
            !path.parent().unwrap().exists(),
            "{} is still there",
            path.display()
        );
        if Path::new("/dev/shm").is_dir() {
            assert!(
                path.starts_with("/dev/shm"),
                "{}: not on /dev/shm",
                path.display()
            );
        }
    }
}

#[test]
fn an_edited_form_is_saved_and_its_file_wiped() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "old-pass");
    let (editor, log) = script(
        &env,
        "ed",
        &format!(
            "{RECORD}\ngrep -q '^password: old-pass$' \"$f\" && echo had-password >> \"$LOG\"\n\
             sed -i -e 's/^password: .*/password: new-secret/' \
             -e 's|^url:$|url: https://github.com/login|' \"$f\""
        ),
    );
    // The master password in the environment does not reach the editor.
    let mut c = env.cmd_nopw();
    c.args(["edit", "github.com"])
        .env_remove("VISUAL")
        .env("EDITOR", &editor)
        .env("VAULT_PASSWORD", PASSWORD)
        .write_stdin("");
    c.assert()
        .success()
        .stdout(predicate::str::contains("version 2"));
    assert_eq!(env.ok(&["get", &id]).trim_end(), "new-secret");
    assert_eq!(
        env.ok(&["get", &id, "--field", "url"]).trim_end(),
        "https://github.com/login"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("had-password"), "{text}");
    assert!(text.contains("env unset"), "{text}");
    assert_wiped(&recorded(&log));
    assert_eq!(versions(&env, &id), 2);
}

#[test]
fn editor_may_carry_arguments_and_visual_comes_first() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    let (editor, log) = script(
        &env,
        "args",
        "echo \"args $#\" >> \"$LOG\"\nf=\"$2\"\nsed -i 's/^label:$/label: Work/' \"$f\"",
    );
    env.cmd()
        .args(["edit", &id])
        .env("VISUAL", format!("{} --flag", editor.display()))
        .env("EDITOR", "false")
        .write_stdin("")
        .assert()
        .success();
    assert_eq!(env.ok(&["get", &id, "--field", "label"]).trim_end(), "Work");
    assert!(std::fs::read_to_string(&log).unwrap().contains("args 2"));
}

#[test]
fn an_unchanged_form_changes_nothing() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    let before = env.snapshot();
    edit(&env, Path::new("true"), &id)
        .assert()
        .success()
        .stderr(predicate::str::contains("no change"));
    // A comment added, the fields the same: no change either.
    let (editor, _) = script(&env, "comment", "echo '# a note' >> \"$f\"");
    edit(&env, &editor, &id)
        .assert()
        .success()
        .stderr(predicate::str::contains("no change"));
    assert_eq!(env.snapshot(), before);
    assert_eq!(versions(&env, &id), 1);
    let j = env
        .cmd()
        .args(["--json", "edit", &id])
        .env("EDITOR", "true")
        .write_stdin("")
        .assert()
        .success();
    let j: serde_json::Value = serde_json::from_slice(&j.get_output().stdout).unwrap();
    assert_eq!(j["changed"], false);
    assert_eq!(j["gencount"], 1);
}

#[test]
fn a_bad_form_reopens_with_the_error_then_saves() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    let (editor, log) = script(
        &env,
        "fix",
        &format!(
            "{RECORD}\nif grep -q '^# error:' \"$f\"; then\n\
               grep '^# error:' \"$f\" >> \"$LOG\"\n\
               grep -q '^port: abc$' \"$f\" && echo kept-text >> \"$LOG\"\n\
               sed -i 's/^port: abc$/port: 8443/' \"$f\"\n\
             else\n\
               sed -i -e 's/^port:.*/port: abc/' -e 's/^label:$/label: Kept/' \"$f\"\n\
             fi"
        ),
    );
    edit(&env, &editor, &id)
        .assert()
        .success()
        .stdout(predicate::str::contains("version 2"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("# error: line ") && text.contains("port: \"abc\" is not a number"),
        "{text}"
    );
    assert!(text.contains("kept-text"), "{text}");
    assert_eq!(env.ok(&["get", &id, "--field", "port"]).trim_end(), "8443");
    assert_eq!(env.ok(&["get", &id, "--field", "label"]).trim_end(), "Kept");
    let files = recorded(&log);
    assert_eq!(files.len(), 2, "{text}");
    assert_wiped(&files);
}

#[test]
fn refused_forms_and_failed_editors_change_nothing() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    let before = env.snapshot();
    // Saved unchanged after the error: abort.
    let (stuck, stuck_log) = script(
        &env,
        "stuck",
        &format!("{RECORD}\nsed -i 's/^port:.*/port: abc/' \"$f\""),
    );
    edit(&env, &stuck, &id)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("saved unchanged after an error"));
    assert_eq!(recorded(&stuck_log).len(), 2);
    assert_wiped(&recorded(&stuck_log));
    // Emptied: abort.
    let (empty, empty_log) = script(&env, "empty", &format!("{RECORD}\n: > \"$f\""));
    edit(&env, &empty, &id)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("emptied"));
    assert_wiped(&recorded(&empty_log));
    // The editor fails: nothing saved, even what it wrote.
    let (fail, fail_log) = script(
        &env,
        "fail",
        &format!("{RECORD}\nsed -i 's/^password: .*/password: x/' \"$f\"\nexit 3"),
    );
    let out = edit(&env, &fail, &id).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = one_line_error(&out);
    assert!(
        err.contains("the editor") && err.contains("nothing changed"),
        "{err}"
    );
    assert_wiped(&recorded(&fail_log));
    // Interrupted: the signal reaches vault too, and it still wipes.
    let (intr, intr_log) = script(
        &env,
        "intr",
        &format!(
            "{RECORD}\np=$PPID\n\
             if [ \"$(cat /proc/$p/comm)\" != vault ]; then p=$(cut -d' ' -f4 /proc/$p/stat); fi\n\
             echo \"signalled $(cat /proc/$p/comm)\" >> \"$LOG\"\n\
             kill -INT \"$p\"\nsleep 0.2\nkill -INT $$"
        ),
    );
    let out = edit(&env, &intr, &id).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = std::fs::read_to_string(&intr_log).unwrap();
    assert!(text.contains("signalled vault"), "{text}");
    assert_wiped(&recorded(&intr_log));
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.ok(&["get", &id]).trim_end(), "pw");
}

#[test]
fn without_an_editor_or_a_terminal_it_says_so() {
    let env = Env::init();
    let id = env.add_inet("github.com", "alice", "pw");
    let out = env
        .cmd()
        .args(["edit", &id])
        .env_remove("VISUAL")
        .env_remove("EDITOR")
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(
        err.contains("$EDITOR") && err.contains("stdin to be a terminal"),
        "{err}"
    );
}
