//! Where output goes: the data asked for on stdout (JSON with --json),
//! notices on stderr unless --quiet; and how times are shown.

use std::io::Write;

/// The global output switches.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// Machine output: one JSON document on stdout.
    pub json: bool,
    /// No notices.
    pub quiet: bool,
}

impl Out {
    /// A line of the data the command was asked for (human mode only).
    pub fn data(&self, line: &str) {
        if !self.json {
            write_stdout(line);
        }
    }

    /// What a command did, for a person: "deleted ...", "synced: ...",
    /// "exported ...". On stdout in human mode, but not with -q: it is not
    /// data the command was asked for.
    pub fn done(&self, line: &str) {
        if !self.json && !self.quiet {
            write_stdout(line);
        }
    }

    /// The command's JSON result (JSON mode only).
    pub fn json(&self, value: &serde_json::Value) {
        if self.json {
            write_stdout(&value.to_string());
        }
    }

    /// A notice for a person, on stderr (never in JSON mode or with -q).
    pub fn note(&self, line: &str) {
        if !self.json && !self.quiet {
            eprintln!("{line}");
        }
    }
}

/// A time in ms since the epoch as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Writes one line to stdout; a closed pipe (`vault ls | head`) is not an
/// error worth a panic.
pub fn write_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}
