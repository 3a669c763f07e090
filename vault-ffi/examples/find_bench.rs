//! The Rust side of scripts/ffi-bench: the median time of the resolver
//! call behind the bindings' `find` (vault-core's `resolve_one`, and the
//! summary it returns), on a vault the script made, so Python's figure
//! has its Rust baseline. The password comes in VAULT_BENCH_PASSWORD.
//!
//!     cargo run --release -p vault-ffi --example find_bench -- VAULT QUERY CALLS

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, query, calls] = args.as_slice() else {
        return Err("usage: find_bench VAULT QUERY CALLS".into());
    };
    let calls: usize = calls.parse()?;
    if calls == 0 {
        return Err("CALLS must be at least 1".into());
    }
    let password = zeroize::Zeroizing::new(std::env::var("VAULT_BENCH_PASSWORD")?);
    let mut vault = vault_core::Vault::open(path)?.unlock(&password)?;
    let selector = vault_core::Selector::default();
    // The first call builds the search cache and its index.
    vault.resolve_one(query, selector)?;
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let hit = vault.resolve_one(query, selector)?;
        std::hint::black_box(hit.uuid.to_string());
        times.push(start.elapsed().as_nanos() as u64);
    }
    times.sort_unstable();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    #[allow(clippy::print_stdout)]
    {
        println!("{{\"median_ns\": {median}, \"p90_ns\": {p90}, \"calls\": {calls}}}");
    }
    Ok(())
}
