//! The circle's server as commands use it: vault-client's session with
//! the command line's faces. Its errors become the binary's (the typed
//! error stays in the chain for the exit code, error.rs), what a circle
//! refresh found is printed as warnings, a long round draws a progress
//! bar (a round prints through `round`). Also the
//! name this device shows the others ([`device_name`]). Shared by
//! `circle`, `peer`, `pairing`, `sync` and `watch`; it imports no command
//! module. A connection removes the peers a killed `vault peer invite`
//! added whose joiner never confirmed (vault-client's `pending`).

use crate::error::CliError;
use tokio::runtime::Handle;
use tokio::sync::watch as signal;
use uuid::Uuid;
use vault_client::session::{self, CircleRefresh, SessionError};
use vault_client::{Outcome, Server, TransferProgress};
use vault_core::UnlockedVault;
use vault_core::circle::{CircleInfo, PeerId, SignedEntry};

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
