//! A removal's cut: the zone state the remover reached before removing a
//! peer ([`ZoneCut`], carried in the removal entry) and the list of the
//! removed peer's records at that state ([`CutList`], stored beside the
//! log; the entry carries its hash). A record of a removed peer is
//! accepted exactly when it is on the list.
//!
//! Layouts (big-endian):
//!
//! ```text
//! zone cut:  zone_len u8 | zone | token_epoch u32 | token_seq u64 | root 32 | list_hash 32 | count u32
//! cut list:  version u8 (=1) | zone_len u8 | zone | count u32 | count × (uuid 16 | gencount u64 | content 32)
//! ```
//!
//! The list is sorted by uuid, one row per uuid; a tombstone's content is
//! all zeros. `list_hash` is SHA-256 of the [`Namespace::RemovalCut`] label
//! and the list's bytes.

use crate::crypto::{Namespace, hash};
use crate::wire::{ReadError, Reader};
use uuid::Uuid;

/// The cut list layout's version byte.
pub const CUT_LIST_VERSION: u8 = 1;
/// The longest zone name a cut names.
pub const MAX_ZONE_LEN: usize = 32;
/// The most zones one removal cuts.
pub const MAX_CUT_ZONES: usize = 8;
/// The most records one cut list holds.
pub const MAX_CUT_RECORDS: usize = 200_000;
/// Bytes of one list row.
const ROW_LEN: usize = 16 + 8 + 32;

/// Why cut bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CutError {
    /// The bytes end before the layout does, or run past it.
    #[error("the cut is truncated or has trailing bytes")]
    Malformed,
    /// The list's version byte is not one this library reads.
    #[error("cut list version {0} is not supported")]
    UnknownVersion(u8),
    /// A zone name that is empty, too long or not UTF-8.
    #[error("a cut names an invalid zone")]
    BadZone,
    /// More zones or records than the limits allow.
    #[error("the cut is over its limits")]
    TooLarge,
    /// Rows out of uuid order, or one uuid twice.
    #[error("the cut list is not sorted by uuid")]
    Unsorted,
    /// The list is not the one the removal entry names.
    #[error("the cut list does not match its removal entry")]
    Mismatch,
}

impl From<ReadError> for CutError {
    fn from(_: ReadError) -> Self {
        CutError::Malformed
    }
}

/// One zone's state at a removal, as the removal entry names it.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct ZoneCut {
    /// The zone.
    pub zone: String,
    /// The change token the remover reached: its epoch,
    pub token_epoch: u32,
    /// and its sequence.
    pub token_seq: u64,
    /// The remover's manifest root at that token.
    pub root: [u8; 32],
    /// SHA-256 of the [`CutList`]'s bytes.
    pub list_hash: [u8; 32],
    /// How many rows the list has.
    pub count: u32,
}

/// One record of the removed peer at the cut.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct CutRow {
    /// The item.
    pub uuid: Uuid,
    /// The version's gencount.
    pub gencount: u64,
    /// The record's content hash; all zeros for a tombstone.
    pub content: [u8; 32],
}

/// The removed peer's records in one zone at the cut, sorted by uuid.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CutList {
    /// The zone.
    pub zone: String,
    /// The rows, sorted by uuid.
    pub rows: Vec<CutRow>,
}

fn check_zone(zone: &str) -> Result<(), CutError> {
    if zone.is_empty() || zone.len() > MAX_ZONE_LEN {
        return Err(CutError::BadZone);
    }
    Ok(())
}

fn read_zone(r: &mut Reader<'_>) -> Result<String, CutError> {
    let len = usize::from(r.u8()?);
    let zone = std::str::from_utf8(r.take(len)?).map_err(|_| CutError::BadZone)?;
    check_zone(zone)?;
    Ok(zone.to_owned())
}

impl ZoneCut {
    /// Appends the canonical bytes (zone checked by [`CutList::new`]).
    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        out.push(self.zone.len() as u8);
        out.extend_from_slice(self.zone.as_bytes());
        out.extend_from_slice(&self.token_epoch.to_be_bytes());
        out.extend_from_slice(&self.token_seq.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.list_hash);
        out.extend_from_slice(&self.count.to_be_bytes());
    }

    /// Reads one zone cut.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<ZoneCut, CutError> {
        let zone = read_zone(r)?;
        let cut = ZoneCut {
            zone,
            token_epoch: u32::from_be_bytes(r.array()?),
            token_seq: u64::from_be_bytes(r.array()?),
            root: r.array()?,
            list_hash: r.array()?,
            count: u32::from_be_bytes(r.array()?),
        };
        if cut.count as usize > MAX_CUT_RECORDS {
            return Err(CutError::TooLarge);
        }
        Ok(cut)
    }

    /// Whether `list` is the list this cut names (zone, count, hash).
    pub fn names(&self, list_bytes: &[u8], list: &CutList) -> bool {
        self.zone == list.zone
            && self.count as usize == list.rows.len()
            && self.list_hash == list_hash(list_bytes)
    }
}

/// SHA-256 of the [`Namespace::RemovalCut`] label and a list's bytes.
pub fn list_hash(bytes: &[u8]) -> [u8; 32] {
    hash(Namespace::RemovalCut, &[bytes])
}

impl CutList {
    /// A list of `rows` (sorted here) in `zone`.
    pub fn new(zone: &str, mut rows: Vec<CutRow>) -> Result<CutList, CutError> {
        check_zone(zone)?;
        if rows.len() > MAX_CUT_RECORDS {
            return Err(CutError::TooLarge);
        }
        rows.sort_by_key(|r| r.uuid);
        if rows.windows(2).any(|w| w[0].uuid == w[1].uuid) {
            return Err(CutError::Unsorted);
        }
        Ok(CutList {
            zone: zone.to_owned(),
            rows,
        })
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(7 + self.zone.len() + self.rows.len() * ROW_LEN);
        out.push(CUT_LIST_VERSION);
        out.push(self.zone.len() as u8);
        out.extend_from_slice(self.zone.as_bytes());
        out.extend_from_slice(&(self.rows.len() as u32).to_be_bytes());
        for row in &self.rows {
            out.extend_from_slice(row.uuid.as_bytes());
            out.extend_from_slice(&row.gencount.to_be_bytes());
            out.extend_from_slice(&row.content);
        }
        out
    }

    /// Parses canonical bytes strictly: known version, valid zone, exact
    /// length, rows in strictly increasing uuid order.
    pub fn decode(bytes: &[u8]) -> Result<CutList, CutError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != CUT_LIST_VERSION {
            return Err(CutError::UnknownVersion(version));
        }
        let zone = read_zone(&mut r)?;
        let n = u32::from_be_bytes(r.array()?) as usize;
        if n > MAX_CUT_RECORDS {
            return Err(CutError::TooLarge);
        }
        let body = r.take(n.checked_mul(ROW_LEN).ok_or(CutError::TooLarge)?)?;
        r.finish()?;
        let mut rows = Vec::with_capacity(n);
        for chunk in body.chunks_exact(ROW_LEN) {
            let mut row = Reader::new(chunk);
            let next = CutRow {
                uuid: Uuid::from_bytes(row.array()?),
                gencount: u64::from_be_bytes(row.array()?),
                content: row.array()?,
            };
            if rows.last().is_some_and(|p: &CutRow| p.uuid >= next.uuid) {
                return Err(CutError::Unsorted);
            }
            rows.push(next);
        }
        Ok(CutList { zone, rows })
    }

    /// The zone cut naming this list at `token`, with the remover's `root`.
    pub fn cut(&self, token_epoch: u32, token_seq: u64, root: [u8; 32]) -> ZoneCut {
        ZoneCut {
            zone: self.zone.clone(),
            token_epoch,
            token_seq,
            root,
            list_hash: list_hash(&self.to_bytes()),
            count: self.rows.len() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(u: u8, g: u64) -> CutRow {
        CutRow {
            uuid: Uuid::from_bytes([u; 16]),
            gencount: g,
            content: [u; 32],
        }
    }

    #[test]
    fn the_list_layout_is_pinned() {
        let list = CutList::new("main", vec![row(2, 5), row(1, 3)]).unwrap();
        let bytes = list.to_bytes();
        assert_eq!(&bytes[..10], &[1, 4, b'm', b'a', b'i', b'n', 0, 0, 0, 2]);
        assert_eq!(&bytes[10..26], &[1; 16], "sorted by uuid");
        assert_eq!(&bytes[26..34], &3u64.to_be_bytes());
        assert_eq!(bytes.len(), 10 + 2 * ROW_LEN);
        assert_eq!(CutList::decode(&bytes).unwrap(), list);
        let cut = list.cut(1, 9, [7; 32]);
        assert!(cut.names(&bytes, &list));
        let mut out = Vec::new();
        cut.put(&mut out);
        let back = ZoneCut::read(&mut Reader::new(&out)).unwrap();
        assert_eq!(back, cut);
    }

    #[test]
    fn bad_lists_are_refused() {
        let bytes = CutList::new("main", vec![row(1, 3), row(2, 5)])
            .unwrap()
            .to_bytes();
        let mut swapped = bytes.clone();
        let (a, b) = swapped[10..].split_at_mut(ROW_LEN);
        a.swap_with_slice(&mut b[..ROW_LEN]);
        assert_eq!(CutList::decode(&swapped), Err(CutError::Unsorted));
        assert_eq!(
            CutList::decode(&bytes[..bytes.len() - 1]),
            Err(CutError::Malformed)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(CutList::decode(&long), Err(CutError::Malformed));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(CutList::decode(&v2), Err(CutError::UnknownVersion(2)));
        assert_eq!(
            CutList::new("main", vec![row(1, 3), row(1, 4)]),
            Err(CutError::Unsorted)
        );
        assert_eq!(CutList::new("", vec![]), Err(CutError::BadZone));
        let other = CutList::new("main", vec![row(1, 3)]).unwrap();
        let cut = CutList::decode(&bytes).unwrap().cut(1, 1, [0; 32]);
        assert!(!cut.names(&other.to_bytes(), &other));
    }
}
