//! `vault sync`: one sync round with the circle's server (authenticate,
//! refresh the circle log and key shares, then the engine's pull, merge,
//! push and verification), and the [`Session`] that `--watch` reuses.

use super::{peer, watch};
use crate::context::Ctx;
use crate::output::Out;
use crate::remote::{RemoteError, Server};
use crate::sync_http::{HttpTransport, Stats, stopped};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::watch as signal;
use uuid::Uuid;
use vault_core::UnlockedVault;
use vault_core::sync::{SyncError, SyncReport};

/// `vault sync`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// Stay connected and sync on every change, here or on another
    /// device, until interrupted (SIGINT/SIGTERM)
    #[arg(long)]
    watch: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let watch = args.watch;
    // No password asked for a vault that has nothing to sync with.
    if ctx.open()?.info()?.circle.is_none() {
        return Err(peer::no_circle().into());
    }
    let mut vault = ctx.unlock()?;
    let circle_id = peer::circle_of(&vault)?.circle_id;
    let rt = crate::sync_http::background_runtime()?;
    let session = Session::new(rt.handle().clone(), circle_id);
    if watch {
        let result = watch::run(ctx.out, &rt, session, vault);
        // The socket task is abandoned, not awaited.
        rt.shutdown_background();
        return result;
    }
    let mut session = session;
    let outcome = session.round(&mut vault)?;
    print_round(ctx.out, &outcome, None);
    Ok(())
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
}

impl Session {
    /// Not yet connected; requests block on `handle` (a runtime whose
    /// worker drives I/O, see [`crate::sync_http::background_runtime`]).
    pub fn new(handle: Handle, circle_id: Uuid) -> Self {
        Self {
            handle,
            circle_id,
            server: None,
            stop: None,
        }
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
            let server = self.block(peer::connect(vault))?;
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
        match self.block(peer::pull(vault, server)) {
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
            let mut transport = HttpTransport::new(self.handle.clone(), server, self.circle_id);
            if let Some(stop) = &self.stop {
                transport = transport.with_stop(stop.clone());
            }
            let started = Instant::now();
            let result = vault.sync(&mut transport);
            elapsed += started.elapsed();
            stats += transport.stats();
            let unauthorized = transport.unauthorized();
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
            c.downcast_ref::<RemoteError>(),
            Some(RemoteError::Refused { status: 401, .. })
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
        SyncError::NoCircle => peer::no_circle().into(),
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
