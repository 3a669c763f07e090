//! The changes feed's rule: which change tokens a device can go on from,
//! and where a page ends (at `limit` records, or once its ciphertext
//! passes `max_bytes`, but never empty). The backend only fetches the
//! records after a seq, in one snapshot with the zone's row.

use super::manifest::{ManifestRead, ZoneState};
use crate::storage::{ChangesError, ChangesPage, StorageError, TaggedRecord};
use uuid::Uuid;
use vault_core::sync::Token;

/// What reading a changes page needs of a backend, in one snapshot.
pub trait ChangesRead: ManifestRead {
    /// The zone's records with `seq > after`, in seq order: at most
    /// `limit + 1`. The backend may stop early, but only after the first
    /// record whose running total of ciphertext (wrapped key plus item)
    /// passes `max_bytes` and after at least two records: the record
    /// past the page tells the rule that there are more.
    fn records_after(
        &mut self,
        zone_id: i64,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<TaggedRecord>, StorageError>;
}

/// Whether a device at `since` can go on from there. Seq 0 reads the
/// zone from its start, whatever the epoch (a device resyncing).
fn token_valid(row: &ZoneState, since: Token) -> bool {
    since.seq == 0 || (since.epoch == row.epoch && since.seq >= row.gc_seq && since.seq <= row.seq)
}

/// A page of the changes feed: see
/// [`Storage::changes`](crate::storage::Storage::changes).
pub fn page(
    tx: &mut impl ChangesRead,
    circle_id: Uuid,
    zone: &str,
    since: Option<Token>,
    after: Option<u64>,
    limit: u32,
    max_bytes: usize,
) -> Result<ChangesPage, ChangesError> {
    let row = tx.zone(circle_id, zone)?;
    let since = since.unwrap_or(Token {
        epoch: row.epoch,
        seq: 0,
    });
    let from = after.unwrap_or(since.seq).max(since.seq);
    if !token_valid(&row, since) || from > row.seq {
        return Err(ChangesError::TokenExpired);
    }
    let mut records: Vec<TaggedRecord> = Vec::new();
    let mut more = false;
    if let Some(zone_id) = row.id {
        let mut bytes = 0usize;
        for rec in tx.records_after(zone_id, from, limit, max_bytes)? {
            let size = rec.record.wrappedkey().len() + rec.record.encitem().len();
            if records.len() == limit as usize
                || (!records.is_empty() && bytes.saturating_add(size) > max_bytes)
            {
                more = true;
                break;
            }
            bytes += size;
            records.push(rec);
        }
    }
    let seq = match (more, records.last()) {
        (true, Some(last)) => last.tag,
        _ => row.seq,
    };
    Ok(ChangesPage {
        token: Token {
            epoch: row.epoch,
            seq,
        },
        more,
        records,
    })
}
