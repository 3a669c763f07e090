//! Wall-clock figures of the `vault` binary, process start to exit, one
//! JSON object per line. Run through `scripts/cli-bench`, which builds the
//! release binary and passes its path:
//!
//! `cli_bench --vault-bin target/release/vault [--items 100000] [--rows 10000] [--gets 50]`
//!
//! - `import_items`: `vault import --format chrome-csv` of `--items` rows
//!   into an empty vault (this also builds the vault the gets run on);
//! - `get_agent`: `vault get HOST` with the agent unlocked, by exact
//!   server (`--gets` calls on random items); `get_agent_url` by a URL
//!   with a port, path and query whose host is the item's;
//!   `get_agent_substring` by a unique part of the account; and
//!   `get_agent_prefix` by an 8-digit uuid prefix. The agent builds its
//!   search cache at the first query (`agent_first_query`, not in the
//!   others' medians);
//! - `get_password`: `vault get` unlocking with the master password
//!   (PBKDF2, 600,000 iterations) instead, for comparison;
//! - `import_rows`: `vault import` of `--rows` rows into a fresh vault,
//!   five runs.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench master password";

struct Args {
    bin: PathBuf,
    items: usize,
    rows: usize,
    gets: usize,
}

fn args() -> Args {
    let mut a = Args {
        bin: PathBuf::from("target/release/vault"),
        items: 100_000,
        rows: 10_000,
        gets: 50,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let v = pair.get(1).expect("every flag takes a value");
        match pair[0].as_str() {
            "--vault-bin" => a.bin = PathBuf::from(v),
            "--items" => a.items = v.parse().unwrap(),
            "--rows" => a.rows = v.parse().unwrap(),
            "--gets" => a.gets = v.parse().unwrap(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

struct World {
    bin: PathBuf,
    dir: PathBuf,
    pw_file: PathBuf,
}

impl World {
    fn vault(&self, name: &str) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("VAULT_PATH", self.dir.join(name))
            .env("VAULT_AGENT_DIR", self.dir.join("agent"))
            .env("VAULT_PASSWORD_FILE", &self.pw_file)
            .env_remove("VAULT_PASSWORD")
            .stdin(Stdio::null());
        c
    }

    /// Runs to completion; returns wall time and stdout.
    fn time(&self, mut cmd: Command) -> (Duration, String) {
        let start = Instant::now();
        let out = cmd.output().unwrap();
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (took, String::from_utf8(out.stdout).unwrap())
    }
}

/// A Chrome-format CSV of `n` distinct logins.
fn write_csv(path: &Path, n: usize, tag: &str) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "name,url,username,password,note").unwrap();
    for i in 0..n {
        writeln!(
            f,
            "host-{tag}-{i}.example,https://host-{tag}-{i}.example/login,user{i}@example.com,pw-{i}-{tag},note {i}"
        )
        .unwrap();
    }
}

fn report(op: &str, n: usize, samples: &mut [Duration], goal_ms: Option<f64>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = ms(samples[samples.len() / 2]);
    let p90 = ms(samples[(samples.len() * 9 / 10).min(samples.len() - 1)]);
    let goal = match goal_ms {
        Some(g) => format!(r#", "goal_ms": {g}, "met": {}"#, median <= g),
        None => String::new(),
    };
    println!(
        r#"{{"op": "{op}", "n": {n}, "runs": {}, "median_ms": {median:.2}, "p90_ms": {p90:.2}, "max_ms": {:.2}{goal}}}"#,
        samples.len(),
        ms(samples[samples.len() - 1])
    );
}

/// A deterministic spread of indexes (no rand dependency).
fn pick(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ 0x5bd1e995) % n
}

fn main() {
    let a = args();
    let tmp = tempfile::tempdir().unwrap();
    let w = World {
        bin: std::fs::canonicalize(&a.bin).expect("build the release binary first"),
        dir: tmp.path().to_owned(),
        pw_file: tmp.path().join("pw"),
    };
    std::fs::write(&w.pw_file, format!("{PASSWORD}\n")).unwrap();

    // The big vault, filled by one import.
    let big_csv = w.dir.join("big.csv");
    write_csv(&big_csv, a.items, "big");
    w.time({
        let mut c = w.vault("big.db");
        c.arg("init");
        c
    });
    let (took, out) = w.time({
        let mut c = w.vault("big.db");
        c.args(["import", "--format", "chrome-csv"]).arg(&big_csv);
        c
    });
    assert!(
        out.contains(&format!("imported {} items", a.items)),
        "{out}"
    );
    report("import_items", a.items, &mut [took], None);

    // Gets through the agent.
    w.time({
        let mut c = w.vault("big.db");
        c.args(["unlock", "--timeout", "10m"]);
        c
    });
    let get = |query: &str, expect: &str, agent: bool| {
        let mut c = w.vault("big.db");
        if agent {
            c.env_remove("VAULT_PASSWORD_FILE");
        }
        c.args(["get", query]);
        let (took, out) = w.time(c);
        assert_eq!(out.trim_end(), expect);
        took
    };
    let first = get("host-big-0.example", "pw-0-big", true);
    report("agent_first_query", a.items, &mut [first], None);
    let mut by_name = Vec::new();
    let mut picked = Vec::new();
    for i in 0..a.gets {
        let n = pick(i, a.items);
        picked.push(n);
        by_name.push(get(
            &format!("host-big-{n}.example"),
            &format!("pw-{n}-big"),
            true,
        ));
    }
    report("get_agent", a.items, &mut by_name, Some(15.0));
    let mut by_url = Vec::new();
    let mut by_part = Vec::new();
    for &n in &picked {
        by_url.push(get(
            &format!("https://host-big-{n}.example:443/login?next=/home"),
            &format!("pw-{n}-big"),
            true,
        ));
        by_part.push(get(&format!("ser{n}@exa"), &format!("pw-{n}-big"), true));
    }
    report("get_agent_url", a.items, &mut by_url, Some(15.0));
    report("get_agent_substring", a.items, &mut by_part, Some(15.0));

    let mut by_prefix = Vec::new();
    for &n in picked.iter().take(20) {
        let (_, uuid) = w.time({
            let mut c = w.vault("big.db");
            c.args(["get", &format!("host-big-{n}.example"), "--field", "uuid"]);
            c
        });
        by_prefix.push(get(&uuid.trim()[..8], &format!("pw-{n}-big"), true));
    }
    report("get_agent_prefix", a.items, &mut by_prefix, Some(15.0));

    w.time({
        let mut c = w.vault("big.db");
        c.arg("lock");
        c
    });
    let mut with_pw = Vec::new();
    for &n in picked.iter().take(10) {
        with_pw.push(get(
            &format!("host-big-{n}.example"),
            &format!("pw-{n}-big"),
            false,
        ));
    }
    report("get_password", a.items, &mut with_pw, None);

    // Imports of `rows` rows into fresh vaults.
    let csv = w.dir.join("rows.csv");
    write_csv(&csv, a.rows, "rows");
    let mut imports = Vec::new();
    for run in 0..5 {
        let name = format!("import-{run}.db");
        w.time({
            let mut c = w.vault(&name);
            c.arg("init");
            c
        });
        let (took, out) = w.time({
            let mut c = w.vault(&name);
            c.args(["import", "--format", "chrome-csv"]).arg(&csv);
            c
        });
        assert!(out.contains(&format!("imported {} items", a.rows)), "{out}");
        imports.push(took);
    }
    report("import_rows", a.rows, &mut imports, Some(2000.0));
}
