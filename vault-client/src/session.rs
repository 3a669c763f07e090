//! A device's session with its circle's server, as front ends drive it:
//! authentication (again before the token expires, and after a 401),
//! the circle log and key shares brought up to date and verified by
//! vault-core ([`connect`], [`pull`]), pairings a killed inviting process
//! left unconfirmed ([`crate::pending`], at each connection), log appends
//! that start over when another device appended first
//! ([`append_with_retry`]), and sync rounds over one authenticated
//! [`Session`].

use crate::error::ClientError;
pub use crate::membership::{UnconfirmedRemoval, remove_unconfirmed, remove_unjoined};
use crate::membership::{finish_removal, heal_log, seal_pending};
use crate::runtime::stopped;
use crate::server::Server;
use crate::transport::{HttpTransport, ProgressObserver, Stats};
use crate::{Append, DEFAULT_WAIT_LIMIT};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::watch;
use uuid::Uuid;
use vault_core::UnlockedVault;
use vault_core::circle::{CircleInfo, KeyShare, PeerId, ShareError, SignedEntry};
use vault_core::error::CircleError;
use vault_core::sync::{SyncError, SyncReport, TransportError};

/// A token this close to its expiry is renewed before the next request.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// How many times an append starts over on a moved head.
pub(crate) const APPEND_TRIES: usize = 10;

/// Why a session's step failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The server could not be reached, refused, or answered off-shape.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused to authenticate this device: it is not (or no
    /// longer) a member.
    #[error("this device is not a member of the circle (was it removed?)")]
    NotMember,
    /// The vault is in no circle.
    #[error("this vault is not in a circle")]
    NoCircle,
    /// The log entries the server sent do not verify; nothing was stored.
    #[error("the circle log the server sent does not verify; nothing was changed")]
    BadLog(#[source] CircleError),
    /// The server's log head is behind, or other than, the one this
    /// device verified (a truncated or forked log).
    #[error("the server's circle log disagrees with the one this device verified")]
    LogDisagrees(#[source] CircleError),
    /// A key share addressed to this device does not decode.
    #[error("a key share from the server does not decode")]
    BadShare(#[source] ShareError),
    /// The vault refused a circle step.
    #[error(transparent)]
    Circle(#[from] CircleError),
    /// Other devices kept appending while this one tried.
    #[error("the circle log kept changing; try again")]
    LogKeptChanging,
    /// The sync round failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The caller's stop signal ended the step.
    #[error("interrupted")]
    Interrupted,
}

/// What bringing the circle up to date found worth telling the user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CircleRefresh {
    /// Key shares refused, by sender, with the reason, while an epoch's
    /// key is still missing (once every key is held, old refusals are
    /// stale shares of lost races and not reported).
    pub refused_shares: Vec<(PeerId, String)>,
    /// Epochs whose key this device still lacks.
    pub missing_epochs: Vec<u32>,
    /// Peers this device added whose joiner never confirmed it joined
    /// (filled at a connection, [`crate::pending`]): remove each (a
    /// removal and a new key epoch), then
    /// [`UnlockedVault::clear_pending_add`].
    pub unconfirmed_adds: Vec<PeerId>,
}

impl SessionError {
    /// Whether the server in use stopped answering (see
    /// [`ClientError::is_unavailable`]), so that another server of the
    /// circle may carry on.
    pub fn is_unavailable(&self) -> bool {
        match self {
            SessionError::Client(e) => e.is_unavailable(),
            SessionError::Sync(SyncError::Transport(t)) => match t {
                TransportError::Unreachable(_) => true,
                TransportError::Status { status, .. } => (502..=504).contains(status),
                _ => false,
            },
            _ => false,
        }
    }
}

pub(crate) fn circle_of(vault: &UnlockedVault) -> Result<CircleInfo, SessionError> {
    vault.circle()?.ok_or(SessionError::NoCircle)
}

/// Authenticates this device to its circle's server (TLS as the circle's
/// trust says), brings the circle up to date, and judges the pending adds
/// past their deadline ([`crate::pending`]). The circle's servers are
/// tried in order until one answers.
pub async fn connect(vault: &mut UnlockedVault) -> Result<(Server, CircleRefresh), SessionError> {
    connect_from(vault, 0)
        .await
        .map(|(server, refresh, _)| (server, refresh))
}

/// [`connect`], trying the circle's servers from the `first`-th on (and
/// around); also returns the index of the one that answered.
pub async fn connect_from(
    vault: &mut UnlockedVault,
    first: usize,
) -> Result<(Server, CircleRefresh, usize), SessionError> {
    let info = circle_of(vault)?;
    let n = info.servers.len().max(1);
    let mut unavailable = None;
    for i in (0..n).map(|k| (first + k) % n) {
        let url = info.servers.get(i).unwrap_or(&info.server_url);
        match authenticate(vault, &info, url).await {
            Ok(server) => {
                let mut refresh = pull(vault, &server).await?;
                finish_removal(vault, &server).await?;
                refresh.unconfirmed_adds = crate::pending::unconfirmed_adds(vault, &server).await?;
                return Ok((server, refresh, i));
            }
            Err(e) if e.is_unavailable() => unavailable = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(unavailable.unwrap_or(SessionError::NoCircle))
}

/// A session with the server at `url`.
async fn authenticate(
    vault: &UnlockedVault,
    info: &CircleInfo,
    url: &str,
) -> Result<Server, SessionError> {
    let mut server = Server::new(url, &info.trust)?;
    let me = vault.device().peer_id();
    let circle_id = info.circle_id;
    server
        .authenticate(circle_id, &me, |c| vault.sign_auth(circle_id, c))
        .await
        .map_err(|e| match e.code() {
            Some("forbidden") => SessionError::NotMember,
            _ => e.into(),
        })?;
    Ok(server)
}

/// New log entries after the local head, then key shares for this device:
/// each verified by vault-core before anything is stored.
pub async fn pull(
    vault: &mut UnlockedVault,
    server: &Server,
) -> Result<CircleRefresh, SessionError> {
    let info = circle_of(vault)?;
    let (entries, (head_seq, head_hash)) = server
        .log_with_head(info.circle_id, Some(info.head.0))
        .await?;
    if !entries.is_empty() {
        vault.apply_log(&entries).map_err(SessionError::BadLog)?;
    }
    // The log never shrinks: a head behind the one verified, or another
    // entry at it, is the server's lie.
    if let Err(refused) = vault.check_log_head(head_seq, head_hash) {
        heal_log(
            vault,
            server,
            info.circle_id,
            (head_seq, head_hash),
            refused,
        )
        .await?;
    }
    // Removals' cut lists: a list the server withholds, or one that is not
    // the one its entry names, is not stored, and the removed peer's
    // records wait in quarantine (the sync report names them).
    for (seq, zone) in vault.missing_cut_lists()? {
        if let Some(list) = server.cut_list(info.circle_id, seq, &zone).await? {
            let _ = vault.store_cut_list(seq, &list);
        }
    }
    let blobs = server.shares(info.circle_id).await?;
    let shares = blobs
        .iter()
        .map(|b| KeyShare::from_bytes(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(SessionError::BadShare)?;
    let mut refresh = CircleRefresh::default();
    if !shares.is_empty() {
        let report = vault.install_shares(&shares)?;
        refresh.missing_epochs = circle_of(vault)?.missing_epochs;
        if !refresh.missing_epochs.is_empty() {
            refresh.refused_shares = report
                .rejected
                .iter()
                .map(|(sender, why)| (*sender, why.to_string()))
                .collect();
        }
    }
    Ok(refresh)
}

/// Appends an entry made by `make` (from the current head), re-reading
/// the log and remaking it when another device appended first.
pub async fn append_with_retry<E>(
    vault: &mut UnlockedVault,
    server: &Server,
    mut make: impl FnMut(&mut UnlockedVault) -> Result<SignedEntry, E>,
) -> Result<(), E>
where
    E: From<SessionError>,
{
    for _ in 0..APPEND_TRIES {
        let info = circle_of(vault)?;
        let entry = make(vault)?;
        match server
            .append(info.circle_id, info.head.1, &entry)
            .await
            .map_err(SessionError::from)?
        {
            Append::Stored => {
                pull(vault, server).await?;
                return Ok(());
            }
            Append::HeadMoved | Append::ZoneMoved => {
                pull(vault, server).await?;
            }
        }
    }
    Err(SessionError::LogKeptChanging.into())
}

/// What one round did, with what it cost on the wire.
#[derive(Debug)]
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

/// An authenticated connection to the circle's server, made again when
/// its token nears expiry or the server stops accepting it.
pub struct Session {
    handle: Handle,
    circle_id: Uuid,
    server: Option<Server>,
    /// When the token was issued plus its lifetime.
    expires: Option<Instant>,
    stop: Option<watch::Receiver<bool>>,
    wait_limit: Duration,
    /// The index of the circle's server that last answered: tried first.
    preferred: usize,
}

impl Session {
    /// Not yet connected; requests block on `handle` (a runtime whose
    /// worker drives I/O, see [`crate::background_runtime`]).
    pub fn new(handle: Handle, circle_id: Uuid) -> Self {
        Self {
            handle,
            circle_id,
            server: None,
            expires: None,
            stop: None,
            wait_limit: DEFAULT_WAIT_LIMIT,
            preferred: 0,
        }
    }

    /// How long one request may wait out a rate-limiting or busy server.
    pub fn with_wait_limit(mut self, limit: Duration) -> Self {
        self.wait_limit = limit;
        self
    }

    /// Requests in flight are abandoned once `stop` turns true.
    pub fn with_stop(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The session token, when connected (a WebSocket carries it).
    pub fn token(&self) -> Option<&str> {
        self.server.as_ref().and_then(Server::token)
    }

    /// The connected server, when connected (for the requests a front
    /// end makes itself, such as removing an unconfirmed peer).
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// Forgets the token: the next request authenticates again.
    pub fn disconnect(&mut self) {
        self.server = None;
        self.expires = None;
    }

    /// Authenticates and refreshes the circle log and key shares, unless
    /// connected with a token that is not about to expire. `Some` with
    /// what the refresh found when it connected.
    pub fn connect(
        &mut self,
        vault: &mut UnlockedVault,
    ) -> Result<Option<CircleRefresh>, SessionError> {
        let fresh = self
            .expires
            .is_some_and(|at| at.saturating_duration_since(Instant::now()) > RENEW_BEFORE);
        if self.server.is_some() && fresh {
            return Ok(None);
        }
        let started = Instant::now();
        let (server, refresh, answered) = self.block(connect_from(vault, self.preferred))?;
        self.preferred = answered;
        self.expires = server.token_lifetime().map(|ttl| started + ttl);
        self.server = Some(server);
        Ok(Some(refresh))
    }

    /// Pulls the circle log and key shares (a `circle` or `shares` hint),
    /// authenticating again if the token expired.
    pub fn refresh_circle(
        &mut self,
        vault: &mut UnlockedVault,
    ) -> Result<CircleRefresh, SessionError> {
        if let Some(refresh) = self.connect(vault)? {
            return Ok(refresh);
        }
        let Some(server) = &self.server else {
            return Err(SessionError::Interrupted);
        };
        match self.block(pull(vault, server)) {
            Err(SessionError::Client(ClientError::Refused { status: 401, .. })) => {
                self.disconnect();
                Ok(self.connect(vault)?.unwrap_or_default())
            }
            other => other,
        }
    }

    /// One sync round, its progress to `observer`. A 401 on the way (the
    /// token expired or was revoked) authenticates again and runs the
    /// round once more: the engine resumes from what it committed. A
    /// server that stops answering midway hands the round to the circle's
    /// next server (each other server tried once): what the first saved
    /// comes back as the device's own records, so nothing is pushed twice.
    pub fn round(
        &mut self,
        vault: &mut UnlockedVault,
        mut observer: Option<ProgressObserver<'_>>,
    ) -> Result<Outcome, SessionError> {
        let mut stats = Stats::default();
        let mut elapsed = Duration::ZERO;
        let mut retried = false;
        let mut failovers = 0;
        loop {
            // Connecting tries every server itself.
            self.connect(vault)?;
            let Some(server) = &self.server else {
                return Err(SessionError::Interrupted);
            };
            let mut transport = HttpTransport::new(self.handle.clone(), server, self.circle_id)
                .with_wait_limit(self.wait_limit);
            if let Some(observer) = observer.as_mut() {
                transport = transport.with_progress(Box::new(observer));
            }
            if let Some(stop) = &self.stop {
                transport = transport.with_stop(stop.clone());
            }
            let started = Instant::now();
            let result = vault.sync(&mut transport);
            elapsed += started.elapsed();
            stats += transport.stats();
            let unauthorized = transport.unauthorized();
            drop(transport);
            if unauthorized || matches!(result, Err(SyncError::NotMember)) {
                self.disconnect();
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
                Err(e) => {
                    let e = SessionError::from(e);
                    // Each other server of the circle gets the round once.
                    if !e.is_unavailable() || failovers + 1 >= self.servers(vault) {
                        return Err(e);
                    }
                    // The next server of the circle carries the round on.
                    failovers += 1;
                    self.disconnect();
                    self.preferred = (self.preferred + 1) % self.servers(vault).max(1);
                }
            }
        }
    }

    /// Removes `peer` from the circle at a cut, with the new key epoch in
    /// the same entry: a sync round first (so the cut is the zone's head
    /// and the removed device's records up to it are listed), the new
    /// epoch's key sealed to every remaining member, then the append,
    /// which the server takes only while the zone is still at the cut;
    /// when another device pushed or appended first, all of it again.
    /// Returns the new key epoch.
    pub fn remove_peer(
        &mut self,
        vault: &mut UnlockedVault,
        peer: &PeerId,
    ) -> Result<u32, SessionError> {
        for _ in 0..APPEND_TRIES {
            self.round(vault, None)?;
            let Some(server) = &self.server else {
                return Err(SessionError::Interrupted);
            };
            let mut transport = HttpTransport::new(self.handle.clone(), server, self.circle_id)
                .with_wait_limit(self.wait_limit);
            let prepared = vault.prepare_removal(peer, &mut transport);
            drop(transport);
            let prepared = prepared?;
            let info = circle_of(vault)?;
            let shares = seal_pending(vault, &info, &prepared.pending, Some(peer))?;
            let appended = self.block(async {
                if !shares.is_empty() {
                    server.post_shares(info.circle_id, &shares).await?;
                }
                Ok(server
                    .append_removal(
                        info.circle_id,
                        info.head.1,
                        &prepared.entry,
                        &prepared.lists,
                    )
                    .await?)
            })?;
            self.block(pull(vault, server))?;
            if appended == Append::Stored {
                return Ok(vault.key_epoch());
            }
        }
        Err(SessionError::LogKeptChanging)
    }

    /// How many servers the circle lists.
    fn servers(&self, vault: &UnlockedVault) -> usize {
        circle_of(vault).map_or(1, |info| info.servers.len())
    }

    /// Runs `fut` to completion on the runtime, or until stopped.
    fn block<T>(
        &self,
        fut: impl Future<Output = Result<T, SessionError>>,
    ) -> Result<T, SessionError> {
        let mut stop = self.stop.clone();
        self.handle.block_on(async move {
            tokio::select! {
                got = fut => got,
                () = stopped(stop.as_mut()) => Err(SessionError::Interrupted),
            }
        })
    }
}
