//! End-to-end tests for the Vault workspace. The tests live in `tests/`;
//! `src/bin/` holds the helper processes they start and kill.

/// The password the helper processes and the tests share.
pub const TEST_PASSWORD: &str = "end-to-end password";

/// A cheap KDF for vaults the tests create by the dozen.
pub fn test_kdf() -> vault_core::KdfParams {
    vault_core::KdfParams::insecure_for_tests_only(1_000)
}
