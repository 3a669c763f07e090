//! The item the benchmarks seal, store and find: an internet password of
//! about 300 serialized bytes. Shared by `examples/bench.rs` and
//! `benches/vault.rs`.

use vault_core::item::{InternetPassword, ItemData};

pub fn item(i: usize) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: format!("host-{i}.example.com"),
        account: format!("user{i}@example.com"),
        protocol: "https".into(),
        path: "/login".into(),
        label: format!("Example account number {i}"),
        notes: "Security questions: first pet = rex; city = lyon".into(),
        password: format!("Tr0ub4dor&3-{i:08}-xkcd").into(),
        uris: vec![format!("https://host-{i}.example.com/login")],
        ..Default::default()
    })
}
