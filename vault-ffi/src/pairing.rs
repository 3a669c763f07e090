//! Pairing a device, removing one, for the `Vault` object: vault-client's
//! pairing flows with the host language's person behind a
//! [`PairingPrompt`] (show the code, compare the short authentication
//! string), and the removal at a cut with a new key epoch.

use crate::error::VaultError;
use crate::vault::Vault;
use std::sync::Arc;
use std::time::Duration;
use vault_client::pairing::{
    self, JoinOptions as FlowOptions, LocalItems, PairingFlowError, PairingUi,
};
use vault_client::session;
use vault_core::circle::{PeerId, ServerTrust};

/// The person at this device, as the host language asks them. Called on
/// the thread that called `invite` or `join`; an answer may block.
#[uniffi::export(foreign)]
pub trait PairingPrompt: Send + Sync {
    /// Inviter: the code to hand to the new device (valid `ttl_secs`).
    fn show_code(&self, code: String, ttl_secs: u64);
    /// Inviter: `peer_name` wants to join and both screens must show
    /// `sas`. `true` adds it; `false` refuses (the joiner is told).
    fn confirm_sas(&self, sas: String, peer_name: String) -> bool;
    /// Joiner: the code both screens must show, for the person at the
    /// inviting device to compare.
    fn show_sas(&self, sas: String);
}

/// A device `invite` added.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Invited {
    /// Its peer id.
    pub peer_id: String,
    /// The name it gave.
    pub name: String,
    /// The short authentication string both screens showed.
    pub sas: String,
}

/// How `join` joins.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JoinOptions {
    /// The name the other devices see (1 to 64 bytes, no control
    /// characters).
    pub device_name: String,
    /// Drop the items this vault holds instead of sharing them with the
    /// circle.
    #[uniffi(default = false)]
    pub discard_local_items: bool,
    /// A CA certificate (PEM) for the server, when the code pins none and
    /// the system does not trust it.
    #[uniffi(default = None)]
    pub ca_pem: Option<String>,
}

/// The circle `join` joined.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Joined {
    /// The circle's id.
    pub circle_id: String,
    /// The server joined through.
    pub server_url: String,
    /// This device's peer id.
    pub peer_id: String,
    /// The short authentication string both screens showed.
    pub sas: String,
    /// The vault key's epoch now.
    pub key_epoch: u32,
}

/// The prompt as vault-client's flows ask it.
struct Ui(Arc<dyn PairingPrompt>);

impl PairingUi for Ui {
    fn code(&self, code: &str, ttl: Duration) {
        self.0.show_code(code.to_owned(), ttl.as_secs());
    }
    fn confirm_sas(&self, sas: &str, peer_name: &str, _peer_short: &str) -> bool {
        self.0.confirm_sas(sas.to_owned(), peer_name.to_owned())
    }
    fn show_sas(&self, sas: &str) {
        self.0.show_sas(sas.to_owned());
    }
}

impl From<PairingFlowError> for VaultError {
    fn from(e: PairingFlowError) -> Self {
        match e {
            PairingFlowError::Client(c) => c.into(),
            PairingFlowError::Session(s) => s.into(),
            PairingFlowError::Circle(c) => c.into(),
            PairingFlowError::Sync(s) => s.into(),
            PairingFlowError::Item(i) => i.into(),
            PairingFlowError::BadTtl
            | PairingFlowError::BadCode(_)
            | PairingFlowError::BadServer(_)
            | PairingFlowError::AlreadyInCircle => VaultError::invalid(crate::error::chain(&e)),
            _ => VaultError::Pairing {
                message: crate::error::chain(&e),
            },
        }
    }
}

/// A device name the others may see (vault-client's rule), or
/// [`VaultError::InvalidInput`].
pub(crate) fn device_name(name: &str) -> Result<String, VaultError> {
    pairing::device_name(name).ok_or_else(|| VaultError::invalid(pairing::DEVICE_NAME_RULE))
}

#[uniffi::export]
impl Vault {
    /// Invites a new device into this vault's circle: `prompt` shows the
    /// code to type on it, then asks the person to compare the short
    /// authentication string both screens show. Returns once the new
    /// device confirmed its join; one that does not is removed again.
    /// Blocks for up to `ttl_secs` (1 to 3600) while the code is waiting.
    pub fn invite(
        &self,
        ttl_secs: u64,
        prompt: Arc<dyn PairingPrompt>,
    ) -> Result<Invited, VaultError> {
        let ttl = Duration::from_secs(ttl_secs);
        pairing::check_ttl(ttl)?;
        let runtime = vault_client::runtime()?;
        let ui = Ui(prompt);
        self.with(|v| {
            let invited = runtime.block_on(async {
                let (server, refresh) = session::connect(v).await?;
                session::remove_unconfirmed(v, &server, &refresh.unconfirmed_adds).await?;
                Ok::<_, VaultError>(pairing::invite(v, &server, ttl, &ui).await?)
            })?;
            Ok(Invited {
                peer_id: invited.peer.to_string(),
                name: invited.name,
                sas: invited.sas,
            })
        })
    }

    /// Joins the circle of the device that printed `code`: `prompt` shows
    /// the short authentication string for the person at the inviting
    /// device to compare. The items this vault holds are shared with the
    /// circle unless `options` says to drop them.
    pub fn join(
        &self,
        code: String,
        options: JoinOptions,
        prompt: Arc<dyn PairingPrompt>,
    ) -> Result<Joined, VaultError> {
        let code = pairing::parse_code(code.trim())?;
        let name = device_name(&options.device_name)?;
        let flow = FlowOptions {
            name,
            server: None,
            trust: ServerTrust {
                ca_pem: options.ca_pem,
                cert_pin: code.cert_pin,
                ..ServerTrust::default()
            },
            local: if options.discard_local_items {
                LocalItems::Discard
            } else {
                LocalItems::Merge
            },
        };
        let runtime = vault_client::runtime()?;
        let ui = Ui(prompt);
        self.with_state(|v, link| {
            let joined = runtime.block_on(pairing::join(v, code, flow, &ui))?;
            // A session made before the join knew no circle.
            *link = None;
            Ok(Joined {
                circle_id: joined.circle_id.to_string(),
                server_url: joined.server,
                peer_id: joined.peer.to_string(),
                sas: joined.sas,
                key_epoch: joined.key_epoch,
            })
        })
    }

    /// Removes another device from the circle at a cut, with a new vault
    /// key that only the remaining devices receive. Returns the new key
    /// epoch. `peer_id` is a full peer id from `peers()`: this device's
    /// own is [`VaultError::InvalidInput`], one that is not a member (as
    /// this device last verified the circle) [`VaultError::NotFound`],
    /// both before anything is sent.
    pub fn remove_peer(&self, peer_id: String) -> Result<u32, VaultError> {
        let peer: PeerId = peer_id
            .trim()
            .parse()
            .map_err(|_| VaultError::invalid(format!("not a peer id: {peer_id:?}")))?;
        self.with_link(|v, link| {
            let info = v.circle()?.ok_or(VaultError::NoCircle)?;
            if peer == info.me {
                return Err(VaultError::invalid(
                    "this device cannot remove itself; remove it from another device",
                ));
            }
            if !info.members.iter().any(|m| m.peer_id == peer) {
                return Err(VaultError::NotFound {
                    message: format!("no device {} in the circle", peer.short()),
                });
            }
            Ok(link.session.remove_peer(v, &peer)?)
        })
    }
}
