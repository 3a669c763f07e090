//! The `vault-server` binary.
fn main() {}
