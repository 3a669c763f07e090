//! `vault peer invite`: prints a code, waits for a device to join with
//! it, adds it once the person confirmed the codes, and counts the add as
//! done only when the joiner confirms; otherwise removes it again.

use super::{REPLY_TIMEOUT, confirm, hooks, unix_now};
use crate::cmd::server_session::{append_with_retry, circle_of, connect, remove_unjoined};
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;
use serde_json::json;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::time::Instant;
use vault_client::Server;
use vault_core::UnlockedVault;
use vault_core::circle::pairing::{
    InviteSecret, InviterAwaitingConfirmation, InviterAwaitingJoin, PairingError,
};
use vault_core::circle::{PeerId, ShareEpochs};
use vault_core::crypto::VaultRng;

pub fn invite(ctx: &Ctx, ttl: Duration, yes: bool) -> anyhow::Result<()> {
    if ttl.is_zero() || ttl > Duration::from_secs(3600) {
        return Err(CliError::Usage("--ttl must be between 1s and 1h".into()).into());
    }
    let mut vault = ctx.unlock()?;
    vault_client::runtime()?.block_on(async {
        let server = connect(&mut vault).await?;
        let info = circle_of(&vault)?;
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
        if ctx.out.json {
            // The first line, at once, so a script can hand the code over.
            write_stdout(&json!({ "code": code }).to_string());
        } else {
            write_stdout(&code);
            ctx.out.note(&format!(
                "On the new device run:  vault peer join {code}\n(valid for {}; waiting for it...)",
                humantime::format_duration(ttl)
            ));
        }
        let deadline = Instant::now() + ttl;
        let (seq, hello) =
            server
                .receive(&invite_id, 0, deadline)
                .await?
                .ok_or(CliError::Invite(
                    "the invite expired before a device joined".into(),
                ))?;
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
            .ok_or(CliError::Usage(
                "the joining device stopped answering".into(),
            ))?;
        let (inviter, joiner) = inviter.receive_proof(&proof)?;
        let sas = inviter.sas().to_string();
        let (send_fp, recv_fp) = (
            inviter.send_key_fingerprint(),
            inviter.recv_key_fingerprint(),
        );
        ctx.out.note(&format!(
            "{} ({}) wants to join. Both screens must show: {sas}",
            joiner.name,
            joiner.keys.peer_id().short()
        ));
        if !yes && !ctx.out.json && std::io::stdin().is_terminal() && !confirm()? {
            // The joiner is told at once, in the session, not left
            // waiting for a welcome that will not come.
            server.send(&invite_id, &inviter.refuse()?).await?;
            return Err(anyhow::Error::from(CliError::Usage(
                "not added: the codes were not confirmed".into(),
            )));
        }
        let peer = joiner.keys.peer_id();
        let window = hooks::confirm_timeout();
        // Recorded before the append: a process killed from here on
        // leaves a trace its next command resolves. An append that fails
        // leaves it too (the entry may have landed all the same).
        vault.record_pending_add(&peer, &invite_id, unix_now() + window.as_secs() as i64)?;
        append_with_retry(&mut vault, &server, |v| {
            Ok(v.prepare_add_peer(&joiner.keys, &joiner.name)?)
        })
        .await?;
        hooks::stall("after-append").await?;
        let add_entry = vault.add_entry_of(&peer)?;
        let share = vault.seal_share(&peer, ShareEpochs::All)?;
        // The anchor: this device's newest signed manifest, the floor of
        // the joiner's checks (a server rolled back before the join is
        // refused at its first sync).
        let anchor = vault.sync_anchor()?;
        let (waiting, welcome, anchor) = inviter.welcome_with_anchor(&share, add_entry, &anchor)?;
        // The wait starts now; the recorded deadline never falls before it.
        let until = Instant::now() + window;
        vault.record_pending_add(&peer, &invite_id, unix_now() + window.as_secs() as i64)?;
        let confirmed = match server.send(&invite_id, &welcome).await {
            Ok(_) => match server.send(&invite_id, &anchor).await {
                Ok(_) => {
                    hooks::stall("after-welcome").await?;
                    wait_for_confirmation(&server, &invite_id, proof_seq, waiting, until, window)
                        .await
                }
                Err(e) => Err(format!("the welcome could not be sent: {e}")),
            },
            Err(e) => Err(format!("the welcome could not be sent: {e}")),
        };
        if let Err(why) = confirmed {
            return undo(&mut vault, &server, &peer, &joiner.name, &why).await;
        }
        vault.clear_pending_add(&peer)?;
        ctx.out
            .data(&format!("added {} ({})", joiner.name, peer.short()));
        ctx.out.json(&json!({
            "sas": sas,
            "peer": peer.to_string(),
            "name": joiner.name,
            "session": {
                "send": send_fp,
                "recv": recv_fp,
            },
        }));
        Ok(())
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

/// Removes `peer` again (a removal and a new key epoch, as `vault peer
/// rm`), and fails with why: exit 2, the code of a pairing that did not
/// complete. If the removal fails too, the pending add stays for the
/// next command that reaches the server.
async fn undo(
    vault: &mut UnlockedVault,
    server: &Server,
    peer: &PeerId,
    name: &str,
    why: &str,
) -> anyhow::Result<()> {
    match remove_unjoined(vault, server, peer).await {
        Ok(epoch) => {
            vault.clear_pending_add(peer)?;
            Err(CliError::Usage(format!(
                "{name} did not finish joining ({why}); removed it again \
                 (the vault key is now epoch {epoch})"
            ))
            .into())
        }
        Err(e) => Err(e.context(format!(
            "{name} did not finish joining ({why}), and removing it failed; \
             the next command that reaches the server removes it"
        ))),
    }
}
