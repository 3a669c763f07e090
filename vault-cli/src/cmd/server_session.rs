//! The circle's server as commands use it: authenticate and bring the
//! circle log and key shares up to date ([`connect`], [`pull`]), append to
//! the log ([`append_with_retry`]), run sync rounds over one authenticated
//! [`Session`] and print them ([`print_round`]), and the name this device
//! shows the others ([`device_name`]). Shared by `circle`, `peer`,
//! `pairing`, `sync` and `watch`; it imports no command module.

use crate::error::CliError;
use crate::output::Out;
use anyhow::Context;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::watch as signal;
use uuid::Uuid;
use vault_client::{Append, ClientError, HttpTransport, Server, Stats, TransferProgress, stopped};
use vault_core::UnlockedVault;
use vault_core::circle::{CircleInfo, KeyShare};
use vault_core::sync::{Phase, SyncError, SyncReport};

/// The vault's circle, or a usage error saying how to make one.
pub fn circle_of(vault: &UnlockedVault) -> anyhow::Result<CircleInfo> {
    vault.circle()?.ok_or_else(|| no_circle().into())
}

/// The usage error of a command that needs a circle, in a vault with none.
pub fn no_circle() -> CliError {
    CliError::Usage(
        "this vault is not in a circle: `vault circle create --server URL`, or `vault peer join CODE`"
            .into(),
    )
}

/// Authenticates this device to its circle's server and pulls.
pub async fn connect(vault: &mut UnlockedVault) -> anyhow::Result<Server> {
    let info = circle_of(vault)?;
    let mut server = Server::new(&info.server_url, &info.trust)?;
    let me = vault.device().peer_id();
    let circle_id = info.circle_id;
    server
        .authenticate(circle_id, &me, |c| vault.sign_auth(circle_id, c))
        .await
        .map_err(refused)?;
    pull(vault, &server).await?;
    Ok(server)
}

/// New log entries after the local head, then key shares for this device:
/// each verified by vault-core before anything is stored.
pub async fn pull(vault: &mut UnlockedVault, server: &Server) -> anyhow::Result<()> {
    let info = circle_of(vault)?;
    let (entries, (head_seq, head_hash)) = server
        .log_with_head(info.circle_id, Some(info.head.0))
        .await?;
    if !entries.is_empty() {
        vault
            .apply_log(&entries)
            .context("the circle log the server sent does not verify; nothing was changed")?;
    }
    // The log never shrinks: a head behind the one verified, or another
    // entry at it, is the server's lie.
    vault
        .check_log_head(head_seq, head_hash)
        .context("the server's circle log disagrees with the one this device verified")?;
    let blobs = server.shares(info.circle_id).await?;
    let shares = blobs
        .iter()
        .map(|b| KeyShare::from_bytes(b))
        .collect::<Result<Vec<_>, _>>()?;
    if !shares.is_empty() {
        let report = vault.install_shares(&shares)?;
        let missing = circle_of(vault)?.missing_epochs;
        // A refused share matters while a key is still missing; once every
        // epoch is held, old refusals are stale shares of lost races.
        if !missing.is_empty() {
            for (sender, why) in &report.rejected {
                eprintln!(
                    "vault: warning: refused a key share from {}: {why}",
                    sender.short()
                );
            }
            eprintln!(
                "vault: warning: this device still lacks the key of epoch {missing:?}; \
                 another member must share it"
            );
        }
    }
    Ok(())
}

/// Appends an entry made by `make` (from the current head), re-reading
/// the log and remaking it when another device appended first.
pub async fn append_with_retry(
    vault: &mut UnlockedVault,
    server: &Server,
    mut make: impl FnMut(&mut UnlockedVault) -> anyhow::Result<vault_core::circle::SignedEntry>,
) -> anyhow::Result<()> {
    for _ in 0..10 {
        let info = circle_of(vault)?;
        let entry = make(vault)?;
        match server.append(info.circle_id, info.head.1, &entry).await? {
            Append::Stored => {
                pull(vault, server).await?;
                return Ok(());
            }
            Append::HeadMoved => pull(vault, server).await?,
        }
    }
    anyhow::bail!("the circle log kept changing; try again")
}

/// A refusal to authenticate means this device is not (or no longer) a
/// member.
fn refused(e: ClientError) -> anyhow::Error {
    match e.code() {
        Some("forbidden") => CliError::NotMember.into(),
        _ => e.into(),
    }
}

/// The name other devices see: the flag, else the host name.
pub fn device_name(flag: Option<String>) -> anyhow::Result<String> {
    let name = match flag {
        Some(n) => n,
        None => rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
    };
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(CliError::Usage(
            "a device name is 1 to 64 bytes with no control characters".into(),
        )
        .into());
    }
    Ok(name)
}

/// What one round did, with what it cost on the wire.
pub struct Outcome {
    /// The engine's report.
    pub report: SyncReport,
    /// The sync routes' requests and bytes (authentication and the
    /// circle log not included).
    pub stats: Stats,
    /// Time spent in the engine's round (`UnlockedVault::sync`, with its
    /// requests), summed over a retry; unlock and authentication excluded.
    pub elapsed: Duration,
}

/// An authenticated connection to the circle's server, re-made when the
/// server stops accepting its token.
pub struct Session {
    handle: Handle,
    circle_id: Uuid,
    server: Option<Server>,
    stop: Option<signal::Receiver<bool>>,
    wait_limit: Duration,
    /// Where a long round's progress is drawn (hidden unless asked for).
    bar: indicatif::ProgressBar,
}

/// Rounds with fewer changes or records than this draw no bar.
const BAR_FROM: u64 = 2_000;

impl Session {
    /// Not yet connected; requests block on `handle` (a runtime whose
    /// worker drives I/O, see [`vault_client::background_runtime`]).
    pub fn new(handle: Handle, circle_id: Uuid) -> Self {
        Self {
            handle,
            circle_id,
            server: None,
            wait_limit: vault_client::DEFAULT_WAIT_LIMIT,
            stop: None,
            bar: indicatif::ProgressBar::hidden(),
        }
    }

    /// Draws a long pull's or push's progress on standard error (records
    /// and bytes), when it is a terminal and `show` says so.
    pub fn with_progress_bar(mut self, show: bool) -> Self {
        use std::io::IsTerminal;
        if show && std::io::stderr().is_terminal() {
            self.bar = indicatif::ProgressBar::new(0);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{msg:>8} {bar:40} {pos}/{len} records")
            {
                self.bar.set_style(style);
            }
        }
        self
    }
    /// How long one request may wait out a rate-limiting or busy server.
    pub fn with_wait_limit(mut self, limit: Duration) -> Self {
        self.wait_limit = limit;
        self
    }

    /// Requests in flight are abandoned once `stop` turns true.
    pub fn with_stop(mut self, stop: signal::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The session token, when connected.
    pub fn token(&self) -> Option<&str> {
        self.server.as_ref().and_then(Server::token)
    }

    /// Forgets the token: the next request authenticates again.
    pub fn disconnect(&mut self) {
        self.server = None;
    }

    /// Authenticates and refreshes the circle log and key shares, unless
    /// already connected.
    pub fn connect(&mut self, vault: &mut UnlockedVault) -> anyhow::Result<()> {
        if self.server.is_none() {
            let server = self.block(connect(vault))?;
            self.server = Some(server);
        }
        Ok(())
    }

    /// Pulls the circle log and key shares (a `circle` or `shares` hint),
    /// authenticating again if the token expired.
    pub fn refresh_circle(&mut self, vault: &mut UnlockedVault) -> anyhow::Result<()> {
        let Some(server) = &self.server else {
            return self.connect(vault);
        };
        match self.block(pull(vault, server)) {
            Err(e) if is_unauthorized(&e) => {
                self.server = None;
                self.connect(vault)
            }
            other => other,
        }
    }

    /// One sync round. A 401 on the way (the token expired or was
    /// revoked) re-authenticates and runs the round once more: the engine
    /// resumes from what it committed.
    pub fn round(&mut self, vault: &mut UnlockedVault) -> anyhow::Result<Outcome> {
        let mut stats = Stats::default();
        let mut elapsed = Duration::ZERO;
        let mut retried = false;
        loop {
            self.connect(vault)?;
            let Some(server) = &self.server else {
                anyhow::bail!("not connected to the sync server");
            };
            let bar = self.bar.clone();
            let mut transport = HttpTransport::new(self.handle.clone(), server, self.circle_id)
                .with_wait_limit(self.wait_limit)
                .with_progress(Box::new(move |p: TransferProgress| {
                    if p.records_total < BAR_FROM {
                        return;
                    }
                    let verb = match p.phase {
                        Phase::Pull => "pulling",
                        Phase::Push => "pushing",
                    };
                    bar.set_message(format!("{verb} {} MiB", p.bytes_done.div_ceil(1 << 20)));
                    bar.set_length(p.records_total);
                    bar.set_position(p.records_done);
                }));
            if let Some(stop) = &self.stop {
                transport = transport.with_stop(stop.clone());
            }
            let started = Instant::now();
            let result = vault.sync(&mut transport);
            self.bar.finish_and_clear();
            elapsed += started.elapsed();
            stats += transport.stats();
            let unauthorized = transport.unauthorized();
            drop(transport);
            if unauthorized || matches!(result, Err(SyncError::NotMember)) {
                self.server = None;
            }
            match result {
                Ok(report) => {
                    return Ok(Outcome {
                        report,
                        stats,
                        elapsed,
                    });
                }
                Err(_) if unauthorized && !retried => retried = true,
                Err(e) => return Err(sync_error(e)),
            }
        }
    }

    /// Runs `fut` to completion on the runtime, or until stopped.
    fn block<T>(&self, fut: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        let mut stop = self.stop.clone();
        self.handle.block_on(async move {
            tokio::select! {
                got = fut => got,
                () = stopped(stop.as_mut()) => Err(anyhow::anyhow!("interrupted")),
            }
        })
    }
}

/// Whether a request failed for a token the server no longer accepts.
fn is_unauthorized(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ClientError>(),
            Some(ClientError::Refused { status: 401, .. })
        )
    })
}

/// A sync failure for the binary edge: the typed error stays in the
/// chain for the exit code (error.rs); a zone that fails verification
/// says so first.
fn sync_error(e: SyncError) -> anyhow::Error {
    match e {
        SyncError::Zone(_) => anyhow::Error::new(e)
            .context("the sync server failed verification, so the sync stopped"),
        SyncError::NoCircle => no_circle().into(),
        other => other.into(),
    }
}

/// A round's JSON: counts, quarantine, duplicates, token and wire cost.
pub fn round_json(o: &Outcome, at_ms: Option<i64>) -> Value {
    let r = &o.report;
    let quarantine: Vec<Value> = r
        .quarantined
        .iter()
        .map(|q| {
            json!({
                "uuid": q.uuid.to_string(),
                "gencount": q.gencount,
                "writer": q.writer.to_string(),
                "reason": q.reason.to_string(),
            })
        })
        .collect();
    let duplicates: Vec<Value> = r
        .duplicates
        .iter()
        .map(|(a, b)| json!([a.to_string(), b.to_string()]))
        .collect();
    let mut v = json!({
        "pulled": r.pulled,
        "pushed": r.pushed,
        "merged": r.merged,
        "conflicts": r.conflicts,
        "quarantined": r.quarantined.len(),
        "quarantine": quarantine,
        "duplicates": duplicates,
        "token": r.token.to_text(),
        "requests": o.stats.requests,
        "records_received": r.records_received,
        "bytes_received": o.stats.bytes_received,
        "elapsed_ms": (o.elapsed.as_secs_f64() * 1e6).round() / 1e3,
    });
    if let (Some(at), Some(map)) = (at_ms, v.as_object_mut()) {
        map.insert("at_ms".into(), at.into());
    }
    v
}

/// Prints a round: its line (or JSON object), then one warning on stderr
/// per quarantined record and per possible duplicate.
pub fn print_round(out: Out, o: &Outcome, at_ms: Option<i64>) {
    let r = &o.report;
    out.data(&format!(
        "synced: pulled {}, pushed {}, merged {}, conflicts {}, quarantined {}",
        r.pulled,
        r.pushed,
        r.merged,
        r.conflicts,
        r.quarantined.len()
    ));
    out.json(&round_json(o, at_ms));
    for q in &r.quarantined {
        eprintln!(
            "vault: warning: quarantined record {} from {}: {}",
            q.uuid,
            q.writer.short(),
            q.reason
        );
    }
    for (a, b) in &r.duplicates {
        eprintln!(
            "vault: warning: items {a} and {b} look like duplicates (same account, created on two devices)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault_core::sync::Token;

    #[test]
    fn the_json_has_every_field() {
        let o = Outcome {
            report: SyncReport {
                pulled: 2,
                token: Token { epoch: 1, seq: 9 },
                records_received: 2,
                ..SyncReport::default()
            },
            stats: Stats {
                requests: 4,
                bytes_received: 900,
                reconnects: 0,
            },
            elapsed: Duration::from_micros(12_345),
        };
        let v = round_json(&o, Some(5));
        for key in [
            "pulled",
            "pushed",
            "merged",
            "conflicts",
            "quarantined",
            "quarantine",
            "duplicates",
            "token",
            "requests",
            "records_received",
            "bytes_received",
            "elapsed_ms",
            "at_ms",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        assert_eq!(v["token"], "1.9");
        assert_eq!(v["requests"], 4);
        assert_eq!(v["elapsed_ms"], 12.345);
        assert!(round_json(&o, None).get("at_ms").is_none());
    }
}
