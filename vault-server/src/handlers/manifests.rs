//! Peers' signed manifests of a zone: `PUT .../zones/{zone}/manifests/{peer_id}`
//! (a device publishes its own, decoded and verified with
//! `vault_core::sync::SignedManifest`, its counter only growing) and `GET
//! .../zones/{zone}/manifests` (every stored one: devices decide whom to
//! trust). Storing a manifest may collect tombstones that every current
//! member's manifest passed.

use super::zones::zone_of;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, Member};
use crate::state::AppState;
use crate::storage::{ManifestRow, NewManifest, StorageError};
use axum::extract::State;
use vault_core::circle::PeerKeys;
use vault_core::sync::SignedManifest;
use vault_proto::codec::{DecodeError, Expected, parse_peer};
use vault_proto::manifests::{
    ManifestsResponse, PeerManifest, PutManifestRequest, PutManifestResponse,
};

impl From<ManifestRow> for PeerManifest {
    fn from(r: ManifestRow) -> Self {
        PeerManifest::new(&r.peer, &r.body, &r.signature)
    }
}

/// Stores the caller's signed manifest of the zone.
pub async fn put(
    State(state): State<AppState>,
    member: Member,
    AppPath((circle, zone, peer)): AppPath<(String, String, String)>,
    AppJson(req): AppJson<PutManifestRequest>,
) -> Result<AppJson<PutManifestResponse>, ApiError> {
    let (circle_id, zone) = zone_of(&member, &circle, zone)?;
    let zone_name = zone.clone();
    let peer = parse_peer("peer_id", &peer).map_err(|_| ApiError::NotFound("no such peer"))?;
    if peer != member.peer {
        return Err(ApiError::Forbidden(
            "a device publishes only its own manifest",
        ));
    }
    let (body, signature) = req.bytes()?;
    let stored = state
        .db(move |s| {
            let m = SignedManifest::decode(&body, &signature)
                .map_err(|e| DecodeError::new("manifest", Expected::Manifest(e)))?;
            if m.circle_id != circle_id || m.zone != zone || m.signer.as_bytes() != &peer {
                return Err(ApiError::invalid(
                    "the manifest names another circle, zone or signer than its path",
                ));
            }
            if i64::try_from(m.counter).is_err() || i64::try_from(m.token.seq).is_err() {
                return Err(ApiError::invalid("a counter or seq is 2^63 or more"));
            }
            let keys = match s.member(circle_id, &peer) {
                Ok(row) if !row.removed => row.keys,
                Ok(_) | Err(StorageError::NotFound) => {
                    return Err(ApiError::Forbidden("not a current member"));
                }
                Err(e) => return Err(e.into()),
            };
            let keys = PeerKeys {
                signing: keys.signing,
                agreement: keys.agreement,
            };
            m.verify(&keys)
                .map_err(|_| ApiError::invalid("the manifest's signature does not verify"))?;
            let divergent = diverges(s, circle_id, &zone, &m)?;
            let new = NewManifest {
                peer,
                counter: m.counter,
                token: m.token,
                body,
                signature: m.signature,
            };
            Ok((s.put_manifest(circle_id, &zone, &new)?, divergent))
        })
        .await?;
    let (stored, divergent) = stored;
    if divergent {
        state.metrics().manifest_divergence();
        // The circle and zone only: never a root, a peer's data or a token.
        tracing::warn!(
            circle = %circle_id,
            zone = %zone_name,
            "manifest divergence: two current members signed different roots at the same \
             change token; the devices disagree about the zone"
        );
    }
    if stored.collected > 0 {
        tracing::debug!(
            collected = stored.collected,
            gc_seq = stored.gc_seq,
            "tombstones collected"
        );
    }
    Ok(AppJson(PutManifestResponse {
        counter: stored.counter,
        divergent,
    }))
}

/// Whether a current member other than the signer of `m` stored a
/// manifest of the zone at the same change token with another root.
fn diverges(
    s: &dyn crate::storage::Storage,
    circle_id: uuid::Uuid,
    zone: &str,
    m: &SignedManifest,
) -> Result<bool, ApiError> {
    for row in s.manifests(circle_id, zone)? {
        if &row.peer == m.signer.as_bytes() {
            continue;
        }
        let Ok(signature) = <[u8; 64]>::try_from(&row.signature[..]) else {
            continue;
        };
        let Ok(other) = SignedManifest::decode(&row.body, &signature) else {
            continue;
        };
        if other.token != m.token || other.root == m.root {
            continue;
        }
        match s.member(circle_id, &row.peer) {
            Ok(member) if !member.removed => return Ok(true),
            Ok(_) | Err(StorageError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Every stored manifest of the zone, current and removed peers'.
pub async fn list(
    State(state): State<AppState>,
    member: Member,
    AppPath((circle, zone)): AppPath<(String, String)>,
) -> Result<AppJson<ManifestsResponse>, ApiError> {
    let (circle_id, zone) = zone_of(&member, &circle, zone)?;
    let rows = state.db(move |s| s.manifests(circle_id, &zone)).await?;
    Ok(AppJson(ManifestsResponse {
        manifests: rows.into_iter().map(PeerManifest::from).collect(),
    }))
}
