//! `vault-server admin`: registration tokens, circles (list, show,
//! disable, enable, delete, quotas) and the admin log, against the database a running
//! server uses (or the one it will use). Every change is written to the
//! append-only admin log in its own transaction.

use anyhow::Context;
use clap::Subcommand;
use std::io::Write;
use std::time::Duration;
use vault_server::Database;
use vault_server::storage::postgres::PgStorage;
use vault_server::storage::{
    AdminDb, AdminLogRow, AdminStore, CircleInfo, QuotaChange, Quotas, TokenInfo,
};

/// What an admin can do.
#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Registration tokens: who may create a circle when
    /// `registration = "token"`.
    #[command(subcommand)]
    Token(TokenCmd),
    /// List the circles: id, created, members, records, ciphertext bytes,
    /// last activity (counts only: the server holds no readable data).
    Circles {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// One circle: show it, disable it (its devices are refused with 403
    /// circle_disabled and their sockets close; nothing is deleted), enable
    /// it again, or delete a disabled one (--yes).
    #[command(subcommand)]
    Circle(CircleCmd),
    /// Check the database file and every circle's log (decoding, hashes,
    /// signatures, links; no keys needed); exits 1 if anything is wrong.
    Check {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print the admin log (every admin action, oldest first).
    Log {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// `admin circle ...`.
#[derive(Debug, Subcommand)]
pub enum CircleCmd {
    /// A circle's counts and state.
    Show {
        /// The circle's id.
        id: uuid::Uuid,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Refuse the circle's devices until it is enabled again.
    Disable {
        /// The circle's id.
        id: uuid::Uuid,
    },
    /// Serve a disabled circle again.
    Enable {
        /// The circle's id.
        id: uuid::Uuid,
    },
    /// Set a circle's own quotas (in place of the server's `[quotas]`);
    /// with no flag, show them. A running server applies them from the
    /// circle's next push or pairing.
    Quota {
        /// The circle's id.
        id: uuid::Uuid,
        /// Most current devices: a number (0: no limit) or `default`.
        #[arg(long, value_name = "N|default", value_parser = quota_value)]
        max_devices: Option<Limit>,
        /// Most live records (items): a number (0: no limit) or `default`.
        #[arg(long, value_name = "N|default", value_parser = quota_value)]
        max_records: Option<Limit>,
        /// Most ciphertext bytes: a number (0: no limit) or `default`.
        #[arg(long, value_name = "N|default", value_parser = quota_value)]
        max_bytes: Option<Limit>,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Delete a disabled circle and everything the server holds of it.
    Delete {
        /// The circle's id.
        id: uuid::Uuid,
        /// Yes, delete it (nothing of it can be recovered but from a backup).
        #[arg(long)]
        yes: bool,
    },
}

/// `admin token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Issue a one-time registration token (printed once; only its hash is
    /// stored).
    Create {
        /// How long it stays valid, e.g. `7d`, `12h` [default: never expires].
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
        /// A note for `admin token ls` (who it is for).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Print `{"token": ..., "id": ...}` on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List the tokens (ids, notes, state; never their text).
    Ls {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an unused token by its id.
    Revoke {
        /// The id `admin token ls` shows.
        id: String,
    },
}

/// A quota as given on the command line: a number, or `None` for the
/// server's default.
#[derive(Debug, Clone, Copy)]
pub struct Limit(Option<u64>);

fn quota_value(s: &str) -> Result<Limit, String> {
    match s {
        "default" => Ok(Limit(None)),
        n => match n.parse::<u64>() {
            // The database holds signed 64-bit integers.
            Ok(v) if i64::try_from(v).is_ok() => Ok(Limit(Some(v))),
            Ok(_) => Err(format!("{n} is over the largest quota, 2^63 - 1")),
            Err(_) => Err(format!("{n:?} is neither a whole number nor `default`")),
        },
    }
}

fn now() -> anyhow::Result<i64> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    i64::try_from(secs).context("the system clock is out of range")
}

/// Runs one admin command on the database at `db`; `quotas` are the
/// server's defaults (its config's `[quotas]`).
pub fn run(db: &Database, quotas: &Quotas, cmd: Admin) -> anyhow::Result<()> {
    let mut store: Box<dyn AdminStore> = match db {
        Database::Sqlite(path) => Box::new(
            AdminDb::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ),
        // Beside running instances: PostgreSQL takes the writers in turn.
        Database::Postgres(url) => {
            Box::new(PgStorage::open(url.expose()).with_context(|| format!("cannot open {db}"))?)
        }
    };
    let adb = store.as_mut();
    let mut out = std::io::stdout().lock();
    match cmd {
        Admin::Token(TokenCmd::Create {
            expires,
            note,
            json,
        }) => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).context("the system's random source failed")?;
            let token = format!("vreg_{}", vault_proto::codec::b64(&secret));
            let hash = vault_server::extract::token_hash(token.as_bytes());
            let now = now()?;
            let until =
                expires.map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
            let id = adb.create_token(&hash, note.as_deref(), now, until)?;
            if json {
                serde_json::to_writer(&mut out, &serde_json::json!({"token": token, "id": id}))?;
                writeln!(out)?;
            } else {
                writeln!(out, "{token}")?;
                eprintln!(
                    "registration token {id} issued ({}); it is shown once: \
                     give it to whoever creates the circle \
                     (vault circle create --server URL --registration-token TOKEN)",
                    until.map_or("no expiry".to_owned(), |t| format!("expires at {t}"))
                );
            }
        }
        Admin::Token(TokenCmd::Ls { json }) => {
            let tokens = adb.tokens()?;
            if json {
                let rows: Vec<_> = tokens.iter().map(token_json).collect();
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else if tokens.is_empty() {
                writeln!(out, "no registration tokens")?;
            } else {
                let now = now()?;
                for t in &tokens {
                    writeln!(
                        out,
                        "{}  {:<8}  created {}  {}",
                        t.id,
                        state(t, now),
                        t.created,
                        t.note.as_deref().unwrap_or("")
                    )?;
                }
            }
        }
        Admin::Token(TokenCmd::Revoke { id }) => {
            adb.revoke_token(&id, now()?)?;
            eprintln!("revoked registration token {id}");
        }
        Admin::Circles { json } => {
            let circles = adb.circles()?;
            if json {
                let rows: Vec<_> = circles.iter().map(|c| circle_json(c, quotas)).collect();
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else if circles.is_empty() {
                writeln!(out, "no circles")?;
            } else {
                for c in &circles {
                    writeln!(out, "{}", circle_line(c, quotas))?;
                }
            }
        }
        Admin::Circle(CircleCmd::Show { id, json }) => {
            let c = adb.circle(id)?;
            if json {
                serde_json::to_writer_pretty(&mut out, &circle_json(&c, quotas))?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}", circle_line(&c, quotas))?;
            }
        }
        Admin::Circle(CircleCmd::Quota {
            id,
            max_devices,
            max_records,
            max_bytes,
            json,
        }) => {
            let change = QuotaChange {
                max_devices: max_devices.map(|l| l.0),
                max_records: max_records.map(|l| l.0),
                max_bytes: max_bytes.map(|l| l.0),
            };
            if change != QuotaChange::default() {
                adb.set_quotas(id, &change, now()?)?;
            }
            let c = adb.circle(id)?;
            if json {
                serde_json::to_writer_pretty(&mut out, &circle_json(&c, quotas)["quotas"])?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}", quota_line(&c, quotas))?;
            }
        }
        Admin::Circle(CircleCmd::Disable { id }) => {
            adb.set_disabled(id, true, now()?)?;
            eprintln!(
                "disabled circle {id}: its devices are refused (403 circle_disabled) and a \
                 running server closes their sockets within a second; nothing was deleted"
            );
        }
        Admin::Circle(CircleCmd::Delete { id, yes }) => {
            if !yes {
                anyhow::bail!(
                    "deleting circle {id} removes everything the server holds of it; \
                     run again with --yes"
                );
            }
            let rows = adb.delete_circle(id, now()?)?;
            eprintln!("deleted circle {id} ({rows} rows)");
        }
        Admin::Circle(CircleCmd::Enable { id }) => {
            adb.set_disabled(id, false, now()?)?;
            eprintln!("enabled circle {id}");
        }
        Admin::Check { json } => {
            let report = adb.check(now()?)?;
            if json {
                let circles: Vec<_> = report
                    .circles
                    .iter()
                    .map(|(id, r)| match r {
                        Ok(n) => {
                            serde_json::json!({"id": id.to_string(), "ok": true, "entries": n})
                        }
                        Err(why) => {
                            serde_json::json!({"id": id.to_string(), "ok": false, "error": why})
                        }
                    })
                    .collect();
                let v = serde_json::json!({
                    "ok": report.ok(),
                    "integrity": report.integrity,
                    "circles": circles,
                });
                serde_json::to_writer_pretty(&mut out, &v)?;
                writeln!(out)?;
            } else {
                if report.integrity.is_empty() {
                    writeln!(out, "database: ok")?;
                }
                for problem in &report.integrity {
                    writeln!(out, "database: {problem}")?;
                }
                for (id, r) in &report.circles {
                    match r {
                        Ok(n) => writeln!(out, "circle {id}: ok ({n} entries)")?,
                        Err(why) => writeln!(out, "circle {id}: BROKEN: {why}")?,
                    }
                }
            }
            out.flush()?;
            if !report.ok() {
                anyhow::bail!("the check found problems (see above)");
            }
        }
        Admin::Log { json } => {
            let rows = adb.log()?;
            if json {
                let rows: Vec<_> = rows.iter().map(log_json).collect();
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                for r in &rows {
                    writeln!(out, "{}  {}  {}  {}", r.id, r.at, r.action, r.detail)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// `unused`, `used`, `expired` or `revoked`.
fn state(t: &TokenInfo, now: i64) -> &'static str {
    match (t.used, t.revoked, t.expires) {
        (Some(_), _, _) => "used",
        (_, Some(_), _) => "revoked",
        (_, _, Some(e)) if e <= now => "expired",
        _ => "unused",
    }
}

fn token_json(t: &TokenInfo) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "note": t.note,
        "created": t.created,
        "expires": t.expires,
        "used": t.used.map(|(at, _)| at),
        "used_by": t.used.map(|(_, circle)| circle.hyphenated().to_string()),
        "revoked": t.revoked,
    })
}

fn circle_json(c: &CircleInfo, defaults: &Quotas) -> serde_json::Value {
    let limits = c.quotas.over(defaults);
    let quota =
        |limit: u64, own: Option<u64>| serde_json::json!({"limit": limit, "own": own.is_some()});
    serde_json::json!({
        "id": c.circle_id.hyphenated().to_string(),
        "created": c.created,
        "members": c.members,
        "records": c.records,
        "bytes": c.bytes,
        "last_active": c.last_active,
        "disabled": c.disabled,
        "quotas": {
            "max_devices": quota(limits.max_devices, c.quotas.max_devices),
            "max_records": quota(limits.max_records, c.quotas.max_records),
            "max_bytes": quota(limits.max_bytes, c.quotas.max_bytes),
        },
    })
}

/// `used/limit` (`used/-` for no limit).
fn of(used: u64, limit: u64) -> String {
    if limit == 0 {
        format!("{used}/-")
    } else {
        format!("{used}/{limit}")
    }
}

fn circle_line(c: &CircleInfo, defaults: &Quotas) -> String {
    let limits = c.quotas.over(defaults);
    format!(
        "{}  created {}  members {}  records {}  bytes {}  last active {}{}",
        c.circle_id,
        c.created,
        of(c.members, limits.max_devices),
        of(c.records, limits.max_records),
        of(c.bytes, limits.max_bytes),
        c.last_active.map_or("never".to_owned(), |t| t.to_string()),
        if c.disabled.is_some() {
            "  DISABLED"
        } else {
            ""
        }
    )
}

fn quota_line(c: &CircleInfo, defaults: &Quotas) -> String {
    let limits = c.quotas.over(defaults);
    let one = |name: &str, used: u64, limit: u64, own: Option<u64>| {
        let whose = if own.is_some() { "own" } else { "default" };
        let limit = if limit == 0 {
            "no limit".to_owned()
        } else {
            limit.to_string()
        };
        format!("{name} {used} of {limit} ({whose})")
    };
    format!(
        "{}  {}  {}  {}",
        c.circle_id,
        one(
            "devices",
            c.members,
            limits.max_devices,
            c.quotas.max_devices
        ),
        one(
            "records",
            c.records,
            limits.max_records,
            c.quotas.max_records
        ),
        one("bytes", c.bytes, limits.max_bytes, c.quotas.max_bytes),
    )
}

fn log_json(r: &AdminLogRow) -> serde_json::Value {
    serde_json::json!({"id": r.id, "at": r.at, "action": r.action, "detail": r.detail})
}
