//! The bench's generated vault: realistic logins as a Chrome CSV export,
//! from a deterministic generator (no rand dependency).

use std::io::Write;
use std::path::Path;

/// splitmix64: a deterministic spread without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

const WORDS: &[&str] = &[
    "mail", "bank", "shop", "cloud", "news", "travel", "photo", "music", "forum", "games",
    "health", "school", "energy", "market", "stream", "books", "social", "video", "drive", "notes",
    "chat", "maps", "tickets", "insure", "pay", "crypto", "jobs", "food", "sport", "home",
];
const TLDS: &[&str] = &[
    "com", "org", "net", "io", "de", "co.uk", "fr", "app", "dev", "eu",
];
const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "trent", "victor", "walter",
];
const PATHS: &[&str] = &[
    "/login",
    "/signin",
    "/account/login",
    "/",
    "/auth?next=%2Fhome",
    "/users/sign_in",
];
const PW_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_=+[]{};:,.<>/?";
const NOTE_WORDS: &[&str] = &[
    "security", "question", "answer", "pin", "recovery", "code", "shared", "with", "family",
    "work", "account", "old", "email", "backup", "phone", "number", "renew", "yearly",
];

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A Chrome-format CSV of `n` distinct, realistic logins: a host, a URL on
/// it, an account, a 16-24 character random password, a note on one in
/// four.
pub fn write_csv(path: &Path, n: usize) {
    let mut rng = Rng(0x5eed);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "name,url,username,password,note").unwrap();
    for i in 0..n {
        let host = format!(
            "{}{}.{}{}.{}",
            if rng.below(3) == 0 { "www." } else { "" },
            rng.pick(WORDS),
            rng.pick(WORDS),
            i,
            rng.pick(TLDS)
        );
        let url = format!("https://{host}{}", rng.pick(PATHS));
        let user = match rng.below(3) {
            0 => format!(
                "{}.{}{}@example.com",
                rng.pick(FIRST),
                rng.pick(FIRST),
                rng.below(100)
            ),
            1 => format!("{}{}", rng.pick(FIRST), rng.below(10_000)),
            _ => format!("{}@{}.example", rng.pick(FIRST), rng.pick(WORDS)),
        };
        let len = 16 + rng.below(9);
        let password: String = (0..len)
            .map(|_| PW_CHARS[rng.below(PW_CHARS.len())] as char)
            .collect();
        let note = if rng.below(4) == 0 {
            let words = 3 + rng.below(15);
            (0..words)
                .map(|_| rng.pick(NOTE_WORDS))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            String::new()
        };
        writeln!(
            f,
            "{},{},{},{},{}",
            csv_field(&host),
            csv_field(&url),
            csv_field(&user),
            csv_field(&password),
            csv_field(&note)
        )
        .unwrap();
    }
}
