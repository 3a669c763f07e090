//! The inviting side: hands out a code, waits for a device to join with
//! it, adds it once the person confirmed the codes, and counts the add as
//! done only when the joiner confirms; otherwise removes it again.

use super::{MAX_TTL, PairingFlowError, PairingUi, REPLY_TIMEOUT, hooks, unix_now};
use crate::Server;
use crate::session::{self, SessionError, remove_unjoined};
use std::time::Duration;
use tokio::time::Instant;
use vault_core::UnlockedVault;
use vault_core::circle::pairing::{
    InviteSecret, InviterAwaitingConfirmation, InviterAwaitingJoin, PairingError,
};
use vault_core::circle::{PeerId, ShareEpochs};
use vault_core::crypto::VaultRng;

/// A device added and confirmed by [`invite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invited {
    /// The short authentication string both screens showed.
    pub sas: String,
    /// The new member.
    pub peer: PeerId,
    /// The name it gave.
    pub name: String,
    /// The fingerprint of the pairing session's key this side sent with.
    pub send_fingerprint: String,
    /// The fingerprint of the key this side received with.
    pub recv_fingerprint: String,
}

/// `Err(BadTtl)` unless `ttl` is within 1 s to [`MAX_TTL`].
pub fn check_ttl(ttl: Duration) -> Result<(), PairingFlowError> {
    match ttl.is_zero() || ttl > MAX_TTL {
        true => Err(PairingFlowError::BadTtl),
        false => Ok(()),
    }
}

/// Invites a device into `vault`'s circle over `server`, connected by
/// the caller ([`session::connect`]; also remove the adds it found
/// unconfirmed, [`crate::session::remove_unconfirmed`]): opens an
/// invite for `ttl` and gives its code to `ui`, waits for a device, asks
/// `ui` to confirm the codes, adds the device to the circle log, hands it
/// the circle's keys, and waits for its confirmation. An add it does not
/// confirm is removed again ([`PairingFlowError::NotJoined`]).
pub async fn invite(
    vault: &mut UnlockedVault,
    server: &Server,
    ttl: Duration,
    ui: &dyn PairingUi,
) -> Result<Invited, PairingFlowError> {
    check_ttl(ttl)?;
    let info = vault.circle()?.ok_or(SessionError::NoCircle)?;
    let mut rng = VaultRng::new()?;
    let secret = InviteSecret::generate(&mut rng);
    let invite_id = secret.invite_id();
    // A server this device trusts through its own CA or a pin is
    // pinned in the code (the certificate this connection saw), so
    // the joiner needs no CA file; a publicly trusted one needs none.
    let pin = (info.trust.ca_pem.is_some() || info.trust.cert_pin.is_some())
        .then(|| server.cert_sha256())
        .flatten();
    let code = secret.code(server.url(), pin.as_ref());
    server
        .create_invite(info.circle_id, &invite_id, ttl)
        .await?;
    ui.code(&code, ttl);
    let deadline = Instant::now() + ttl;
    let (seq, hello) = server
        .receive(&invite_id, 0, deadline)
        .await?
        .ok_or(PairingFlowError::InviteExpired)?;
    let (inviter, reply) = InviterAwaitingJoin::new(
        secret,
        info.circle_id,
        info.genesis,
        vault.device().public(),
    )
    .receive_hello(&hello, &mut rng)?;
    server.send(&invite_id, &reply).await?;
    let (proof_seq, proof) = server
        .receive(&invite_id, seq, Instant::now() + REPLY_TIMEOUT)
        .await?
        .ok_or(PairingFlowError::JoinerSilent)?;
    let (inviter, joiner) = inviter.receive_proof(&proof)?;
    let sas = inviter.sas().to_string();
    let (send_fingerprint, recv_fingerprint) = (
        inviter.send_key_fingerprint(),
        inviter.recv_key_fingerprint(),
    );
    let peer = joiner.keys.peer_id();
    // The name comes from the other device: one a terminal would act on
    // (escapes) or that is no name at all is not shown beside the codes.
    if super::device_name(&joiner.name).as_deref() != Some(joiner.name.as_str()) {
        server.send(&invite_id, &inviter.refuse()?).await?;
        return Err(PairingFlowError::BadJoinerName);
    }
    if !ui.confirm_sas(&sas, &joiner.name, &peer.short()) {
        // The joiner is told at once, in the session, not left waiting
        // for a welcome that will not come.
        server.send(&invite_id, &inviter.refuse()?).await?;
        return Err(PairingFlowError::NotConfirmed);
    }
    let window = hooks::confirm_timeout();
    // Recorded before the append: a process killed from here on leaves a
    // trace its next connection resolves. An append that fails leaves it
    // too (the entry may have landed all the same).
    vault.record_pending_add(&peer, &invite_id, unix_now() + window.as_secs() as i64)?;
    session::append_with_retry(vault, server, |v| {
        v.prepare_add_peer(&joiner.keys, &joiner.name)
            .map_err(SessionError::from)
    })
    .await?;
    hooks::stall("after-append", ui).await?;
    let add_entry = vault.add_entry_of(&peer)?;
    let share = vault.seal_share(&peer, ShareEpochs::All)?;
    // The anchor: this device's newest signed manifest, the floor of the
    // joiner's checks (a server rolled back before the join is refused
    // at its first sync).
    let anchor = vault.sync_anchor()?;
    let (waiting, welcome, anchor) = inviter.welcome_with_anchor(&share, add_entry, &anchor)?;
    // The wait starts now; the recorded deadline never falls before it.
    let until = Instant::now() + window;
    vault.record_pending_add(&peer, &invite_id, unix_now() + window.as_secs() as i64)?;
    let confirmed = match server.send(&invite_id, &welcome).await {
        Ok(_) => match server.send(&invite_id, &anchor).await {
            Ok(_) => {
                hooks::stall("after-welcome", ui).await?;
                wait_for_confirmation(server, &invite_id, proof_seq, waiting, until, window).await
            }
            Err(e) => Err(format!("the welcome could not be sent: {e}")),
        },
        Err(e) => Err(format!("the welcome could not be sent: {e}")),
    };
    if let Err(why) = confirmed {
        return Err(undo(vault, server, &peer, &joiner.name, why).await);
    }
    vault.clear_pending_add(&peer)?;
    Ok(Invited {
        sas,
        peer,
        name: joiner.name,
        send_fingerprint,
        recv_fingerprint,
    })
}

/// The joiner's confirmation, read until `until`; `Err` says why the
/// add does not count.
async fn wait_for_confirmation(
    server: &Server,
    invite_id: &str,
    after: u64,
    waiting: InviterAwaitingConfirmation,
    until: Instant,
    window: Duration,
) -> Result<(), String> {
    match server.receive(invite_id, after, until).await {
        Ok(Some((_, message))) => match waiting.receive_confirmation(&message) {
            Ok(()) => Ok(()),
            Err(PairingError::Rejected(why)) => Err(format!("it refused the circle: {why}")),
            Err(e) => Err(format!("its answer does not verify: {e}")),
        },
        Ok(None) => Err(format!(
            "no confirmation came within {}",
            humantime::format_duration(window)
        )),
        Err(e) => Err(format!("the relay is gone: {e}")),
    }
}

/// Removes `peer` again (a removal and a new key epoch, as a peer's
/// removal does): why the pairing did not complete. If the removal fails
/// too, the pending add stays for the next connection.
async fn undo(
    vault: &mut UnlockedVault,
    server: &Server,
    peer: &PeerId,
    name: &str,
    why: String,
) -> PairingFlowError {
    let name = name.to_owned();
    match remove_unjoined(vault, server, peer).await {
        Ok(epoch) => match vault.clear_pending_add(peer) {
            Ok(()) => PairingFlowError::NotJoined { name, why, epoch },
            Err(e) => e.into(),
        },
        Err(source) => PairingFlowError::NotJoinedNotRemoved {
            name,
            why,
            source: Box::new(source),
        },
    }
}
