//! The joining side: answers an invite, waits for the welcome, verifies
//! the circle and stores the join, then confirms it to the inviter; when
//! anything after the welcome fails, it tells the inviter (a rejection)
//! first, so the inviter removes the add at once.

use super::{
    JOIN_BUDGET, LocalItems, PairingFlowError, PairingUi, REPLY_TIMEOUT, SAS_TIMEOUT, hooks,
};
use crate::{ClientError, Server};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;
use vault_core::UnlockedVault;
use vault_core::circle::pairing::{
    InviteCode, JoinerAwaitingHello, JoinerAwaitingWelcome, PairingError, Rejection, Welcome,
};
use vault_core::circle::{EntryBody, EntryHash, PeerId, ServerTrust, SignedEntry};
use vault_core::crypto::VaultRng;
use vault_core::error::CircleError;

/// How long a rejection may take to send: it is a courtesy that saves
/// the inviter its wait, not a step the joiner's end waits on long.
const REJECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the new device joins.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The name the other devices see (checked by the caller).
    pub name: String,
    /// Another instance of the deployment to reach the relay and the
    /// circle through; the code's server is then kept as the next to try.
    pub server: Option<String>,
    /// How the server's TLS is trusted (the code's
    /// [`cert_pin`](InviteCode::cert_pin), a CA, or the system's).
    pub trust: ServerTrust,
    /// What becomes of the items the vault holds already (decided before
    /// the call: a refusal leaves the invite unused).
    pub local: LocalItems,
}

/// The invite code a person typed, parsed
/// ([`PairingFlowError::BadCode`] if it does not).
pub fn parse_code(code: &str) -> Result<InviteCode, PairingFlowError> {
    vault_core::circle::pairing::parse_code(code).map_err(PairingFlowError::BadCode)
}

/// A join [`join`] stored and confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The circle joined.
    pub circle_id: Uuid,
    /// The server joined through.
    pub server: String,
    /// This device's peer id.
    pub peer: PeerId,
    /// The name it joined as.
    pub name: String,
    /// The short authentication string both screens showed.
    pub sas: String,
    /// The device that invited this one.
    pub inviter: PeerId,
    /// The vault key epoch now held.
    pub key_epoch: u32,
    /// How many local items were dropped ([`LocalItems::Discard`]).
    pub discarded_local: u64,
    /// The fingerprint of the pairing session's key this side sent with.
    pub send_fingerprint: String,
    /// The fingerprint of the key this side received with.
    pub recv_fingerprint: String,
}

/// Joins `vault` (in no circle yet) to the circle `code` invites to:
/// answers the invite, shows the codes through `ui`, waits for the
/// welcome, reads and verifies the circle log, stores the join and the
/// inviter's sync anchor, drops the local items if asked, and confirms
/// to the inviter. After the welcome, a failure is told to the inviter
/// (a rejection) before it is returned.
pub async fn join(
    vault: &mut UnlockedVault,
    code: InviteCode,
    options: JoinOptions,
    ui: &dyn PairingUi,
) -> Result<Joined, PairingFlowError> {
    let JoinOptions {
        name,
        server,
        trust,
        local,
    } = options;
    let secret = code.secret;
    // Another instance of the deployment may carry the pairing; the
    // code's server is kept as the next to try.
    let (url, also) = match server {
        Some(server) if server.trim_end_matches('/') != code.server_url => (
            server.trim_end_matches('/').to_owned(),
            Some(code.server_url),
        ),
        _ => (code.server_url, None),
    };
    if vault.circle()?.is_some() {
        return Err(PairingFlowError::AlreadyInCircle);
    }
    let invite_id = secret.invite_id();
    let mut relay = Server::new(&url, &trust).map_err(PairingFlowError::BadServer)?;
    let mut rng = VaultRng::new()?;
    let (joiner, hello) = JoinerAwaitingHello::start(&secret, vault.device(), &mut rng);
    relay
        .join(&invite_id, &hello)
        .await
        .map_err(|e| match e.code() {
            Some("gone") => PairingFlowError::InviteGone,
            Some("not_found") => PairingFlowError::InviteUnknown,
            _ => e.into(),
        })?;
    let (seq, reply) = relay
        .receive(&invite_id, 0, Instant::now() + REPLY_TIMEOUT)
        .await?
        .ok_or(PairingFlowError::InviterSilent)?;
    let (mut joiner, proof) = joiner.receive_hello(&reply, vault.device(), &name)?;
    let sas = joiner.sas().to_string();
    ui.show_sas(&sas);
    relay.send(&invite_id, &proof).await?;
    hooks::stall("after-proof", ui).await?;
    let (seq, welcome) = relay
        .receive(&invite_id, seq, Instant::now() + SAS_TIMEOUT)
        .await?
        .ok_or(PairingFlowError::NotAdded)?;
    joiner.check_refusal(&welcome).map_err(|e| match e {
        PairingError::Refused => PairingFlowError::Refused(e),
        other => other.into(),
    })?;
    // From here on the inviter waits for this device's confirmation:
    // whatever fails, it is told first.
    let steps = Steps {
        relay: &relay,
        invite_id: &invite_id,
        url: &url,
        trust: &trust,
        local,
        budget_end: Instant::now() + JOIN_BUDGET,
    };
    let (welcome, discarded) = match steps.run(vault, &mut joiner, seq, &welcome).await {
        Ok(joined) => joined,
        Err((why, err)) => {
            if let Ok(rejection) = joiner.reject(why) {
                let _ =
                    tokio::time::timeout(REJECT_TIMEOUT, relay.send(&invite_id, &rejection)).await;
            }
            return Err(err);
        }
    };
    let me = vault.device().peer_id();
    let confirmation = joiner.confirm(vault.device(), vault.add_entry_of(&me)?)?;
    relay
        .send(&invite_id, &confirmation)
        .await
        .map_err(PairingFlowError::ConfirmationNotSent)?;
    if let Some(also) = also {
        vault.set_circle_servers(&[url.clone(), also])?;
    }
    Ok(Joined {
        circle_id: welcome.circle_id,
        server: url,
        peer: me,
        name,
        sas,
        inviter: welcome.inviter,
        key_epoch: vault.key_epoch(),
        discarded_local: discarded,
        send_fingerprint: welcome.send_key_fingerprint,
        recv_fingerprint: welcome.recv_key_fingerprint,
    })
}

/// A failure after the welcome: what the rejection tells the inviter,
/// and the error the join fails with.
type Rejected = (Rejection, PairingFlowError);

/// The joiner's steps between the welcome and the confirmation.
struct Steps<'a> {
    relay: &'a Server,
    invite_id: &'a str,
    url: &'a str,
    trust: &'a ServerTrust,
    local: LocalItems,
    /// Past this, the join is not stored ([`JOIN_BUDGET`]).
    budget_end: Instant,
}

impl Steps<'_> {
    /// Reads the anchor, opens the welcome, reads and verifies the log,
    /// and stores the join and the anchor. Returns the welcome and how
    /// many local items were dropped.
    async fn run(
        &self,
        vault: &mut UnlockedVault,
        joiner: &mut JoinerAwaitingWelcome,
        after: u64,
        welcome: &[u8],
    ) -> Result<(Welcome, u64), Rejected> {
        let late = || (Rejection::Late, PairingFlowError::Late);
        let failed = |e: PairingFlowError| (Rejection::Failed, e);
        let until = self.budget_end.min(Instant::now() + REPLY_TIMEOUT);
        let (_, anchor) = self
            .relay
            .receive(self.invite_id, after, until)
            .await
            .map_err(|e| failed(e.into()))?
            .ok_or_else(|| failed(PairingFlowError::InviterSilentAfterWelcome))?;
        let (welcome, anchor) = joiner
            .receive_welcome_with_anchor(welcome, &anchor)
            .map_err(|e| (Rejection::Welcome, e.into()))?;
        // Now a member: read the log as the server serves it and let
        // vault-core verify it from the genesis the inviter vouched for.
        let entries = tokio::time::timeout_at(self.budget_end, self.read_log(vault, &welcome))
            .await
            .map_err(|_| late())?
            .map_err(failed)?;
        let me = vault.device().peer_id();
        if add_entry_in(&entries, &me) != Some(welcome.add_peer) {
            return Err((
                Rejection::Log,
                PairingFlowError::WrongAddEntry(PairingError::WrongAddEntry),
            ));
        }
        if Instant::now() >= self.budget_end {
            return Err(late());
        }
        vault
            .join_circle(
                self.url,
                self.trust,
                welcome.genesis,
                &entries,
                &welcome.share,
                &welcome.inviter,
            )
            .map_err(|e| {
                let why = match e {
                    CircleError::Storage(_) | CircleError::Item(_) => Rejection::Failed,
                    _ => Rejection::Log,
                };
                (why, e.into())
            })?;
        vault
            .set_sync_anchor(&anchor, &welcome.inviter)
            .map_err(|e| (Rejection::Anchor, PairingFlowError::BadAnchor(e)))?;
        // Right after the join, before any sync could send them.
        let discarded = match self.local {
            LocalItems::Discard => vault
                .discard_unsynced_items()
                .map_err(|e| failed(e.into()))?,
            LocalItems::Merge => 0,
        };
        Ok((welcome, discarded))
    }

    /// Authenticates as the member the welcome made this device, and
    /// reads the whole log.
    async fn read_log(
        &self,
        vault: &UnlockedVault,
        welcome: &Welcome,
    ) -> Result<Vec<SignedEntry>, PairingFlowError> {
        let circle_id = welcome.circle_id;
        let me = vault.device().peer_id();
        let mut member = Server::new(self.url, self.trust)?;
        member
            .authenticate(circle_id, &me, |c| vault.sign_auth(circle_id, c))
            .await
            .map_err(|e: ClientError| PairingFlowError::Authenticate(e))?;
        Ok(member.log(circle_id, None).await?)
    }
}

/// The hash of the last entry of `entries` that adds `peer` (not yet
/// verified: `join_circle` verifies the whole log).
fn add_entry_in(entries: &[SignedEntry], peer: &PeerId) -> Option<EntryHash> {
    entries
        .iter()
        .rev()
        .find(|e| matches!(&e.entry().body, EntryBody::AddPeer { peer: p, .. } if p.peer_id() == *peer))
        .map(SignedEntry::hash)
}
