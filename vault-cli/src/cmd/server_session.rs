//! The circle's server as commands use it: vault-client's session with
//! the command line's faces. Its errors become the binary's (the typed
//! error stays in the chain for the exit code, error.rs), what a circle
//! refresh found is printed as warnings, a long round draws a progress
//! bar (a round prints through `round`). Also the
//! name this device shows the others ([`device_name`]). Shared by
//! `circle`, `peer`, `pairing`, `sync` and `watch`; it imports no command
//! module. A connection removes the peers a killed `vault peer invite`
//! added whose joiner never confirmed (vault-client's `pending` and
//! `session::remove_unconfirmed`), and says so.

use crate::error::CliError;
use tokio::runtime::Handle;
use uuid::Uuid;
use vault_client::session::{self, CircleRefresh, SessionError, UnconfirmedRemoval};
use vault_client::{Outcome, Server, TransferProgress};
use vault_core::UnlockedVault;
use vault_core::circle::{CircleInfo, PeerId};

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

/// Removes each peer a connection found added by this device and never
/// confirmed by its joiner (a `vault peer invite` killed before the
/// confirmation; vault-client's `remove_unconfirmed`), and says so.
/// A removal that fails is a warning: the next connection tries again.
async fn remove_unconfirmed(
    vault: &mut UnlockedVault,
    server: &Server,
    peers: &[PeerId],
) -> anyhow::Result<()> {
    if peers.is_empty() {
        return Ok(());
    }
    let removals = session::remove_unconfirmed(vault, server, peers)
        .await
        .map_err(cli_error)?;
    print_removals(&removals);
    Ok(())
}

/// Says what became of each unconfirmed add a connection removed.
pub(crate) fn print_removals(removals: &[UnconfirmedRemoval]) {
    for removal in removals {
        let (name, short) = (&removal.name, removal.peer.short());
        match &removal.result {
            Ok(epoch) => eprintln!(
                "vault: {name} ({short}) did not finish joining; removed it again \
                 (the vault key is now epoch {epoch})"
            ),
            Err(e) => eprintln!(
                "vault: warning: {name} ({short}) did not finish joining, and removing it failed: \
                 {}; the next connection tries again",
                error_words(e)
            ),
        }
    }
}

/// Prints what a circle refresh found: refused key shares while a key is
/// still missing, and the epochs still lacking.
pub(crate) fn warn(refresh: &CircleRefresh) {
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
pub(crate) fn cli_error(e: SessionError) -> anyhow::Error {
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
        SyncError::Zone(_) => anyhow::Error::new(e).context(ZONE_FAILED),
        SyncError::NoCircle => no_circle().into(),
        other => other.into(),
    }
}

/// What a sync round whose zone failed verification says first.
const ZONE_FAILED: &str = "the sync server failed verification, so the sync stopped";

/// The words [`cli_error`] gives `e` (as `{:#}` prints it), for an error
/// that is told and not returned.
pub(crate) fn error_words(e: &SessionError) -> String {
    /// An error and its sources, as anyhow's `{:#}` prints them.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut words = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            words.push_str(&format!(": {cause}"));
            next = cause.source();
        }
        words
    }
    match e {
        SessionError::NotMember => CliError::NotMember.to_string(),
        SessionError::NoCircle | SessionError::Sync(SyncError::NoCircle) => no_circle().to_string(),
        SessionError::BadShare(e) => chain(e),
        SessionError::Sync(e @ SyncError::Zone(_)) => format!("{ZONE_FAILED}: {}", chain(e)),
        e => chain(e),
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
    let Some(name) = vault_client::pairing::device_name(&name) else {
        return Err(CliError::Usage(vault_client::pairing::DEVICE_NAME_RULE.into()).into());
    };
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

    /// Authenticates and refreshes the circle log and key shares, unless
    /// connected with a token not about to expire.
    pub fn connect(&mut self, vault: &mut UnlockedVault) -> anyhow::Result<()> {
        if let Some(refresh) = self.inner.connect(vault).map_err(cli_error)? {
            warn(&refresh);
            self.remove_unconfirmed(vault, &refresh)?;
        }
        Ok(())
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
