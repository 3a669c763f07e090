//! The circle changes a connection makes on its own: finishing a legacy
//! removal left without its new epoch, removing a peer that never joined,
//! sealing a new epoch's key to the members, and posting again the log
//! entries a restored server lost.

use crate::Append;
use crate::error::ClientError;
use crate::server::Server;
use crate::session::{APPEND_TRIES, SessionError, circle_of, pull};
use uuid::Uuid;
use vault_core::circle::{ChainError, CircleInfo, EntryHash, PeerId};
use vault_core::error::CircleError;
use vault_core::{PendingEpoch, ShareEpochs, UnlockedVault};
use vault_proto::manifests::ManifestResponse;

/// A legacy removal its remover did not follow with a new epoch (it
/// stopped between the two entries) is finished by the next member that
/// connects: a new epoch, its key sealed to every other member first.
pub(crate) async fn finish_removal(
    vault: &mut UnlockedVault,
    server: &Server,
) -> Result<(), SessionError> {
    for _ in 0..APPEND_TRIES {
        if !vault.removal_lacks_epoch()? {
            return Ok(());
        }
        let info = circle_of(vault)?;
        let (entry, pending) = vault.prepare_new_epoch()?;
        let shares = seal_pending(vault, &info, &pending, None)?;
        if !shares.is_empty() {
            server.post_shares(info.circle_id, &shares).await?;
        }
        server.append(info.circle_id, info.head.1, &entry).await?;
        pull(vault, server).await?;
    }
    Err(SessionError::LogKeptChanging)
}

/// A new epoch's key sealed to every member but this device and
/// `leaving`: the shares to post before the entry that names the key.
pub(crate) fn seal_pending(
    vault: &mut UnlockedVault,
    info: &CircleInfo,
    pending: &PendingEpoch,
    leaving: Option<&PeerId>,
) -> Result<Vec<(PeerId, Vec<u8>)>, SessionError> {
    let me = vault.device().peer_id();
    let mut shares = Vec::new();
    for m in &info.members {
        if m.peer_id != me && Some(&m.peer_id) != leaving {
            let share = vault.seal_share(&m.peer_id, ShareEpochs::Pending(pending))?;
            shares.push((m.peer_id, share.to_bytes()));
        }
    }
    Ok(shares)
}

/// Removes `peer`, whose add its joiner never confirmed (it never
/// joined), with a new key epoch: at the zone's current head with nothing
/// of it kept, so no sync round is needed and it runs inside a connection.
/// Starts over when the zone or the log moved. Returns the new epoch.
pub async fn remove_unjoined(
    vault: &mut UnlockedVault,
    server: &Server,
    peer: &PeerId,
) -> Result<u32, SessionError> {
    const MANIFEST: &str = "the manifest answer";
    for _ in 0..APPEND_TRIES {
        let info = circle_of(vault)?;
        let path = format!(
            "/v1/circles/{}/zones/{}/manifest?buckets=false",
            info.circle_id,
            vault.zone()
        );
        let got: ManifestResponse = server.get(&path, MANIFEST).await?;
        let token = got
            .decode(false)
            .map_err(|_| ClientError::Malformed(MANIFEST))?
            .token;
        let prepared = vault.prepare_unjoined_removal(peer, token)?;
        let shares = seal_pending(vault, &info, &prepared.pending, Some(peer))?;
        if !shares.is_empty() {
            server.post_shares(info.circle_id, &shares).await?;
        }
        let posted = server
            .append_removal(
                info.circle_id,
                info.head.1,
                &prepared.entry,
                &prepared.lists,
            )
            .await?;
        pull(vault, server).await?;
        if posted == Append::Stored {
            return Ok(vault.key_epoch());
        }
    }
    Err(SessionError::LogKeptChanging)
}

/// What became of one peer this device added whose joiner never
/// confirmed (an inviting process killed before the confirmation).
#[derive(Debug)]
pub struct UnconfirmedRemoval {
    /// The peer added.
    pub peer: PeerId,
    /// Its name in the circle, or "a device".
    pub name: String,
    /// The new key epoch once removed; why the removal failed otherwise
    /// (the next connection tries again).
    pub result: Result<u32, SessionError>,
}

/// Removes each of `peers` (a connection's
/// [`CircleRefresh::unconfirmed_adds`](crate::CircleRefresh)) with a new
/// key epoch ([`remove_unjoined`]) and forgets its pending add. A removal
/// that fails is reported, not raised: the next connection tries again.
/// Fails only when the vault cannot be read or written.
pub async fn remove_unconfirmed(
    vault: &mut UnlockedVault,
    server: &Server,
    peers: &[PeerId],
) -> Result<Vec<UnconfirmedRemoval>, SessionError> {
    let mut done = Vec::with_capacity(peers.len());
    for peer in peers {
        let name = vault
            .circle()?
            .and_then(|c| c.members.into_iter().find(|m| m.peer_id == *peer))
            .and_then(|m| m.name)
            .unwrap_or_else(|| "a device".into());
        let result = remove_unjoined(vault, server, peer).await;
        if result.is_ok() {
            vault.clear_pending_add(peer)?;
        }
        done.push(UnconfirmedRemoval {
            peer: *peer,
            name,
            result,
        });
    }
    Ok(done)
}

/// The server's log ends before the one this device verified. If it ends
/// on an entry of that log (a server restored from a backup lost the
/// rest), this device posts the entries after it again, removals with
/// their cut lists, and checks the log once more; any other shorter or
/// different log is the server's lie ([`SessionError::LogDisagrees`]).
pub(crate) async fn heal_log(
    vault: &mut UnlockedVault,
    server: &Server,
    circle_id: Uuid,
    (seq, hash): (u64, EntryHash),
    refused: CircleError,
) -> Result<(), SessionError> {
    if !matches!(refused, CircleError::Chain(ChainError::Truncated { .. })) {
        return Err(SessionError::LogDisagrees(refused));
    }
    let Some(missing) = vault.log_to_repost(seq, hash)? else {
        return Err(SessionError::LogDisagrees(refused));
    };
    let mut prev = hash;
    for (entry, lists) in &missing {
        let posted = if lists.is_empty() {
            server.append(circle_id, prev, entry).await?
        } else {
            server.append_removal(circle_id, prev, entry, lists).await?
        };
        if posted != Append::Stored {
            // Another device is posting them too.
            break;
        }
        prev = entry.hash();
    }
    let (entries, head) = server.log_with_head(circle_id, Some(seq)).await?;
    vault.apply_log(&entries).map_err(SessionError::BadLog)?;
    vault
        .check_log_head(head.0, head.1)
        .map_err(SessionError::LogDisagrees)
}
