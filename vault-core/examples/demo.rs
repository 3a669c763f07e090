//! A first run of vault-core: creates a vault, stores one item of each
//! class, finds them again through a reopened and unlocked file, then
//! changes, searches, rotates and shows history.
//!
//! `cargo run --release -p vault-core --example demo [-- PATH]`
//! (default: a fresh vault in a temporary directory).
#![allow(clippy::print_stdout, reason = "an example that shows its work")]

use vault_core::item::{CryptoKey, GenericPassword, InternetPassword, ItemData};
use vault_core::{KdfParams, Lookup, Vault};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(p) => p.into(),
        None => dir.path().join("demo.vault"),
    };
    let password = "correct horse battery staple";
    let started = std::time::Instant::now();
    let mut vault = Vault::create(&path, password, KdfParams::default())?;
    println!(
        "created {} (PBKDF2-HMAC-SHA256, 600,000 iterations) in {:?}",
        path.display(),
        started.elapsed()
    );

    let github = vault.add(ItemData::Inet(InternetPassword {
        server: "github.com".into(),
        account: "octocat".into(),
        protocol: "https".into(),
        label: "GitHub".into(),
        password: "first-password".into(),
        ..Default::default()
    }))?;
    vault.add(ItemData::Genp(GenericPassword {
        service: "Wi-Fi".into(),
        account: "home".into(),
        password: "wifi-secret".into(),
        ..Default::default()
    }))?;
    vault.add(ItemData::Key(CryptoKey {
        label: "deploy key".into(),
        key_type: "ed25519".into(),
        private_key: vec![7; 32].into(),
        ..Default::default()
    }))?;
    drop(vault);

    let started = std::time::Instant::now();
    let mut vault = Vault::open(&path)?.unlock(password)?;
    println!("reopened and unlocked in {:?}", started.elapsed());
    for item in vault.list(None)? {
        println!(
            "  {:<5} {:<12} {:<10} {}",
            item.class, item.name, item.account, item.label
        );
    }
    let hit = &vault.find(Lookup::Server("GitHub.com"))?[0];
    println!(
        "lookup github.com -> {} (gencount {})",
        hit.uuid, hit.gencount
    );

    let mut changed = hit.data.clone();
    if let ItemData::Inet(i) = &mut changed {
        i.password = "second-password".into();
    }
    let gencount = vault.update(github, changed)?;
    println!(
        "changed the password: gencount {gencount}, {} earlier version(s) kept",
        vault.history(github)?.len()
    );
    println!("search 'wi-fi' -> {} item(s)", vault.search("wi-fi")?.len());
    println!("rotated the vault key: epoch {}", vault.rotate_vault_key()?);
    Ok(())
}
