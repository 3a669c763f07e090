//! Sync through the circle's server, for the `Vault` object: create a
//! circle, run a sync round (its report, its progress to a listener the
//! host language implements), list the circle's devices. The session
//! (token, preferred server) and its runtime live with the unlocked vault
//! between rounds, so a round with nothing to do costs one or two
//! requests.

use crate::error::VaultError;
use crate::vault::Vault;
use std::sync::Arc;
use vault_client::{Server, Session, TransferProgress};
use vault_core::circle::ServerTrust;
use vault_core::sync::Phase;

/// How to create a circle.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct CircleOptions {
    /// The name the other devices see for this one.
    pub device_name: String,
    /// The server's registration token, if it asks for one.
    #[uniffi(default = None)]
    pub registration_token: Option<String>,
    /// A CA certificate (PEM) the server's certificate chains to, instead
    /// of the system's trust store.
    #[uniffi(default = None)]
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for CircleOptions {
    /// The registration token is not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircleOptions")
            .field("device_name", &self.device_name)
            .field(
                "registration_token",
                &self.registration_token.as_ref().map(|_| "<token>"),
            )
            .field("ca_pem", &self.ca_pem.is_some())
            .finish()
    }
}

/// An item both this device and another changed since they last agreed:
/// merged field by field, the fields named are the ones both changed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    /// The item.
    pub uuid: String,
    /// Its name and account, as they read after the merge.
    pub name: String,
    /// Its account.
    pub account: String,
    /// The fields both sides changed.
    pub fields: Vec<String>,
}

/// A record the round did not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HeldRecord {
    /// The item the record is a version of.
    pub uuid: String,
    /// The version.
    pub gencount: u64,
    /// The device that wrote it.
    pub writer: String,
    /// Why it was held back (a verification that failed).
    pub reason: String,
}

/// What one sync round did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Records pulled and applied.
    pub pulled: u64,
    /// Records pushed.
    pub pushed: u64,
    /// Local edits merged with pulled ones.
    pub merged: u64,
    /// Items changed on both sides (see `conflicted`).
    pub conflicts: u64,
    /// The conflicted items, named.
    pub conflicted: Vec<Conflict>,
    /// Records held in quarantine: they failed verification.
    pub quarantined: Vec<HeldRecord>,
    /// Records of a removed device past its cut, dropped.
    pub dropped: Vec<HeldRecord>,
    /// Requests the round made.
    pub requests: u64,
    /// How long the round took, in milliseconds.
    pub elapsed_ms: u64,
}

/// How far a long pull or push is.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    /// Pushing (else pulling).
    pub pushing: bool,
    /// Records done.
    pub records_done: u64,
    /// Records in all.
    pub records_total: u64,
    /// Bytes done.
    pub bytes_done: u64,
}

/// Receives a round's progress (called on the calling thread).
#[uniffi::export(foreign)]
pub trait ProgressListener: Send + Sync {
    /// The round moved on.
    fn on_progress(&self, progress: SyncProgress);
}

/// A device of the circle.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Peer {
    /// Its peer id.
    pub peer_id: String,
    /// The name it gave itself.
    pub name: Option<String>,
    /// Whether it is this device.
    pub is_me: bool,
    /// When it was added (Unix seconds, by the adding device's clock).
    pub added_at: i64,
}

/// A round's connection: the runtime its requests run on and the
/// authenticated session, kept between rounds.
pub(crate) struct Link {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) session: Session,
}

/// The bindings' report of a round.
pub(crate) fn report_of(
    v: &mut vault_core::UnlockedVault,
    outcome: &vault_client::Outcome,
) -> SyncReport {
    let r = &outcome.report;
    let conflicted = r
        .conflicted
        .iter()
        .map(|(uuid, fields)| {
            let (name, account) = v
                .get(*uuid)
                .map(|i| (i.data.name().to_owned(), i.data.account().to_owned()))
                .unwrap_or_default();
            Conflict {
                uuid: uuid.to_string(),
                name,
                account,
                fields: fields.clone(),
            }
        })
        .collect();
    SyncReport {
        pulled: r.pulled as u64,
        pushed: r.pushed as u64,
        merged: r.merged as u64,
        conflicts: r.conflicts as u64,
        conflicted,
        quarantined: r.quarantined.iter().map(held).collect(),
        dropped: r.dropped.iter().map(held).collect(),
        requests: r.requests as u64,
        elapsed_ms: outcome.elapsed.as_millis() as u64,
    }
}

fn held(q: &vault_core::sync::Quarantined) -> HeldRecord {
    HeldRecord {
        uuid: q.uuid.to_string(),
        gencount: q.gencount,
        writer: q.writer.to_string(),
        reason: q.reason.to_string(),
    }
}

#[uniffi::export]
impl Vault {
    /// Makes this vault the first device of a new circle registered on
    /// `server_url` (https, or http to this machine). Returns the circle's
    /// id. The server is asked first: if it refuses, nothing changes.
    pub fn create_circle(
        &self,
        server_url: String,
        options: CircleOptions,
    ) -> Result<String, VaultError> {
        let trust = ServerTrust {
            ca_pem: options.ca_pem,
            ..ServerTrust::default()
        };
        let name = crate::pairing::device_name(&options.device_name)?;
        let server = Server::new(&server_url, &trust)?;
        let runtime = vault_client::runtime()?;
        self.with(|v| {
            if v.circle()?.is_some() {
                return Err(VaultError::invalid("this vault is already in a circle"));
            }
            let genesis = v.prepare_genesis(&name)?;
            runtime.block_on(
                server.register_circle(&genesis, options.registration_token.as_deref()),
            )?;
            v.create_circle(server.url(), &trust, &genesis)?;
            Ok(genesis.entry().circle_id.to_string())
        })
    }

    /// One sync round with the circle's server: authenticate (again only
    /// when the token nears expiry), bring the circle log up to date,
    /// pull, merge, push, verify. `progress` hears about long pulls and
    /// pushes.
    #[uniffi::method(default(progress = None))]
    pub fn sync(
        &self,
        progress: Option<Arc<dyn ProgressListener>>,
    ) -> Result<SyncReport, VaultError> {
        self.with_link(|v, link| {
            let observer = progress.map(|listener| {
                Box::new(move |p: TransferProgress| {
                    listener.on_progress(SyncProgress {
                        pushing: p.phase == Phase::Push,
                        records_done: p.records_done,
                        records_total: p.records_total,
                        bytes_done: p.bytes_done,
                    })
                }) as vault_client::ProgressObserver<'static>
            });
            let _guard = link.runtime.enter();
            let outcome = link.session.round(v, observer)?;
            Ok(report_of(v, &outcome))
        })
    }

    /// The circle's current devices, this one included.
    pub fn peers(&self) -> Result<Vec<Peer>, VaultError> {
        self.with(|v| {
            let info = v.circle()?.ok_or(VaultError::NoCircle)?;
            Ok(info
                .members
                .iter()
                .map(|m| Peer {
                    peer_id: m.peer_id.to_string(),
                    name: m.name.clone(),
                    is_me: m.peer_id == info.me,
                    added_at: m.added_at,
                })
                .collect())
        })
    }
}

impl Vault {
    /// Runs `f` on the unlocked vault and its connection, made at first
    /// use ([`VaultError::NoCircle`] for a vault in no circle).
    pub(crate) fn with_link<T>(
        &self,
        f: impl FnOnce(&mut vault_core::UnlockedVault, &mut Link) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        self.with_state(|v, link| {
            if link.is_none() {
                let circle = v.circle()?.ok_or(VaultError::NoCircle)?;
                let runtime = vault_client::background_runtime()?;
                let session = Session::new(runtime.handle().clone(), circle.circle_id);
                *link = Some(Link { runtime, session });
            }
            match link.as_mut() {
                Some(l) => f(v, l),
                None => Err(VaultError::NoCircle),
            }
        })
    }
}
