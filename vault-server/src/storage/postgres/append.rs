//! The append rule's primitives ([`rules::append`](crate::storage::rules::append))
//! on a PostgreSQL transaction: the circle's row and each cut zone's row
//! are locked with `FOR UPDATE`, so appends to one circle take turns and
//! no push lands between a removal's check of a zone and its append.

use super::tx::{PgTx, bytes32, range_err, signed, unsigned};
use crate::storage::quota::{QuotaOverrides, Usage};
use crate::storage::rules::append::{AppendTx, Head};
use crate::storage::{MemberKeys, MemberRow, NewEntry, PeerBytes, StorageError};
use uuid::Uuid;
use vault_core::sync::Token;

impl AppendTx for PgTx<'_, '_> {
    fn lock_head(&mut self, circle_id: Uuid) -> Result<Option<Head>, StorageError> {
        let rows = self.query(
            "SELECT head_seq, head_hash FROM circles WHERE circle_id = $1 FOR UPDATE",
            &[&&circle_id.as_bytes()[..]],
        )?;
        rows.first()
            .map(|r| {
                Ok(Head {
                    seq: unsigned(r.get(0), "head seq")?,
                    hash: bytes32(r.get(1), "head hash")?,
                })
            })
            .transpose()
    }

    fn member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
    ) -> Result<Option<MemberRow>, StorageError> {
        self.member_row(circle_id, peer)
    }

    fn usage(&mut self, circle_id: Uuid) -> Result<Usage, StorageError> {
        self.circle_usage(circle_id)
    }

    fn quota_overrides(&mut self, circle_id: Uuid) -> Result<QuotaOverrides, StorageError> {
        self.circle_quotas(circle_id)
    }

    fn add_member(
        &mut self,
        circle_id: Uuid,
        peer: &PeerBytes,
        keys: &MemberKeys,
        seq: u64,
    ) -> Result<(), StorageError> {
        self.insert_member(circle_id, peer, keys, seq)
    }

    fn zone_position(
        &mut self,
        circle_id: Uuid,
        zone: &str,
    ) -> Result<Option<Token>, StorageError> {
        let rows = self.query(
            "SELECT epoch, seq FROM zones WHERE circle_id = $1 AND name = $2 FOR UPDATE",
            &[&&circle_id.as_bytes()[..], &zone],
        )?;
        rows.first()
            .map(|r| {
                Ok(Token {
                    epoch: u32::try_from(r.get::<_, i64>(0)).map_err(|_| range_err("epoch"))?,
                    seq: unsigned(r.get(1), "seq")?,
                })
            })
            .transpose()
    }

    fn save_cut(
        &mut self,
        circle_id: Uuid,
        removal_seq: u64,
        zone: &str,
        list: &[u8],
    ) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO circle_cuts (circle_id, removal_seq, zone, list) VALUES ($1, $2, $3, $4)",
            &[
                &&circle_id.as_bytes()[..],
                &signed(removal_seq, "a seq")?,
                &zone,
                &list,
            ],
        )?;
        Ok(())
    }

    fn mark_removed(&mut self, circle_id: Uuid, peer: &PeerBytes) -> Result<bool, StorageError> {
        let n = self.execute(
            "UPDATE members SET removed = true
             WHERE circle_id = $1 AND peer_id = $2 AND NOT removed",
            &[&&circle_id.as_bytes()[..], &&peer[..]],
        )?;
        Ok(n == 1)
    }

    fn drop_tokens(&mut self, circle_id: Uuid, peer: &PeerBytes) -> Result<(), StorageError> {
        self.execute(
            "DELETE FROM tokens WHERE circle_id = $1 AND peer_id = $2",
            &[&&circle_id.as_bytes()[..], &&peer[..]],
        )?;
        Ok(())
    }

    fn save_entry(&mut self, circle_id: Uuid, entry: &NewEntry) -> Result<(), StorageError> {
        self.insert_entry(circle_id, entry)?;
        self.execute(
            "UPDATE circles SET head_seq = $2, head_hash = $3 WHERE circle_id = $1",
            &[
                &&circle_id.as_bytes()[..],
                &signed(entry.seq, "a seq")?,
                &&entry.hash[..],
            ],
        )?;
        Ok(())
    }
}

impl PgTx<'_, '_> {
    /// A member row, current or removed.
    pub(super) fn member_row(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
    ) -> Result<Option<MemberRow>, StorageError> {
        let rows = self.query(
            "SELECT signing_key, agreement_key, removed FROM members
             WHERE circle_id = $1 AND peer_id = $2",
            &[&&circle_id.as_bytes()[..], &&peer[..]],
        )?;
        rows.first()
            .map(|r| {
                Ok(MemberRow {
                    keys: MemberKeys {
                        signing: bytes32(r.get(0), "signing key")?,
                        agreement: bytes32(r.get(1), "agreement key")?,
                    },
                    removed: r.get(2),
                })
            })
            .transpose()
    }

    /// Lists a member added at `seq`.
    pub(super) fn insert_member(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        keys: &MemberKeys,
        seq: u64,
    ) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO members (circle_id, peer_id, signing_key, agreement_key, added_seq)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &&circle_id.as_bytes()[..],
                &&peer[..],
                &&keys.signing[..],
                &&keys.agreement[..],
                &signed(seq, "a seq")?,
            ],
        )?;
        Ok(())
    }

    /// Stores a log entry.
    pub(super) fn insert_entry(&self, circle_id: Uuid, e: &NewEntry) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO circle_entries (circle_id, seq, hash, entry, signature)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &&circle_id.as_bytes()[..],
                &signed(e.seq, "a seq")?,
                &&e.hash[..],
                &e.entry,
                &e.signature,
            ],
        )?;
        Ok(())
    }
}
