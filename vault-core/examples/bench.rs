//! Prints the vault's speed figures, one JSON object per line:
//! `{"op": "...", "n": ..., "median_ns": ..., "per_s": ...}`.
//!
//! `cargo run --release -p vault-core --example bench -- --items 100000`
//!
//! `median_ns` is the median time of one operation (for `insert_batch`, of
//! the whole batch of `n`); `per_s` is operations (items) per second at
//! that median. Vaults here use a cheap KDF so the item figures are not
//! dominated by unlocking; `kdf` and `unlock` measure the default KDF.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::time::{Duration, Instant};
use uuid::Uuid;
use vault_core::crypto::{DEFAULT_ZONE, EpochKey, ItemContext, MasterKey, VaultRng};
use vault_core::item::{Item, ItemData};
use vault_core::{KdfParams, Lookup, UnlockedVault, Vault};

#[path = "support/fixture.rs"]
mod fixture;
use fixture::item;

const PASSWORD: &str = "benchmark password";

fn report(op: &str, n: usize, median: Duration, ops_per_sample: usize) {
    let ns = median.as_nanos() as f64;
    let per_s = if ns > 0.0 {
        ops_per_sample as f64 * 1e9 / ns
    } else {
        0.0
    };
    println!(r#"{{"op": "{op}", "n": {n}, "median_ns": {ns:.0}, "per_s": {per_s:.1}}}"#);
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Times `samples` runs of `f`, each doing `batch` operations, and reports
/// the median per operation.
fn per_op(op: &str, n: usize, samples: usize, batch: usize, mut f: impl FnMut()) {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    report(op, n, median(times) / batch as u32, 1);
}

fn fresh_vault(dir: &std::path::Path, name: &str, n: usize) -> (std::path::PathBuf, UnlockedVault) {
    let path = dir.join(name);
    let mut v = Vault::create(&path, PASSWORD, KdfParams::insecure_for_tests_only(1)).unwrap();
    v.add_batch((0..n).map(item)).unwrap();
    (path, v)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--items")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--items takes a number"))
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = VaultRng::new().unwrap();

    // seal_item / open_item: one ~300-byte item, fresh content key each.
    let epoch = EpochKey::generate(1, &mut rng);
    let it = Item::new(Uuid::new_v4(), item(42), 1_700_000_000_000);
    let batch = 1000;
    per_op("seal_item", 1, 51, batch, || {
        for _ in 0..batch {
            std::hint::black_box(it.seal(&epoch, DEFAULT_ZONE, &mut rng).unwrap());
        }
    });
    let sealed = it.seal(&epoch, DEFAULT_ZONE, &mut rng).unwrap();
    eprintln!(
        "sealed item: encitem {} bytes, wrappedkey {} bytes",
        sealed.encitem().len(),
        sealed.wrappedkey().len()
    );
    let ctx = ItemContext {
        zone: DEFAULT_ZONE,
        uuid: it.uuid,
        gencount: 1,
    };
    per_op("open_item", 1, 51, batch, || {
        for _ in 0..batch {
            std::hint::black_box(Item::open(&epoch, &ctx, &sealed).unwrap());
        }
    });

    // insert_batch: n items in one transaction, blind indexes included.
    let mut times = Vec::new();
    for round in 0..3 {
        let path = dir.path().join(format!("insert-{round}"));
        let mut v = Vault::create(&path, PASSWORD, KdfParams::insecure_for_tests_only(1)).unwrap();
        let items: Vec<ItemData> = (0..n).map(item).collect();
        let t = Instant::now();
        v.add_batch(items).unwrap();
        times.push(t.elapsed());
        drop(v);
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", path.display()));
        }
    }
    report("insert_batch", n, median(times), n);

    let (path, mut v) = fresh_vault(dir.path(), "main", n);
    let lookups = 1000;
    let mut k = 0usize;
    per_op("lookup_server", n, 21, lookups, || {
        for _ in 0..lookups {
            k = (k + 7919) % n;
            let hits = v
                .find(Lookup::Server(&format!("host-{k}.example.com")))
                .unwrap();
            assert_eq!(hits.len(), 1);
        }
    });

    // Search: the first after unlock decrypts every item into the cache.
    drop(v);
    let mut cold = Vec::new();
    for _ in 0..5 {
        let mut v = Vault::open(&path).unwrap().unlock(PASSWORD).unwrap();
        let t = Instant::now();
        let hits = v.search("host-4242.").unwrap();
        cold.push(t.elapsed());
        assert!(!hits.is_empty() || n <= 4242);
    }
    report("search_substring_cold", n, median(cold), 1);
    let mut v = Vault::open(&path).unwrap().unlock(PASSWORD).unwrap();
    v.search("warm-up").unwrap();
    per_op("search_substring_warm", n, 21, 1, || {
        std::hint::black_box(v.search("user777").unwrap());
    });

    let mut rot = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        v.rotate_vault_key().unwrap();
        rot.push(t.elapsed());
    }
    report("rotate", n, median(rot), n);
    drop(v);

    let salt = [7u8; 32];
    per_op("kdf", 1, 7, 1, || {
        std::hint::black_box(MasterKey::derive(
            PASSWORD.as_bytes(),
            &salt,
            KdfParams::MIN_ITERATIONS,
        ));
    });
    let default_path = dir.path().join("default-kdf");
    drop(Vault::create(&default_path, PASSWORD, KdfParams::default()).unwrap());
    let mut unlock = Vec::new();
    for _ in 0..7 {
        let locked = Vault::open(&default_path).unwrap();
        let t = Instant::now();
        let v = locked.unlock(PASSWORD).unwrap();
        unlock.push(t.elapsed());
        drop(v);
    }
    report("unlock", 1, median(unlock), 1);
}
