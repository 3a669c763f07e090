//! `vault peer join`: answers an invite, waits for the welcome, verifies
//! the circle and stores the join, then confirms it to the inviter; when
//! anything after the welcome fails, it tells the inviter (a rejection)
//! before it exits, so the inviter removes the add at once.

use super::{JOIN_BUDGET, LocalItems, REPLY_TIMEOUT, SAS_TIMEOUT, hooks, local_items};
use crate::cmd::server_session::device_name;
use crate::cmd::tls_args::TlsArgs;
use crate::context::Ctx;
use crate::error::CliError;
use anyhow::Context;
use serde_json::json;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::time::Instant;
use vault_client::{ClientError, Server};
use vault_core::UnlockedVault;
use vault_core::circle::pairing::{
    JoinerAwaitingHello, JoinerAwaitingWelcome, PairingError, Rejection, Welcome, parse_code,
};
use vault_core::circle::{EntryBody, PeerId, ServerTrust, SignedEntry};
use vault_core::crypto::VaultRng;
use vault_core::error::CircleError;

/// How long a rejection may take to send: it is a courtesy that saves
/// the inviter its wait, not a step the joiner's exit waits on long.
const REJECT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn join(
    ctx: &Ctx,
    code: &str,
    name: Option<String>,
    server: Option<String>,
    tls: &TlsArgs,
    local: Option<LocalItems>,
) -> anyhow::Result<()> {
    let code = parse_code(code).map_err(|e| CliError::Usage(e.to_string()))?;
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
                Some("gone") => CliError::Invite(
                    "this invite code expired or was already used; ask for a new one".into(),
                )
                .into(),
                Some("not_found") => {
                    CliError::Invite("the server knows no such invite; check the code".into())
                        .into()
                }
                _ => anyhow::Error::from(e),
            })?;
        let (seq, reply) = relay
            .receive(&invite_id, 0, Instant::now() + REPLY_TIMEOUT)
            .await?
            .ok_or(CliError::Usage(
                "the inviting device stopped answering".into(),
            ))?;
        let (joiner, proof) = joiner.receive_hello(&reply, vault.device(), &name)?;
        let sas = joiner.sas().to_string();
        ctx.out.note(&format!("Both screens must show: {sas}"));
        relay.send(&invite_id, &proof).await?;
        hooks::stall("after-proof").await?;
        let (seq, welcome) = relay
            .receive(&invite_id, seq, Instant::now() + SAS_TIMEOUT)
            .await?
            .ok_or(CliError::Usage(
                "the inviting device did not add this one (was the code confirmed?)".into(),
            ))?;
        let mut joiner = joiner;
        joiner.check_refusal(&welcome).map_err(|e| match e {
            PairingError::Refused => CliError::Usage(e.to_string()).into(),
            other => anyhow::Error::from(other),
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
        let joined = match steps.run(&mut vault, &mut joiner, seq, &welcome).await {
            Ok(joined) => joined,
            Err((why, err)) => {
                if let Ok(rejection) = joiner.reject(why) {
                    let _ =
                        tokio::time::timeout(REJECT_TIMEOUT, relay.send(&invite_id, &rejection))
                            .await;
                }
                return Err(err);
            }
        };
        let me = vault.device().peer_id();
        let confirmation = joiner.confirm(vault.device(), vault.add_entry_of(&me)?)?;
        relay.send(&invite_id, &confirmation).await.context(
            "joined, but the confirmation did not reach the inviting device, \
                 which removes this device again; pair it anew",
        )?;
        if let Some(also) = also {
            vault.set_circle_servers(&[url.clone(), also])?;
        }
        let (welcome, discarded) = joined;
        if discarded > 0 {
            ctx.out
                .note(&format!("dropped the {discarded} items this vault held"));
        }
        let circle_id = welcome.circle_id;
        ctx.out.done(&format!(
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

/// A failure after the welcome: what the rejection tells the inviter,
/// and the error this device exits with.
type Rejected = (Rejection, anyhow::Error);

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
        let late = || {
            (
                Rejection::Late,
                CliError::Usage(
                    "joining took too long; the inviting device removes this one again".into(),
                )
                .into(),
            )
        };
        let until = self.budget_end.min(Instant::now() + REPLY_TIMEOUT);
        let (_, anchor) = self
            .relay
            .receive(self.invite_id, after, until)
            .await
            .map_err(|e| (Rejection::Failed, e.into()))?
            .ok_or_else(|| {
                (
                    Rejection::Failed,
                    CliError::Usage(
                        "the inviting device stopped answering after its welcome".into(),
                    )
                    .into(),
                )
            })?;
        let (welcome, anchor) = joiner
            .receive_welcome_with_anchor(welcome, &anchor)
            .map_err(|e| (Rejection::Welcome, e.into()))?;
        // Now a member: read the log as the server serves it and let
        // vault-core verify it from the genesis the inviter vouched for.
        let entries = tokio::time::timeout_at(self.budget_end, self.read_log(vault, &welcome))
            .await
            .map_err(|_| late())?
            .map_err(|e| (Rejection::Failed, e))?;
        let me = vault.device().peer_id();
        if add_entry_in(&entries, &me) != Some(welcome.add_peer) {
            return Err((
                Rejection::Log,
                anyhow::Error::from(PairingError::WrongAddEntry)
                    .context("the circle log the server sent does not match the inviting device's"),
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
            .context("the inviting device's sync anchor does not verify")
            .map_err(|e| (Rejection::Anchor, e))?;
        // Right after the join, before any sync could send them.
        let discarded = match self.local {
            LocalItems::Discard => vault
                .discard_unsynced_items()
                .map_err(|e| (Rejection::Failed, e.into()))?,
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
    ) -> anyhow::Result<Vec<SignedEntry>> {
        let circle_id = welcome.circle_id;
        let me = vault.device().peer_id();
        let mut member = Server::new(self.url, self.trust)?;
        member
            .authenticate(circle_id, &me, |c| vault.sign_auth(circle_id, c))
            .await
            .map_err(|e: ClientError| anyhow::Error::from(e).context("cannot authenticate"))?;
        Ok(member.log(circle_id, None).await?)
    }
}

/// The hash of the last entry of `entries` that adds `peer` (not yet
/// verified: `join_circle` verifies the whole log).
fn add_entry_in(entries: &[SignedEntry], peer: &PeerId) -> Option<vault_core::circle::EntryHash> {
    entries
        .iter()
        .rev()
        .find(|e| matches!(&e.entry().body, EntryBody::AddPeer { peer: p, .. } if p.peer_id() == *peer))
        .map(SignedEntry::hash)
}
