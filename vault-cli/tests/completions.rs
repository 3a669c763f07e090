//! `vault completions SHELL` through the built binary: each shell's script
//! names the subcommands, leaves the hidden ones out, and bash parses its.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::*;

fn script(env: &Env, shell: &str) -> String {
    let out = env
        .cmd_nopw()
        .args(["completions", shell])
        .assert()
        .success()
        .stderr("");
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn every_shell_gets_a_script_naming_the_subcommands() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let s = script(&env, shell);
        assert!(s.len() > 1000, "{shell}: {} bytes", s.len());
        for sub in ["ls", "get", "totp", "quarantine", "completions"] {
            assert!(s.contains(sub), "{shell}'s script does not name {sub}");
        }
        // Flags too, the new ones included.
        assert!(s.contains("clip-seconds"), "{shell}: no --clip-seconds");
        // bash spells `ssh-agent` as `ssh__subcmd__agent`: only `__agent`
        // not preceded by a word character is the hidden command.
        for hidden in ["__agent", "__clip"] {
            let offered = s.match_indices(hidden).any(|(i, _)| {
                !s[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            assert!(!offered, "{shell}'s script offers {hidden}");
        }
        assert!(s.contains("ssh-agent"), "{shell}: no ssh-agent");
    }
    // No vault was needed, and none was made.
    assert!(!env.vault.exists());
}

#[test]
fn bash_accepts_its_script() {
    let env = Env::new();
    let path = env.dir.path().join("vault.bash");
    std::fs::write(&path, script(&env, "bash")).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And it registers the completion for `vault` when sourced.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"source "$0" && complete -p vault"#)
        .arg(&path)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.contains("vault"), "{shown}");
    // And completes: `vault ge<TAB>` offers get and gen; `vault get --cl<TAB>`
    // the clipboard flags.
    let complete = |words: &str| {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                r#"source "$0" && COMP_WORDS=({words}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) && _vault vault "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}" && printf '%s\n' "${{COMPREPLY[@]}}""#
            ))
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        words.sort();
        words
    };
    assert_eq!(complete("vault ge"), ["gen", "get"]);
    assert_eq!(complete("vault get --cl"), ["--clip", "--clip-seconds"]);
}

#[test]
fn an_unknown_shell_is_bad_usage() {
    Env::new()
        .cmd_nopw()
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}
