//! Pairings the inviting process did not see to the end: it recorded a
//! pending add, appended the add-peer entry, and was killed before the
//! joiner's confirmation came. At the next connection
//! ([`session::connect`](crate::session::connect)), each pending add past
//! its deadline is judged by vault-core
//! ([`UnlockedVault::judge_pending_add`]) from the evidence fetched here:
//! the joiner's messages on the invite's relay (while the invite lives)
//! and the zone's signed manifests. A peer that joined, or that is no
//! longer a member, is forgotten; the others are returned for the front
//! end to remove (a removal and a new key epoch, the same path as any
//! removal), after which it clears them.
//!
//! A request that fails for any other reason than "this invite is gone"
//! leaves the pending add for the next connection: no peer is removed
//! on a missing answer, only on an answer without evidence.

use crate::error::ClientError;
use crate::server::Server;
use crate::session::SessionError;
use uuid::Uuid;
use vault_core::UnlockedVault;
use vault_core::circle::{PeerId, PendingVerdict};
use vault_core::crypto::DEFAULT_ZONE;
use vault_core::sync::SignedManifest;
use vault_proto::manifests::ManifestsResponse;

impl Server {
    /// Every peer's latest signed manifest of `zone` (decoded, not verified).
    pub async fn signed_manifests(
        &self,
        circle_id: Uuid,
        zone: &str,
    ) -> Result<Vec<SignedManifest>, ClientError> {
        const LIST: &str = "the manifests list";
        let got: ManifestsResponse = self
            .get(
                &format!("/v1/circles/{circle_id}/zones/{zone}/manifests"),
                LIST,
            )
            .await?;
        got.decode().map_err(|_| ClientError::Malformed(LIST))
    }
}

/// Unix seconds now.
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The relay's messages of an invite, `None` when they cannot be read
/// now (try again later), empty when the invite is gone.
async fn relay_evidence(server: &Server, invite_id: &str) -> Option<Vec<Vec<u8>>> {
    match server.messages(invite_id, 0).await {
        Ok(messages) => Some(messages.into_iter().map(|(_, m)| m).collect()),
        Err(e) if matches!(e.code(), Some("gone" | "not_found")) => Some(Vec::new()),
        Err(_) => None,
    }
}

/// Resolves the pending adds past their deadline (see the module's
/// documentation): forgets those whose peer joined or is gone, and
/// returns the peers that never confirmed, for the caller to remove and
/// then clear with [`UnlockedVault::clear_pending_add`].
pub async fn unconfirmed_adds(
    vault: &mut UnlockedVault,
    server: &Server,
) -> Result<Vec<PeerId>, SessionError> {
    let now = now_secs();
    let due: Vec<_> = vault
        .pending_adds()?
        .into_iter()
        .filter(|p| p.is_due(now))
        .collect();
    let mut manifests: Option<Vec<SignedManifest>> = None;
    let mut unconfirmed = Vec::new();
    for pending in due {
        if vault.judge_pending_add(&pending, &[], &[])? == PendingVerdict::Moot {
            vault.clear_pending_add(&pending.peer)?;
            continue;
        }
        let Some(relay) = relay_evidence(server, &pending.invite_id).await else {
            continue;
        };
        if manifests.is_none() {
            let Some(circle) = vault.circle()? else {
                return Err(SessionError::NoCircle);
            };
            match server
                .signed_manifests(circle.circle_id, DEFAULT_ZONE)
                .await
            {
                Ok(got) => manifests = Some(got),
                Err(_) => continue,
            }
        }
        let manifests = manifests.as_deref().unwrap_or_default();
        match vault.judge_pending_add(&pending, &relay, manifests)? {
            PendingVerdict::Joined | PendingVerdict::Moot => {
                vault.clear_pending_add(&pending.peer)?;
            }
            PendingVerdict::NotJoined => unconfirmed.push(pending.peer),
        }
    }
    Ok(unconfirmed)
}
