//! A helper process for the crash and concurrency tests: writes to a vault
//! and prints one line per committed write, flushed, so a test that kills
//! it knows exactly which writes it may expect to find.
//!
//! `vault-writer loop PATH`            add, update and rotate until killed
//! `vault-writer batch PATH N SHARED`  N times: add an item, update SHARED
#![allow(
    clippy::print_stdout,
    reason = "stdout is this helper's report channel"
)]

use std::io::Write;
use uuid::Uuid;
use vault_core::Vault;
use vault_core::item::{GenericPassword, ItemData};
use vault_tests::TEST_PASSWORD;

fn item(n: u64) -> ItemData {
    ItemData::Genp(GenericPassword {
        service: format!("svc-{}-{n}", std::process::id()),
        password: format!("pw-{n}").into(),
        ..Default::default()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args
        .get(1)
        .ok_or("usage: vault-writer loop|batch PATH ...")?;
    let path = args.get(2).ok_or("missing PATH")?;
    let mut v = Vault::open(path)?.unlock(TEST_PASSWORD)?;
    let mut out = std::io::stdout().lock();
    match mode.as_str() {
        "loop" => {
            let mut last = None;
            for n in 0u64.. {
                match (n % 40, last) {
                    (39, _) => {
                        let epoch = v.rotate_vault_key()?;
                        writeln!(out, "rot {epoch}")?;
                    }
                    (k, Some(id)) if k % 3 == 2 => {
                        let g = v.update(id, item(n))?;
                        writeln!(out, "upd {id} {g}")?;
                    }
                    _ => {
                        let id = v.add(item(n))?;
                        writeln!(out, "add {id}")?;
                        last = Some(id);
                    }
                }
                out.flush()?;
            }
        }
        "batch" => {
            let count: u64 = args.get(3).ok_or("missing N")?.parse()?;
            let shared: Uuid = args.get(4).ok_or("missing SHARED")?.parse()?;
            for n in 0..count {
                let id = v.add(item(n))?;
                writeln!(out, "add {id}")?;
                let g = v.update(shared, item(n))?;
                writeln!(out, "upd {shared} {g}")?;
                out.flush()?;
            }
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
