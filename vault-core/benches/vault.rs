//! Criterion benchmarks of the hot paths: sealing and opening one item,
//! an exact lookup and a warm substring search in a 10,000-item vault, and
//! the default KDF, and verifying a 1,000-entry circle log.
//! `cargo bench -p vault-core`; the example `bench` prints the full
//! table at 100,000 items.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use uuid::Uuid;
use vault_core::crypto::{DEFAULT_ZONE, EpochKey, ItemContext, MasterKey, VaultRng};
use vault_core::item::Item;
use vault_core::{KdfParams, Lookup, Vault};

#[path = "../examples/support/fixture.rs"]
mod fixture;
use fixture::item;

#[path = "../tests/circle_support/mod.rs"]
mod circle_support;

fn crypto(c: &mut Criterion) {
    let mut rng = VaultRng::new().unwrap();
    let epoch = EpochKey::generate(1, &mut rng);
    let it = Item::new(Uuid::new_v4(), item(1), 0);
    c.bench_function("seal_item", |b| {
        b.iter(|| black_box(it.seal(&epoch, DEFAULT_ZONE, &mut rng).unwrap()))
    });
    let sealed = it.seal(&epoch, DEFAULT_ZONE, &mut rng).unwrap();
    let ctx = ItemContext {
        zone: DEFAULT_ZONE,
        uuid: it.uuid,
        gencount: 1,
    };
    c.bench_function("open_item", |b| {
        b.iter(|| black_box(Item::open(&epoch, &ctx, &sealed).unwrap()))
    });
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let n = 10_000;
    let mut v = Vault::create(
        dir.path().join("v"),
        "pw",
        KdfParams::insecure_for_tests_only(1),
    )
    .unwrap();
    v.add_batch((0..n).map(item)).unwrap();
    let mut k = 0;
    c.bench_function("lookup_server_10k", |b| {
        b.iter(|| {
            k = (k + 7919) % n;
            black_box(
                v.find(Lookup::Server(&format!("host-{k}.example.com")))
                    .unwrap(),
            )
        })
    });
    v.search("warm").unwrap();
    c.bench_function("search_substring_warm_10k", |b| {
        b.iter(|| black_box(v.search("user77").unwrap()))
    });
}

fn kdf(c: &mut Criterion) {
    let mut g = c.benchmark_group("kdf");
    g.sample_size(10);
    g.bench_function("pbkdf2_sha256_600k", |b| {
        b.iter(|| {
            black_box(MasterKey::derive(
                b"password",
                &[7; 32],
                KdfParams::MIN_ITERATIONS,
            ))
        })
    });
    g.finish();
}

fn circle(c: &mut Criterion) {
    // Adds, removals and new epochs; every signature checked (in parallel).
    let chain = circle_support::Chain::long(1000);
    let genesis = chain.entries[0].hash();
    c.bench_function("circle_verify_1000", |b| {
        b.iter(|| {
            black_box(
                vault_core::circle::CircleState::verify_chain(Some(genesis), &chain.entries)
                    .unwrap(),
            )
        })
    });
}

criterion_group!(benches, crypto, store, kdf, circle);
criterion_main!(benches);
