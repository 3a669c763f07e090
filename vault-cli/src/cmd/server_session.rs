//! The circle's server as commands use it: vault-client's session with
//! the command line's faces. Its errors become the binary's (the typed
//! error stays in the chain for the exit code, error.rs), what a circle
//! refresh found is printed as warnings, a long round draws a progress
//! bar, and a round prints as a line or JSON ([`print_round`]). Also the
//! name this device shows the others ([`device_name`]). Shared by
//! `circle`, `peer`, `pairing`, `sync` and `watch`; it imports no command
//! module. A connection removes the peers a killed `vault peer invite`
//! added whose joiner never confirmed (vault-client's `pending`).

use crate::error::CliError;
use crate::output::Out;
use serde_json::{Value, json};
use tokio::runtime::Handle;
use tokio::sync::watch as signal;
use uuid::Uuid;
use vault_client::session::{self, CircleRefresh, SessionError};
use vault_client::{Outcome, Server, TransferProgress};
use vault_core::UnlockedVault;
use vault_core::circle::{CircleInfo, PeerId, SignedEntry};

/// What `vault sync` and `vault status` say when the server reported that
/// devices disagree about the zone.
pub const DIVERGENCE_WARNING: &str = "the server reports that another device of this circle \
    signed a different state of the vault at the same point: the devices disagree. Run `vault \
    sync` on every device; if this stays, the server may be serving devices different data: \
    tell its admin and compare `vault peer verify` on each device";
use vault_core::sync::{Phase, SyncError};

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

/// Authenticates this device to its circle's server and pulls; removes
/// the peers whose pairing never finished ([`remove_unconfirmed`]).
pub async fn connect(vault: &mut UnlockedVault) -> anyhow::Result<Server> {
    let (server, refresh) = session::connect(vault).await.map_err(cli_error)?;
    warn(&refresh);
    remove_unconfirmed(vault, &server, &refresh.unconfirmed_adds).await?;
    Ok(server)
}

/// Removes `peer`, whose joiner never confirmed its add, with a new key
/// epoch (vault-client's `remove_unjoined`). Returns the new epoch.
pub async fn remove_unjoined(
    vault: &mut UnlockedVault,
    server: &Server,
    peer: &PeerId,
) -> anyhow::Result<u32> {
    session::remove_unjoined(vault, server, peer)
        .await
        .map_err(cli_error)
}

/// Removes each peer a connection found added by this device and never
/// confirmed by its joiner (a `vault peer invite` killed before the
/// confirmation), with a new key epoch, and forgets its pending add.
/// A removal that fails is a warning: the next connection tries again.
async fn remove_unconfirmed(
    vault: &mut UnlockedVault,
    server: &Server,
    peers: &[PeerId],
) -> anyhow::Result<()> {
    for target in peers {
        let name = vault
            .circle()?
            .and_then(|c| c.members.into_iter().find(|m| m.peer_id == *target))
            .and_then(|m| m.name)
            .unwrap_or_else(|| "a device".into());
        match remove_unjoined(vault, server, target).await {
            Ok(epoch) => {
                vault.clear_pending_add(target)?;
                eprintln!(
                    "vault: {name} ({}) did not finish joining; removed it again \
                     (the vault key is now epoch {epoch})",
                    target.short()
                );
            }
            Err(e) => eprintln!(
                "vault: warning: {name} ({}) did not finish joining, and removing it failed: \
                 {e:#}; the next connection tries again",
                target.short()
            ),
        }
    }
    Ok(())
}

/// Appends an entry made by `make` (from the current head), re-reading
/// the log and remaking it when another device appended first.
pub async fn append_with_retry(
    vault: &mut UnlockedVault,
    server: &Server,
    mut make: impl FnMut(&mut UnlockedVault) -> anyhow::Result<SignedEntry>,
) -> anyhow::Result<()> {
    /// The command's own failure, or the session's.
    enum Failed {
        Command(anyhow::Error),
        Session(SessionError),
    }
    impl From<SessionError> for Failed {
        fn from(e: SessionError) -> Self {
            Failed::Session(e)
        }
    }
    session::append_with_retry(vault, server, |v| make(v).map_err(Failed::Command))
        .await
        .map_err(|e| match e {
            Failed::Command(e) => e,
            Failed::Session(e) => cli_error(e),
        })
}

/// Prints what a circle refresh found: refused key shares while a key is
/// still missing, and the epochs still lacking.
fn warn(refresh: &CircleRefresh) {
    for (sender, why) in &refresh.refused_shares {
        eprintln!(
            "vault: warning: refused a key share from {}: {why}",
            sender.short()
        );
    }
    if !refresh.missing_epochs.is_empty() {
        eprintln!(
            "vault: warning: this device still lacks the key of epoch {:?}; \
             another member must share it",
            refresh.missing_epochs
        );
    }
}

/// A session failure for the binary edge: the typed error stays in the
/// chain for the exit code (error.rs), with the words the user sees.
fn cli_error(e: SessionError) -> anyhow::Error {
    match e {
        SessionError::Client(e) => e.into(),
        SessionError::NotMember => CliError::NotMember.into(),
        SessionError::NoCircle => no_circle().into(),
        SessionError::BadLog(e) => anyhow::Error::new(e)
            .context("the circle log the server sent does not verify; nothing was changed"),
        SessionError::LogDisagrees(e) => anyhow::Error::new(e)
            .context("the server's circle log disagrees with the one this device verified"),
        SessionError::BadShare(e) => e.into(),
        SessionError::Circle(e) => e.into(),
        SessionError::Sync(e) => sync_error(e),
        e @ (SessionError::LogKeptChanging | SessionError::Interrupted) => e.into(),
    }
}

/// A sync failure: a zone that fails verification says so first.
fn sync_error(e: SyncError) -> anyhow::Error {
    match e {
        SyncError::Zone(_) => anyhow::Error::new(e)
            .context("the sync server failed verification, so the sync stopped"),
        SyncError::NoCircle => no_circle().into(),
        other => other.into(),
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

/// Rounds with fewer changes or records than this draw no bar.
const BAR_FROM: u64 = 2_000;

/// vault-client's [`vault_client::Session`] with the command line's
/// warnings, errors and progress bar.
pub struct Session {
    inner: vault_client::Session,
    /// The runtime the inner session's requests run on.
    handle: Handle,
    /// Where a long round's progress is drawn (hidden unless asked for).
    bar: indicatif::ProgressBar,
}

impl Session {
    /// Not yet connected; requests block on `handle` (a runtime whose
    /// worker drives I/O, see [`vault_client::background_runtime`]).
    pub fn new(handle: Handle, circle_id: Uuid) -> Self {
        Self {
            inner: vault_client::Session::new(handle.clone(), circle_id),
            handle,
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
    pub fn with_wait_limit(mut self, limit: std::time::Duration) -> Self {
        self.inner = self.inner.with_wait_limit(limit);
        self
    }

    /// Requests in flight are abandoned once `stop` turns true.
    pub fn with_stop(mut self, stop: signal::Receiver<bool>) -> Self {
        self.inner = self.inner.with_stop(stop);
        self
    }

    /// The server connected to, when connected.
    pub fn server(&self) -> Option<&vault_client::Server> {
        self.inner.server()
    }

    /// Forgets the token: the next request authenticates again.
    pub fn disconnect(&mut self) {
        self.inner.disconnect();
    }

    /// Authenticates and refreshes the circle log and key shares, unless
    /// connected with a token not about to expire.
    pub fn connect(&mut self, vault: &mut UnlockedVault) -> anyhow::Result<()> {
        if let Some(refresh) = self.inner.connect(vault).map_err(cli_error)? {
            warn(&refresh);
            self.remove_unconfirmed(vault, &refresh)?;
        }
        Ok(())
    }

    /// Pulls the circle log and key shares (a `circle` or `shares` hint),
    /// authenticating again if the token expired.
    pub fn refresh_circle(&mut self, vault: &mut UnlockedVault) -> anyhow::Result<()> {
        let refresh = self.inner.refresh_circle(vault).map_err(cli_error)?;
        warn(&refresh);
        self.remove_unconfirmed(vault, &refresh)
    }

    /// Removes `peer` at a cut with a new key epoch (a sync round first;
    /// all again if the zone or the log moved). Returns the new epoch.
    pub fn remove_peer(
        &mut self,
        vault: &mut UnlockedVault,
        peer: &vault_core::circle::PeerId,
    ) -> anyhow::Result<u32> {
        self.inner.remove_peer(vault, peer).map_err(cli_error)
    }

    /// One sync round (again after a 401, once).
    /// [`remove_unconfirmed`] over this session's connection.
    fn remove_unconfirmed(
        &self,
        vault: &mut UnlockedVault,
        refresh: &CircleRefresh,
    ) -> anyhow::Result<()> {
        match self.inner.server() {
            Some(server) if !refresh.unconfirmed_adds.is_empty() => self
                .handle
                .block_on(remove_unconfirmed(vault, server, &refresh.unconfirmed_adds)),
            _ => Ok(()),
        }
    }

    /// One sync round (again after a 401, once), connected first as
    /// [`Session::connect`] does.
    pub fn round(&mut self, vault: &mut UnlockedVault) -> anyhow::Result<Outcome> {
        self.connect(vault)?;
        let bar = self.bar.clone();
        let observer = Box::new(move |p: TransferProgress| {
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
        });
        let result = self.inner.round(vault, Some(observer));
        self.bar.finish_and_clear();
        result.map_err(cli_error)
    }
}

/// A round's JSON: counts, quarantine, duplicates, token and wire cost.
pub fn round_json(o: &Outcome, at_ms: Option<i64>, conflicted: &[Conflicted]) -> Value {
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
        "conflicted": conflicted.iter().map(|c| json!({
            "uuid": c.uuid.to_string(),
            "item": c.item,
            "fields": c.fields,
        })).collect::<Vec<_>>(),
        "quarantined": r.quarantined.len(),
        "quarantine": quarantine,
        "dropped": r.dropped.iter().map(|q| json!({
            "uuid": q.uuid.to_string(),
            "gencount": q.gencount,
            "writer": q.writer.to_string(),
            "reason": q.reason.to_string(),
        })).collect::<Vec<_>>(),
        "duplicates": duplicates,
        "restored": r.restored.map(|x| json!({
            "from_epoch": x.from_epoch,
            "to_epoch": x.to_epoch,
            "reuploaded": x.reuploaded,
        })),
        "rolled_back": r.rolled_back.iter().map(|q| json!({
            "uuid": q.uuid.to_string(),
            "gencount": q.gencount,
            "writer": q.writer.to_string(),
            "reason": q.reason.to_string(),
        })).collect::<Vec<_>>(),
        "token": r.token.to_text(),
        "divergence": o.stats.divergence,
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

/// An item a round merged with conflicting fields, named for a person.
pub struct Conflicted {
    /// The item.
    pub uuid: uuid::Uuid,
    /// Its short id, class, name and account.
    pub item: String,
    /// The fields both sides changed.
    pub fields: Vec<String>,
}

/// Prints a round: its line (or JSON object), then one warning on stderr
/// per quarantined record and per possible duplicate, a one-time notice
/// per record dropped past a removal's cut, and what a restored server
/// made this device upload again.
pub fn print_round(out: Out, vault: &mut UnlockedVault, o: &Outcome, at_ms: Option<i64>) {
    let r = &o.report;
    let conflicted: Vec<Conflicted> = r
        .conflicted
        .iter()
        .map(|(uuid, fields)| Conflicted {
            uuid: *uuid,
            item: vault
                .get(*uuid)
                .map_or_else(|_| uuid.to_string(), |i| crate::query::short(&i)),
            fields: fields.clone(),
        })
        .collect();
    let mut line = format!(
        "synced: pulled {}, pushed {}, merged {}, conflicts {}, quarantined {}",
        r.pulled,
        r.pushed,
        r.merged,
        r.conflicts,
        r.quarantined.len()
    );
    if !conflicted.is_empty() {
        let named: Vec<String> = conflicted
            .iter()
            .map(|c| format!("{} ({})", c.item, c.fields.join(", ")))
            .collect();
        line.push_str(&format!(
            "\nconflicts in: {}; the losing values are in `vault history`",
            named.join("; ")
        ));
    }
    out.done(&line);
    out.json(&round_json(o, at_ms, &conflicted));
    for q in &r.quarantined {
        eprintln!(
            "vault: warning: quarantined record {} from {}: {} (decide with `vault quarantine`)",
            q.uuid,
            q.writer.short(),
            q.reason
        );
    }
    if let Some(x) = r.restored {
        eprintln!(
            "vault: the server was restored from a backup (zone epoch {} -> {}): this device uploaded again the {} version(s) it lacked or held older; nothing was lost",
            x.from_epoch, x.to_epoch, x.reuploaded
        );
    }
    for q in &r.rolled_back {
        eprintln!(
            "vault: warning: the server served an older version of {} ({}); kept this device's and uploaded it again",
            q.uuid, q.reason
        );
    }
    for q in &r.dropped {
        eprintln!(
            "vault: notice: dropped record {} from {}: {} (it was written after the removal; nothing to do)",
            q.uuid,
            q.writer.short(),
            q.reason
        );
    }
    if o.stats.divergence {
        eprintln!("vault: warning: {DIVERGENCE_WARNING}");
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
    use std::time::Duration;
    use vault_client::Stats;
    use vault_core::sync::{SyncReport, Token};

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
                divergence: false,
            },
            elapsed: Duration::from_micros(12_345),
        };
        let v = round_json(&o, Some(5), &[]);
        for key in [
            "pulled",
            "pushed",
            "merged",
            "conflicts",
            "quarantined",
            "quarantine",
            "duplicates",
            "token",
            "divergence",
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
        assert_eq!(v["divergence"], false);
        assert_eq!(v["elapsed_ms"], 12.345);
        assert!(round_json(&o, None, &[]).get("at_ms").is_none());
    }
}
