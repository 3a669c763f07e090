//! Crash safety: a writer killed with SIGKILL at random moments, many times,
//! leaves a file that passes `PRAGMA integrity_check` and holds every write
//! the writer reported committed.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use uuid::Uuid;
use vault_core::Vault;
use vault_tests::{TEST_PASSWORD, test_kdf};

/// A small xorshift generator seeded from the clock: random kill moments
/// without another dependency. The seed is printed for reproduction.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_committed_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.vault");
    drop(Vault::create(&path, TEST_PASSWORD, test_kdf()).unwrap());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut jitter = Jitter(seed);

    let mut added: Vec<Uuid> = Vec::new();
    let mut min_gen: HashMap<Uuid, u64> = HashMap::new();
    let mut max_epoch = 1;
    let rounds = 25;
    for round in 0..rounds {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vault-writer"))
            .args(["loop", path.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(20 + jitter.next() % 150));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[..] {
                ["add", id] => {
                    let id: Uuid = id.parse().unwrap();
                    added.push(id);
                    min_gen.insert(id, 1);
                }
                ["upd", id, g] => {
                    min_gen.insert(id.parse().unwrap(), g.parse().unwrap());
                }
                ["rot", e] => max_epoch = e.parse().unwrap(),
                _ => {} // a line cut off by the kill was never reported whole
            }
        }

        let check: String = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        let mut v = Vault::open(&path).unwrap().unlock(TEST_PASSWORD).unwrap();
        assert!(
            v.key_epoch() >= max_epoch,
            "round {round}: a reported rotation was lost"
        );
        for (id, g) in &min_gen {
            let item = v
                .get(*id)
                .unwrap_or_else(|e| panic!("round {round}: reported item {id} lost: {e}"));
            assert!(
                item.gencount >= *g,
                "round {round}: {id} went back to {} from {g}",
                item.gencount
            );
        }
    }
    assert!(
        added.len() > rounds,
        "the writer hardly wrote anything ({} items)",
        added.len()
    );
    println!(
        "{} items, {} rounds, epoch {max_epoch}",
        added.len(),
        rounds
    );
}
