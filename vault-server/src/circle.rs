//! The server's checks of circle log entries, with `vault_core::circle`'s
//! own decoder and verifier: a defence in depth (devices verify the whole
//! chain themselves and trust nothing the server says). What needs the
//! log's head or the member list is checked again by the storage inside
//! the append's write transaction.

use crate::error::ApiError;
use crate::storage::{MemberChange, MemberKeys, NewEntry, PeerBytes, ZoneCutList};
use std::borrow::Cow;
use uuid::Uuid;
use vault_core::circle::{
    CircleState, CutList, EntryBody, EntryError, PeerId, PeerKeys, SignedEntry, verify_auth,
};
use vault_core::sync::Token;

fn invalid_entry(e: EntryError) -> ApiError {
    ApiError::Invalid(Cow::Owned(format!("undecodable entry: {e}")))
}

fn keys_of(k: &PeerKeys) -> MemberKeys {
    MemberKeys {
        signing: k.signing,
        agreement: k.agreement,
    }
}

fn peer_keys(k: &MemberKeys) -> PeerKeys {
    PeerKeys {
        signing: k.signing,
        agreement: k.agreement,
    }
}

fn new_entry(e: &SignedEntry) -> NewEntry {
    NewEntry {
        seq: e.entry().seq,
        prev: e.entry().prev.0,
        hash: e.hash().0,
        entry: e.entry_bytes().to_vec(),
        signature: e.signature().to_vec(),
    }
}

/// A genesis entry that passed every check.
#[derive(Debug, Clone)]
pub struct Genesis {
    /// The circle it founds.
    pub circle_id: Uuid,
    /// The entry to store.
    pub entry: NewEntry,
    /// The founder's peer id.
    pub founder: PeerBytes,
    /// The founder's keys.
    pub keys: MemberKeys,
}

/// Decodes and verifies a genesis entry: seq 0, prev zero, signed by its
/// founder, and every other rule of `CircleState::verify_chain`.
pub fn check_genesis(entry: &[u8], signature: &[u8]) -> Result<Genesis, ApiError> {
    let signed = SignedEntry::decode(entry, signature).map_err(invalid_entry)?;
    let EntryBody::Genesis { founder, .. } = &signed.entry().body else {
        return Err(ApiError::invalid("the entry is not a genesis"));
    };
    CircleState::verify_chain(None, std::slice::from_ref(&signed))
        .map_err(|e| ApiError::Invalid(Cow::Owned(format!("not a valid genesis: {e}"))))?;
    Ok(Genesis {
        circle_id: signed.entry().circle_id,
        entry: new_entry(&signed),
        founder: *founder.peer_id().as_bytes(),
        keys: keys_of(founder),
    })
}

/// An entry to append, decoded and checked against the request (its
/// signature is checked with [`Append::verify`] once the signer's stored
/// keys are at hand).
#[derive(Debug, Clone)]
pub struct Append {
    signed: SignedEntry,
    /// The entry to store.
    pub entry: NewEntry,
    /// Its signer (a current member; not always the caller).
    pub signer: PeerBytes,
    /// What it does to the member list.
    pub change: MemberChange,
}

impl Append {
    /// Decodes an entry posted to `circle_id`'s log, with the
    /// request's `prev_hash` and cut lists (zone, bytes): a removal must
    /// bring exactly the lists its cuts name, any other entry none.
    pub fn decode(
        circle_id: Uuid,
        prev_hash: &[u8; 32],
        entry: &[u8],
        signature: &[u8],
        lists: Vec<(String, Vec<u8>)>,
    ) -> Result<Append, ApiError> {
        let signed = SignedEntry::decode(entry, signature).map_err(invalid_entry)?;
        let lists_empty = lists.is_empty();
        let e = signed.entry();
        if e.circle_id != circle_id {
            return Err(ApiError::invalid("the entry belongs to another circle"));
        }
        if &e.prev.0 != prev_hash {
            return Err(ApiError::invalid("prev_hash is not the entry's prev"));
        }
        // The signer need not be the caller: a member may post an entry
        // another member signed (re-posting the log a restored server
        // lost). The signer must be a current member whose signature
        // verifies, which the caller checks with the stored keys.
        let change = match &e.body {
            EntryBody::Genesis { .. } => {
                return Err(ApiError::invalid("a genesis entry cannot be appended"));
            }
            EntryBody::AddPeer { peer, .. } => MemberChange::Add {
                peer: *peer.peer_id().as_bytes(),
                keys: keys_of(peer),
            },
            EntryBody::RemovePeer { .. } => {
                return Err(ApiError::invalid(
                    "a removal must carry its cut (entry kind 5); kind 3 is no longer taken",
                ));
            }
            EntryBody::Removal { peer, cuts, .. } => MemberChange::Remove {
                peer: *peer.as_bytes(),
                cuts: cut_lists(cuts, lists)?,
            },
            EntryBody::NewEpoch(_) => MemberChange::None,
        };
        if !matches!(change, MemberChange::Remove { .. }) && !lists_empty {
            return Err(ApiError::invalid("only a removal entry carries cut lists"));
        }
        Ok(Append {
            entry: new_entry(&signed),
            signer: *e.signer.as_bytes(),
            change,
            signed,
        })
    }

    /// Verifies the signature (strictly) with the signer's stored keys.
    pub fn verify(&self, signer: &MemberKeys) -> Result<(), ApiError> {
        self.signed
            .verify_signature(&peer_keys(signer))
            .map_err(|e| ApiError::Invalid(Cow::Owned(format!("the entry's signature: {e}"))))
    }
}

/// Pairs each of a removal's cuts with the posted list it names (zone,
/// row count, hash); every list must be named once.
fn cut_lists(
    cuts: &[vault_core::circle::ZoneCut],
    mut lists: Vec<(String, Vec<u8>)>,
) -> Result<Vec<ZoneCutList>, ApiError> {
    if lists.len() != cuts.len() {
        return Err(ApiError::invalid(
            "the removal needs one cut list per zone it cuts",
        ));
    }
    let mut out = Vec::with_capacity(cuts.len());
    for cut in cuts {
        let i = lists
            .iter()
            .position(|(zone, _)| *zone == cut.zone)
            .ok_or_else(|| ApiError::invalid("a zone the removal cuts has no list"))?;
        let (zone, bytes) = lists.swap_remove(i);
        let list = CutList::decode(&bytes)
            .map_err(|e| ApiError::Invalid(Cow::Owned(format!("cut list: {e}"))))?;
        if !cut.names(&bytes, &list) {
            return Err(ApiError::invalid(
                "a cut list is not the one the entry names",
            ));
        }
        out.push(ZoneCutList {
            zone,
            token: Token {
                epoch: cut.token_epoch,
                seq: cut.token_seq,
            },
            list: bytes,
        });
    }
    Ok(out)
}

/// Whether `signature` signs the token request of `peer` (strictly).
pub fn auth_signature_ok(
    keys: &MemberKeys,
    circle_id: Uuid,
    peer: &PeerBytes,
    challenge: &[u8; 32],
    signature: &[u8],
) -> bool {
    verify_auth(
        &peer_keys(keys),
        circle_id,
        &PeerId::from_bytes(*peer),
        challenge,
        signature,
    )
    .is_ok()
}
