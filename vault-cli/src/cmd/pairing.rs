//! `vault peer invite` and `vault peer join`: pairing a new device over a
//! session the server relays but cannot read. The protocol itself (invite
//! secret, transcript, directional keys, SAS) is vault-core's
//! `circle::pairing`; this module moves its messages and talks to people.

use super::server_session::{append_with_retry, circle_of, connect, device_name};
use super::tls_args::TlsArgs;
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;
use anyhow::Context;
use serde_json::json;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::time::Instant;
use vault_client::{ClientError, Server};
use vault_core::circle::ShareEpochs;
use vault_core::circle::pairing::{
    InviteSecret, InviterAwaitingJoin, JoinerAwaitingHello, PairingError, parse_code,
};
use vault_core::crypto::VaultRng;

/// How long each side waits for the other's next message once the
/// exchange has started (the inviter's person may be comparing the SAS).
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

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
                .ok_or(CliError::Usage(
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
        let (_, proof) = server
            .receive(&invite_id, seq, Instant::now() + STEP_TIMEOUT)
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
        append_with_retry(&mut vault, &server, |v| {
            Ok(v.prepare_add_peer(&joiner.keys, &joiner.name)?)
        })
        .await?;
        let peer = joiner.keys.peer_id();
        let share = vault.seal_share(&peer, ShareEpochs::All)?;
        let head = circle_of(&vault)?.head.1;
        // The anchor: this device's newest signed manifest, the floor of
        // the joiner's checks (a server rolled back before the join is
        // refused at its first sync).
        let anchor = vault.sync_anchor()?;
        let (welcome, anchor) = inviter.welcome_with_anchor(&share, head, &anchor)?;
        server.send(&invite_id, &welcome).await?;
        server.send(&invite_id, &anchor).await?;
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

fn confirm() -> anyhow::Result<bool> {
    eprint!("Does the other device show the same code? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// The invite code from standard input (its first line), or asked for on
/// the terminal without echo: a code given as an argument lands in the
/// shell's history.
pub fn read_code() -> anyhow::Result<String> {
    let code = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Invite code: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    };
    let code = code.trim().to_owned();
    if code.is_empty() {
        return Err(CliError::Usage("no invite code given".into()).into());
    }
    Ok(code)
}

/// What becomes of the items a joining vault already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalItems {
    /// Shared with the circle.
    Merge,
    /// Dropped once joined (they were never sent anywhere).
    Discard,
}

/// The choice for a vault holding `count` items: the flag, else the
/// person's answer on a terminal; with neither, a usage error that says
/// how many and which flags.
fn local_items(
    ctx: &Ctx,
    count: u64,
    flag: Option<LocalItems>,
    can_ask: bool,
) -> anyhow::Result<LocalItems> {
    if count == 0 {
        return Ok(LocalItems::Merge);
    }
    if let Some(choice) = flag {
        return Ok(choice);
    }
    if can_ask && !ctx.out.json {
        eprint!(
            "This vault holds {count} items; joining shares them with every device of the circle. Share them? [y/N] "
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if matches!(line.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(LocalItems::Merge);
        }
    }
    Err(CliError::Usage(format!(
        "this vault holds {count} items, which joining would share with the circle: \
         pass --merge-local to share them, or --discard-local to drop them and take the circle's"
    ))
    .into())
}

pub fn join(
    ctx: &Ctx,
    code: &str,
    name: Option<String>,
    tls: &TlsArgs,
    local: Option<LocalItems>,
) -> anyhow::Result<()> {
    let code = parse_code(code).map_err(|e| CliError::Usage(e.to_string()))?;
    let (url, secret) = (code.server_url, code.secret);
    let trust = tls.trust(code.cert_pin)?;
    // Decided before anything reaches the server, so that a refusal
    // leaves the invite unused.
    let count: u64 = ctx.open()?.info()?.counts.iter().sum();
    let local = local_items(ctx, count, local, std::io::stdin().is_terminal())?;
    let name = device_name(name)?;
    let mut vault = ctx.unlock()?;
    if vault.circle()?.is_some() {
        return Err(CliError::Usage("this vault is already in a circle".into()).into());
    }
    let invite_id = secret.invite_id();
    let mut relay = Server::new(&url, &trust).map_err(|e| CliError::Usage(e.to_string()))?;
    vault_client::runtime()?.block_on(async {
        let mut rng = VaultRng::new()?;
        let (joiner, hello) = JoinerAwaitingHello::start(&secret, vault.device(), &mut rng);
        relay
            .join(&invite_id, &hello)
            .await
            .map_err(|e| match e.code() {
                Some("gone") => CliError::Usage(
                    "this invite code expired or was already used; ask for a new one".into(),
                )
                .into(),
                Some("not_found") => {
                    CliError::Usage("the server knows no such invite; check the code".into()).into()
                }
                _ => anyhow::Error::from(e),
            })?;
        let (seq, reply) = relay
            .receive(&invite_id, 0, Instant::now() + STEP_TIMEOUT)
            .await?
            .ok_or(CliError::Usage(
                "the inviting device stopped answering".into(),
            ))?;
        let (joiner, proof) = joiner.receive_hello(&reply, vault.device(), &name)?;
        let sas = joiner.sas().to_string();
        ctx.out.note(&format!("Both screens must show: {sas}"));
        relay.send(&invite_id, &proof).await?;
        let (seq, welcome) = relay
            .receive(&invite_id, seq, Instant::now() + STEP_TIMEOUT)
            .await?
            .ok_or(CliError::Usage(
                "the inviting device did not add this one (was the code confirmed?)".into(),
            ))?;
        let mut joiner = joiner;
        joiner.check_refusal(&welcome).map_err(|e| match e {
            PairingError::Refused => CliError::Usage(e.to_string()).into(),
            other => anyhow::Error::from(other),
        })?;
        let (_, anchor) = relay
            .receive(&invite_id, seq, Instant::now() + STEP_TIMEOUT)
            .await?
            .ok_or(CliError::Usage(
                "the inviting device stopped answering after its welcome".into(),
            ))?;
        let (welcome, anchor) = joiner.receive_welcome_with_anchor(&welcome, &anchor)?;
        // Now a member: read the log as the server serves it and let
        // vault-core verify it from the genesis the inviter vouched for.
        let circle_id = welcome.circle_id;
        let me = vault.device().peer_id();
        let mut member = Server::new(&url, &trust)?;
        member
            .authenticate(circle_id, &me, |c| vault.sign_auth(circle_id, c))
            .await
            .map_err(|e: ClientError| anyhow::Error::from(e).context("cannot authenticate"))?;
        let entries = member.log(circle_id, None).await?;
        vault.join_circle(
            &url,
            &trust,
            welcome.genesis,
            &entries,
            &welcome.share,
            &welcome.inviter,
        )?;
        vault
            .set_sync_anchor(&anchor, &welcome.inviter)
            .context("the inviting device's sync anchor does not verify")?;
        // Right after the join, before any sync could send them.
        let discarded = match local {
            LocalItems::Discard => vault.discard_unsynced_items()?,
            LocalItems::Merge => 0,
        };
        if discarded > 0 {
            ctx.out
                .note(&format!("dropped the {discarded} items this vault held"));
        }
        ctx.out.data(&format!(
            "joined circle {circle_id} on {url} as {name} ({})",
            me.short()
        ));
        ctx.out.json(&json!({
            "circle_id": circle_id.to_string(),
            "server": url,
            "peer_id": me.to_string(),
            "name": name,
            "sas": sas,
            "inviter": welcome.inviter.to_string(),
            "key_epoch": vault.key_epoch(),
            "discarded_local": discarded,
            "session": {
                "send": welcome.send_key_fingerprint,
                "recv": welcome.recv_key_fingerprint,
            },
        }));
        Ok(())
    })
}
