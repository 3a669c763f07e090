//! `contrib/vault-server.service`: hardened as the README says (a dynamic
//! user, a state directory, the file system read-only but for it, no new
//! privileges), and accepted by `systemd-analyze verify` without a warning
//! where that tool is installed (with the unit pointed at the binary this
//! build made).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

fn unit() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contrib/vault-server.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values a key has in the unit's `[Service]` section.
fn service_values(unit: &str, key: &str) -> Vec<String> {
    let mut section = "";
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]"
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            out.push(v.trim().to_owned());
        }
    }
    out
}

#[test]
fn the_unit_is_hardened() {
    let unit = unit();
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "vault-server"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(service_values(&unit, key), [want], "{key}");
    }
    let exec = service_values(&unit, "ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(
        exec[0].contains("--db /var/lib/vault-server/"),
        "the database lives in the state directory: {exec:?}"
    );
}

#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: only the unit's keys were checked");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault-server.service");
    let server = common::bin("vault-server");
    std::fs::write(
        &path,
        unit().replace("/usr/local/bin/vault-server", server.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.trim().is_empty(), "warnings: {err}");
}
