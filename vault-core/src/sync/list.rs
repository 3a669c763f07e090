//! The binary lists the changes feed and pushes carry: record lists (with
//! a writer table), changes pages, change tokens and zone names.
//!
//! A record list is
//!
//! ```text
//! u8 version (1)
//! varint writers, then each writer's 32-byte peer id
//! varint records, then each record:
//!   u8 flags (bit 0: tombstone)   16 uuid
//!   varint gencount   varint epoch   varint circle_pos   varint tag
//!   varint writer index
//!   varint len, wrappedkey   varint len, encitem   64 signature
//! ```
//!
//! Varints are unsigned LEB128 in their shortest form ([`crate::wire`]).
//! `tag` is the record's server sequence (its change tag) in the changes
//! feed and the change tag an edit is based on (0: a new item) in a push.
//! A writer table keeps the per-record overhead beyond the ciphertext near
//! 90 bytes.

use super::record::{MAX_ENCITEM, MAX_WRAPPEDKEY, RecordParts, SealedRecord};
use crate::crypto::PeerId;
use crate::wire::{ReadError, Reader, put_varint};
use uuid::Uuid;

/// The record list format's version.
pub const RECORD_LIST_VERSION: u8 = 1;
/// The longest zone name.
pub const MAX_ZONE_LEN: usize = 32;

const FLAG_TOMB: u8 = 1;

/// Why a record list, a page or a manifest did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes end early.
    #[error("truncated")]
    Truncated,
    /// Bytes follow the end.
    #[error("trailing bytes")]
    Trailing,
    /// An unknown format version.
    #[error("unknown format version {0}")]
    Version(u8),
    /// A varint is overlong or too large.
    #[error("malformed number")]
    Varint,
    /// Unknown flag bits.
    #[error("unknown flags")]
    Flags,
    /// A blob over its limit.
    #[error("a field is too long")]
    TooLong,
    /// A writer index past the writer table.
    #[error("a writer index is out of range")]
    Writer,
    /// A zone name that is empty, too long, or not `[a-z0-9_-]`.
    #[error("bad zone name")]
    Zone,
}

impl From<ReadError> for WireError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Truncated => WireError::Truncated,
            ReadError::Varint => WireError::Varint,
            ReadError::TooLong => WireError::TooLong,
            ReadError::Trailing => WireError::Trailing,
        }
    }
}

/// Whether `zone` is a valid zone name: 1 to 32 of `[a-z0-9_-]`.
pub fn valid_zone(zone: &str) -> bool {
    (1..=MAX_ZONE_LEN).contains(&zone.len())
        && zone
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A record in a list, with its change tag (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedRecord {
    /// The server sequence (pull) or the base change tag (push, 0: new).
    pub tag: u64,
    /// The record.
    pub record: SealedRecord,
}

/// Encodes a record list.
pub fn encode_records(records: &[TaggedRecord]) -> Vec<u8> {
    let mut writers: Vec<PeerId> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for r in records {
        index.entry(r.record.writer()).or_insert_with(|| {
            writers.push(r.record.writer());
            writers.len() - 1
        });
    }
    let size: usize = records
        .iter()
        .map(|r| 110 + r.record.wrappedkey().len() + r.record.encitem().len())
        .sum();
    let mut out = Vec::with_capacity(16 + writers.len() * 32 + size);
    out.push(RECORD_LIST_VERSION);
    put_varint(&mut out, writers.len() as u64);
    for w in &writers {
        out.extend_from_slice(w.as_bytes());
    }
    put_varint(&mut out, records.len() as u64);
    for r in records {
        let rec = &r.record;
        out.push(if rec.tomb() { FLAG_TOMB } else { 0 });
        out.extend_from_slice(rec.uuid().as_bytes());
        put_varint(&mut out, rec.gencount());
        put_varint(&mut out, rec.epoch().into());
        put_varint(&mut out, rec.circle_pos());
        put_varint(&mut out, r.tag);
        put_varint(&mut out, index[&rec.writer()] as u64);
        put_varint(&mut out, rec.wrappedkey().len() as u64);
        out.extend_from_slice(rec.wrappedkey());
        put_varint(&mut out, rec.encitem().len() as u64);
        out.extend_from_slice(rec.encitem());
        out.extend_from_slice(rec.signature());
    }
    out
}

/// Decodes a record list; the whole input must be one list.
pub fn decode_records(bytes: &[u8]) -> Result<Vec<TaggedRecord>, WireError> {
    let mut r = Reader::new(bytes);
    let list = read_records(&mut r)?;
    r.finish()?;
    Ok(list)
}

pub(crate) fn read_records(r: &mut Reader<'_>) -> Result<Vec<TaggedRecord>, WireError> {
    let version = r.u8()?;
    if version != RECORD_LIST_VERSION {
        return Err(WireError::Version(version));
    }
    let n_writers = r.count(32)?;
    let mut writers = Vec::with_capacity(n_writers);
    for _ in 0..n_writers {
        writers.push(PeerId::from_bytes(r.array::<32>()?));
    }
    // A record takes at least 16 + 64 + 8 bytes: bound the allocation.
    let n = r.count(88)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let flags = r.u8()?;
        if flags & !FLAG_TOMB != 0 {
            return Err(WireError::Flags);
        }
        let uuid = Uuid::from_bytes(r.array::<16>()?);
        let gencount = r.varint()?;
        let epoch = u32::try_from(r.varint()?).map_err(|_| WireError::Varint)?;
        let circle_pos = r.varint()?;
        let tag = r.varint()?;
        let writer = *writers
            .get(usize::try_from(r.varint()?).map_err(|_| WireError::Writer)?)
            .ok_or(WireError::Writer)?;
        let wrappedkey = r.bytes(MAX_WRAPPEDKEY)?.to_vec();
        let encitem = r.bytes(MAX_ENCITEM)?.to_vec();
        let signature = r.array::<64>()?;
        let record = SealedRecord::from_parts(RecordParts {
            uuid,
            gencount,
            epoch,
            tomb: flags & FLAG_TOMB != 0,
            circle_pos,
            writer,
            wrappedkey,
            encitem,
            signature,
        })
        .map_err(|_| WireError::TooLong)?;
        out.push(TaggedRecord { tag, record });
    }
    Ok(out)
}

/// A change token: the zone's epoch and a server sequence in it (as
/// CloudKit's server change token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Token {
    /// The zone's epoch: it rises when the zone is restored or migrated,
    /// and a token of an older epoch must resync.
    pub epoch: u32,
    /// The last server sequence covered.
    pub seq: u64,
}

impl Token {
    /// The token's text form, `EPOCH.SEQ`, as URLs and JSON carry it.
    pub fn to_text(self) -> String {
        format!("{}.{}", self.epoch, self.seq)
    }

    /// Parses [`Token::to_text`]'s form.
    pub fn parse(text: &str) -> Option<Token> {
        let (e, s) = text.split_once('.')?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(e) || !digits(s) {
            return None;
        }
        Some(Token {
            epoch: e.parse().ok()?,
            seq: s.parse().ok()?,
        })
    }
}

/// One page of the changes feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesPage {
    /// The token after this page (pass it to get the next).
    pub token: Token,
    /// Whether more changes follow this page.
    pub more: bool,
    /// Records changed after the requested token, in sequence order; `tag`
    /// is each record's sequence.
    pub records: Vec<TaggedRecord>,
}

impl ChangesPage {
    /// `u8 version || u32 zone epoch (BE) || varint seq || u8 more ||
    /// record list`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_LIST_VERSION];
        out.extend_from_slice(&self.token.epoch.to_be_bytes());
        put_varint(&mut out, self.token.seq);
        out.push(u8::from(self.more));
        out.extend_from_slice(&encode_records(&self.records));
        out
    }

    /// Decodes [`ChangesPage::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Result<ChangesPage, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != RECORD_LIST_VERSION {
            return Err(WireError::Version(version));
        }
        let epoch = u32::from_be_bytes(r.array::<4>()?);
        let seq = r.varint()?;
        let more = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(WireError::Flags),
        };
        let records = read_records(&mut r)?;
        r.finish()?;
        Ok(ChangesPage {
            token: Token { epoch, seq },
            more,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sync::record::tests::{sample, sample_parts};

    #[test]
    fn records_round_trip_with_a_shared_writer_table() {
        let (a, b) = (PeerId::from_bytes([1; 32]), PeerId::from_bytes([2; 32]));
        let list: Vec<_> = (0..5)
            .map(|n| TaggedRecord {
                tag: u64::from(n) * 1000 + 1000,
                record: sample(n, if n < 3 { a } else { b }),
            })
            .collect();
        let bytes = encode_records(&list);
        assert_eq!(decode_records(&bytes).unwrap(), list);
        // 1 version + 1 count + 2 writers + 1 count, then per record the
        // ciphertext plus 1+16+2+1+1+2+1+1+2+64 = 91 bytes.
        assert_eq!(bytes.len(), 3 + 64 + 5 * (61 + 189 + 91));
    }

    #[test]
    fn layout_is_pinned() {
        let w = PeerId::from_bytes([9; 32]);
        let rec = TaggedRecord {
            tag: 1,
            record: SealedRecord::from_parts(RecordParts {
                wrappedkey: vec![0xaa],
                encitem: vec![0xbb, 0xcc],
                ..sample_parts(2, w)
            })
            .unwrap(),
        };
        let bytes = encode_records(&[rec]);
        let mut want = vec![1, 1];
        want.extend([9; 32]);
        want.push(1);
        want.push(0);
        want.extend([2; 16]);
        want.extend([0xac, 0x02, 2, 5, 1, 0, 1, 0xaa, 2, 0xbb, 0xcc]);
        want.extend([7; 64]);
        assert_eq!(bytes, want);
    }

    #[test]
    fn malformed_lists_are_typed() {
        let w = PeerId::from_bytes([1; 32]);
        let good = encode_records(&[TaggedRecord {
            tag: 0,
            record: sample(0, w),
        }]);
        assert_eq!(
            decode_records(&good[..good.len() - 1]),
            Err(WireError::Truncated)
        );
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(decode_records(&extra), Err(WireError::Trailing));
        let mut v = good.clone();
        v[0] = 2;
        assert_eq!(decode_records(&v), Err(WireError::Version(2)));
        let mut flags = good.clone();
        flags[35] = 4;
        assert_eq!(decode_records(&flags), Err(WireError::Flags));
        let mut idx = good.clone();
        // flags(35) uuid(36..52) gencount(52,53) epoch 54 pos 55 tag 56 writer 57
        idx[57] = 3;
        assert_eq!(decode_records(&idx), Err(WireError::Writer));
        // A count the input cannot hold allocates nothing.
        assert_eq!(
            decode_records(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(WireError::Truncated)
        );
        // Overlong varint.
        assert_eq!(decode_records(&[1, 0x80, 0x00, 0]), Err(WireError::Varint));
    }

    #[test]
    fn pages_and_tokens_round_trip() {
        let page = ChangesPage {
            token: Token { epoch: 3, seq: 99 },
            more: true,
            records: vec![TaggedRecord {
                tag: 99,
                record: sample(4, PeerId::from_bytes([5; 32])),
            }],
        };
        assert_eq!(ChangesPage::decode(&page.encode()).unwrap(), page);
        let t = Token { epoch: 1, seq: 42 };
        assert_eq!(Token::parse(&t.to_text()), Some(t));
        for bad in ["", "1", "1.", ".2", "a.2", "1.2.3", "-1.2", "1.+2"] {
            assert_eq!(Token::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn zone_names() {
        assert!(valid_zone("keychain"));
        assert!(valid_zone("a-b_9"));
        for bad in ["", "Key", "a/b", "a b", &"x".repeat(33)] {
            assert!(!valid_zone(bad), "{bad}");
        }
    }
}
