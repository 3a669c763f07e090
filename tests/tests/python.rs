//! The Python package `vault` (vault-ffi through UniFFI), as part of
//! `cargo test --workspace`: `scripts/python-tests` builds it the way a
//! user installs it (`pip install ./vault-ffi` in a fresh virtual
//! environment) and runs its pytest suite against this build's `vault`
//! and `vault-server`. Any pytest failure fails this test. Then
//! `scripts/bindings --check` generates the Kotlin and Swift sources from
//! the same build and fails if the committed ones differ.

mod common;

use std::process::Command;

/// How many tests the pytest suite holds at least.
const MIN_TESTS: usize = 27;

/// One test, not two: both build in target/py/cargo, one after the other.
#[test]
fn the_python_package_passes_its_pytest_suite_and_the_bindings_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned();
    let out = Command::new(root.join("scripts/python-tests"))
        .env("VAULT_TEST_CLI_BIN", common::bin("vault"))
        .env("VAULT_TEST_SERVER_BIN", common::bin("vault-server"))
        .current_dir(&root)
        .output()
        .expect("scripts/python-tests runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/python-tests failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // pytest's summary line: every test ran and passed.
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or("");
    assert!(
        !summary.is_empty()
            && !summary.contains("failed")
            && !summary.contains("skipped")
            && !summary.contains("error"),
        "pytest: {summary}"
    );
    // A test file no longer collected (renamed, a syntax error pytest
    // reports elsewhere) would pass quietly: the suite has at least this
    // many tests.
    let passed: usize = summary
        .split_whitespace()
        .zip(summary.split_whitespace().skip(1))
        .find(|(_, word)| word.starts_with("passed"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0);
    assert!(
        passed >= MIN_TESTS,
        "pytest ran {passed} tests, fewer than {MIN_TESTS}: {summary}"
    );
    println!("pytest: {summary}");

    let out = Command::new(root.join("scripts/bindings"))
        .arg("--check")
        .current_dir(&root)
        .output()
        .expect("scripts/bindings runs");
    assert!(
        out.status.success(),
        "scripts/bindings --check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
