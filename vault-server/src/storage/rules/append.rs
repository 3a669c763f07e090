//! The append rule of a circle's log: an entry is appended only on the
//! head it names (`prev` is the head's hash, `seq` the head's plus one) by
//! a current member; an added peer must be new and the circle must have
//! room for it (`max_devices`); a removal is taken only while every zone it
//! cuts is still at its cut (a zone restored since is judged by the list
//! alone), must end a current membership and not the last, and the removed
//! peer's session tokens go in the same transaction.

use crate::storage::quota::{self, QuotaOverrides, Quotas, Usage};
use crate::storage::{
    AppendError, Hash32, MemberChange, MemberKeys, MemberRow, NewEntry, PeerBytes, StorageError,
};
use uuid::Uuid;
use vault_core::sync::Token;

/// A circle log's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its seq.
    pub seq: u64,
    /// Its entry's hash.
    pub hash: Hash32,
}

/// What the append rule needs of a backend, inside one write transaction.
pub trait AppendTx {
    /// The circle's head, locked until the transaction ends (appends to
    /// one circle take turns); `None` for an unknown circle.
    fn lock_head(&mut self, circle_id: Uuid) -> Result<Option<Head>, StorageError>;
    /// A member, current or removed; `None` if never listed.
    fn member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
    ) -> Result<Option<MemberRow>, StorageError>;
    /// The circle's current members, live records and bytes.
    fn usage(&mut self, circle_id: Uuid) -> Result<Usage, StorageError>;
    /// The circle's own quota limits.
    fn quota_overrides(&mut self, circle_id: Uuid) -> Result<QuotaOverrides, StorageError>;
    /// Lists a new member, added by the entry at `seq`.
    fn add_member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
        keys: &MemberKeys,
        seq: u64,
    ) -> Result<(), StorageError>;
    /// A zone's epoch and seq, locked until the transaction ends (no push
    /// lands between the check and the append); `None` if never written.
    fn zone_position(&mut self, circle_id: Uuid, zone: &str)
    -> Result<Option<Token>, StorageError>;
    /// Stores a removal's cut list of one zone.
    fn save_cut(
        &mut self,
        circle_id: Uuid,
        removal_seq: u64,
        zone: &str,
        list: &[u8],
    ) -> Result<(), StorageError>;
    /// Marks a current member removed; `false` if it was not current.
    fn mark_removed(&mut self, circle_id: Uuid, peer: &PeerBytes) -> Result<bool, StorageError>;
    /// Deletes a peer's session tokens.
    fn drop_tokens(&mut self, circle_id: Uuid, peer: &PeerBytes) -> Result<(), StorageError>;
    /// Stores the entry and makes it the head.
    fn save_entry(&mut self, circle_id: Uuid, entry: &NewEntry) -> Result<(), StorageError>;
}

/// Appends `entry`, signed by `signer`, applying `change`.
pub fn append<T: AppendTx + ?Sized>(
    tx: &mut T,
    circle_id: Uuid,
    signer: &PeerBytes,
    entry: &NewEntry,
    change: &MemberChange,
    quotas: &Quotas,
) -> Result<(), AppendError> {
    let head = tx.lock_head(circle_id)?.ok_or(AppendError::NoCircle)?;
    if head.hash != entry.prev {
        return Err(AppendError::HeadMoved);
    }
    if head.seq.checked_add(1) != Some(entry.seq) {
        return Err(AppendError::BadSeq);
    }
    if tx.member(circle_id, signer)?.is_none_or(|m| m.removed) {
        return Err(AppendError::SignerNotMember);
    }
    match change {
        MemberChange::None => {}
        MemberChange::Add { peer, keys } => {
            if tx.member(circle_id, peer)?.is_some() {
                return Err(AppendError::PeerExists);
            }
            let limits = tx.quota_overrides(circle_id)?.over(quotas);
            quota::check_new_device(&limits, &tx.usage(circle_id)?)?;
            tx.add_member(circle_id, peer, keys, entry.seq)?;
        }
        MemberChange::Remove { peer, cuts } => {
            for cut in cuts {
                let still = match tx.zone_position(circle_id, &cut.zone)? {
                    // A zone restored since the cut was taken (a removal
                    // posted again to a restored server): its records are
                    // judged by the list alone.
                    Some(at) if at.epoch != cut.token.epoch => true,
                    Some(at) => cut.token.seq == at.seq,
                    // A zone nobody wrote yet is at sequence 0.
                    None => cut.token.seq == 0,
                };
                if !still {
                    return Err(AppendError::ZoneMoved);
                }
                tx.save_cut(circle_id, entry.seq, &cut.zone, &cut.list)?;
            }
            if !tx.mark_removed(circle_id, peer)? {
                return Err(AppendError::TargetNotMember);
            }
            if tx.usage(circle_id)?.devices == 0 {
                return Err(AppendError::LastMember);
            }
            tx.drop_tokens(circle_id, peer)?;
        }
    }
    tx.save_entry(circle_id, entry)?;
    Ok(())
}
