//! Sync records: an item version as the server stores it (ciphertext, the
//! writer and its signature) and the bytes the signature covers.
//!
//! The types say how far a record has come: an [`UnsignedRecord`] is what a
//! writer builds from its vault; [`UnsignedRecord::sign`] consumes it and
//! returns a [`SealedRecord`], the only form that travels. A record read
//! from the wire or storage is rebuilt from its [`RecordParts`], which
//! checks the limits; its signature is checked by the engine, which knows
//! the writer's key ([`SealedRecord::verify_signature`]).

use crate::crypto::{DeviceIdentity, Namespace, PeerId, PeerKeys, VerifyingKey, hash, sigbatch};
use std::fmt;
use uuid::Uuid;

/// The longest `wrappedkey` a record may carry.
pub const MAX_WRAPPEDKEY: usize = 256;
/// The longest `encitem` a record may carry (an item's plaintext is at
/// most 1 MiB).
pub const MAX_ENCITEM: usize = (1 << 20) + 1024;

/// A record's fields, unchecked: the way in to a [`SealedRecord`]
/// ([`SealedRecord::from_parts`], for a server's storage or a test) and the
/// way out ([`SealedRecord::into_parts`]).
#[derive(Clone, PartialEq, Eq)]
pub struct RecordParts {
    /// The item's uuid.
    pub uuid: Uuid,
    /// The version's generation counter.
    pub gencount: u64,
    /// The key epoch whose vault key wraps the content key.
    pub epoch: u32,
    /// Whether the version is a tombstone (the item was deleted).
    pub tomb: bool,
    /// The circle log's head seq when the writer wrote it: the writer
    /// must have been a member there.
    pub circle_pos: u64,
    /// The writer's peer id.
    pub writer: PeerId,
    /// The content key wrapped by the epoch's vault key.
    pub wrappedkey: Vec<u8>,
    /// The item sealed by the content key.
    pub encitem: Vec<u8>,
    /// The writer's Ed25519 signature over [`SealedRecord::signed_bytes`].
    pub signature: [u8; 64],
}

impl fmt::Debug for RecordParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordParts")
            .field("uuid", &self.uuid)
            .field("gencount", &self.gencount)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

/// A record's blob over its limit ([`MAX_WRAPPEDKEY`], [`MAX_ENCITEM`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a record's wrappedkey or encitem is over its limit")]
pub struct RecordTooLong;

fn check_limits(wrappedkey: &[u8], encitem: &[u8]) -> Result<(), RecordTooLong> {
    if wrappedkey.len() > MAX_WRAPPEDKEY || encitem.len() > MAX_ENCITEM {
        return Err(RecordTooLong);
    }
    Ok(())
}

/// An item version a device is about to upload, not yet signed.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsignedRecord {
    uuid: Uuid,
    gencount: u64,
    epoch: u32,
    tomb: bool,
    circle_pos: u64,
    wrappedkey: Vec<u8>,
    encitem: Vec<u8>,
    /// [`content_hash`] of the blobs, taken once: a pulled record's is
    /// read by its signature check, the mirror and the manifest.
    content: [u8; 32],
}

impl fmt::Debug for UnsignedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsignedRecord")
            .field("uuid", &self.uuid)
            .field("gencount", &self.gencount)
            .finish_non_exhaustive()
    }
}

impl UnsignedRecord {
    /// An item version (its sealed blobs, the key epoch that wraps them)
    /// written at circle position `circle_pos`.
    pub fn new(
        uuid: Uuid,
        gencount: u64,
        epoch: u32,
        tomb: bool,
        circle_pos: u64,
        wrappedkey: Vec<u8>,
        encitem: Vec<u8>,
    ) -> Result<Self, RecordTooLong> {
        check_limits(&wrappedkey, &encitem)?;
        Ok(Self {
            uuid,
            gencount,
            epoch,
            tomb,
            circle_pos,
            content: content_hash(&wrappedkey, &encitem),
            wrappedkey,
            encitem,
        })
    }

    /// Signs the record as its writer, for `zone` of `circle_id`.
    pub fn sign(self, writer: &DeviceIdentity, circle_id: Uuid, zone: &str) -> SealedRecord {
        let mut record = SealedRecord {
            body: self,
            writer: writer.peer_id(),
            signature: [0; 64],
        };
        record.signature = writer.sign(
            Namespace::RecordSignature,
            &[&record.signed_body(circle_id, zone)],
        );
        record
    }
}

/// An item version as a device uploads it and the server keeps it:
/// ciphertext and plaintext metadata only, signed by its writer.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRecord {
    body: UnsignedRecord,
    writer: PeerId,
    signature: [u8; 64],
}

impl fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedRecord")
            .field("uuid", &self.body.uuid)
            .field("gencount", &self.body.gencount)
            .field("epoch", &self.body.epoch)
            .field("tomb", &self.body.tomb)
            .field("circle_pos", &self.body.circle_pos)
            .field("writer", &self.writer)
            .field(
                "wrappedkey",
                &format_args!("<{} bytes>", self.body.wrappedkey.len()),
            )
            .field(
                "encitem",
                &format_args!("<{} bytes>", self.body.encitem.len()),
            )
            .finish_non_exhaustive()
    }
}

/// SHA-256 of the content label, `wrappedkey` and `encitem` (the
/// wrapped key has a fixed length, so the concatenation is unambiguous).
pub fn content_hash(wrappedkey: &[u8], encitem: &[u8]) -> [u8; 32] {
    hash(Namespace::RecordContent, &[wrappedkey, encitem])
}

impl SealedRecord {
    /// A record from its parts as stored or received, refused if a blob is
    /// over its limit. Nothing is verified: see
    /// [`SealedRecord::verify_signature`].
    pub fn from_parts(p: RecordParts) -> Result<Self, RecordTooLong> {
        Ok(Self {
            body: UnsignedRecord::new(
                p.uuid,
                p.gencount,
                p.epoch,
                p.tomb,
                p.circle_pos,
                p.wrappedkey,
                p.encitem,
            )?,
            writer: p.writer,
            signature: p.signature,
        })
    }

    /// The record's parts, moved out.
    pub fn into_parts(self) -> RecordParts {
        RecordParts {
            uuid: self.body.uuid,
            gencount: self.body.gencount,
            epoch: self.body.epoch,
            tomb: self.body.tomb,
            circle_pos: self.body.circle_pos,
            writer: self.writer,
            wrappedkey: self.body.wrappedkey,
            encitem: self.body.encitem,
            signature: self.signature,
        }
    }

    /// The item's uuid.
    pub fn uuid(&self) -> Uuid {
        self.body.uuid
    }

    /// The version's generation counter.
    pub fn gencount(&self) -> u64 {
        self.body.gencount
    }

    /// The key epoch whose vault key wraps the content key.
    pub fn epoch(&self) -> u32 {
        self.body.epoch
    }

    /// Whether the version is a tombstone.
    pub fn tomb(&self) -> bool {
        self.body.tomb
    }

    /// The circle log's head seq when the writer wrote it.
    pub fn circle_pos(&self) -> u64 {
        self.body.circle_pos
    }

    /// The writer's peer id.
    pub fn writer(&self) -> PeerId {
        self.writer
    }

    /// The content key wrapped by the epoch's vault key.
    pub fn wrappedkey(&self) -> &[u8] {
        &self.body.wrappedkey
    }

    /// The item sealed by the content key.
    pub fn encitem(&self) -> &[u8] {
        &self.body.encitem
    }

    /// The writer's signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The manifest bucket this record falls in: its uuid's first byte.
    pub fn bucket(&self) -> u8 {
        self.body.uuid.as_bytes()[0]
    }

    /// See [`content_hash`].
    pub fn content_hash(&self) -> [u8; 32] {
        self.body.content
    }

    /// What the writer signs: the record label, the circle, the zone, and
    /// every field but the signature (the blobs by their content hash).
    ///
    /// ```text
    /// "vault.v1.record-sig" || circle_id (16) || u8 zone_len || zone
    ///   || uuid (16) || gencount (u64 BE) || epoch (u32 BE) || u8 tomb
    ///   || circle_pos (u64 BE) || writer (32) || content_hash (32)
    /// ```
    pub fn signed_bytes(&self, circle_id: Uuid, zone: &str) -> Vec<u8> {
        [
            Namespace::RecordSignature.label(),
            &self.signed_body(circle_id, zone),
        ]
        .concat()
    }

    /// [`SealedRecord::signed_bytes`] after the label.
    fn signed_body(&self, circle_id: Uuid, zone: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 1 + zone.len() + 109);
        out.extend_from_slice(circle_id.as_bytes());
        out.push(zone.len() as u8);
        out.extend_from_slice(zone.as_bytes());
        out.extend_from_slice(self.body.uuid.as_bytes());
        out.extend_from_slice(&self.body.gencount.to_be_bytes());
        out.extend_from_slice(&self.body.epoch.to_be_bytes());
        out.push(u8::from(self.body.tomb));
        out.extend_from_slice(&self.body.circle_pos.to_be_bytes());
        out.extend_from_slice(self.writer.as_bytes());
        out.extend_from_slice(&self.content_hash());
        out
    }

    /// Ed25519 verification by `writer`, whose peer id must be the record's
    /// writer, under the rule for records (strict encodings, the cofactored
    /// equation: see `crypto::sigbatch`), so one check and a batch agree.
    pub fn verify_signature(
        &self,
        circle_id: Uuid,
        zone: &str,
        writer: &PeerKeys,
    ) -> Result<(), SignatureError> {
        if writer.peer_id() != self.writer {
            return Err(SignatureError);
        }
        let key = writer.verifying_key().map_err(|_| SignatureError)?;
        if self.verify_with(circle_id, zone, &key) {
            Ok(())
        } else {
            Err(SignatureError)
        }
    }

    /// [`SealedRecord::verify_signature`] with the writer's key already
    /// decoded (and its peer id checked by the caller).
    pub(crate) fn verify_with(&self, circle_id: Uuid, zone: &str, key: &VerifyingKey) -> bool {
        let message = self.signed_bytes(circle_id, zone);
        sigbatch::verify_one(&sigbatch::Check {
            key,
            message: &message,
            signature: &self.signature,
        })
    }
}

/// Each record's signature under the key given with it, checked in
/// batches: the same answers as [`SealedRecord::verify_with`] one by one.
pub(crate) fn verify_records(
    records: &[(&SealedRecord, &VerifyingKey)],
    circle_id: Uuid,
    zone: &str,
) -> Vec<bool> {
    let messages: Vec<Vec<u8>> = records
        .iter()
        .map(|(r, _)| r.signed_bytes(circle_id, zone))
        .collect();
    let checks: Vec<sigbatch::Check> = records
        .iter()
        .zip(&messages)
        .map(|((r, key), message)| sigbatch::Check {
            key,
            message,
            signature: &r.signature,
        })
        .collect();
    sigbatch::verify_many(&checks)
}

/// A record's signature does not verify under its writer's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the record's signature does not verify")]
pub struct SignatureError;

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Plain SHA-256, independent of the code under test.
    fn sha256(bytes: &[u8]) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes).into()
    }

    pub(crate) fn sample(n: u8, writer: PeerId) -> SealedRecord {
        SealedRecord::from_parts(sample_parts(n, writer)).unwrap()
    }

    pub(crate) fn sample_parts(n: u8, writer: PeerId) -> RecordParts {
        RecordParts {
            uuid: Uuid::from_bytes([n; 16]),
            gencount: 300,
            epoch: 2,
            tomb: n % 2 == 1,
            circle_pos: 5,
            writer,
            wrappedkey: vec![n; 61],
            encitem: vec![n ^ 0xff; 189],
            signature: [7; 64],
        }
    }

    #[test]
    fn signed_bytes_are_pinned() {
        let mut rec = sample_parts(2, PeerId::from_bytes([9; 32]));
        rec.wrappedkey = vec![1];
        rec.encitem = vec![2];
        let rec = SealedRecord::from_parts(rec).unwrap();
        let bytes = rec.signed_bytes(Uuid::from_bytes([3; 16]), "keychain");
        let mut want = b"vault.v1.record-sig".to_vec();
        want.extend([3; 16]);
        want.push(8);
        want.extend(b"keychain");
        want.extend([2; 16]);
        want.extend(300u64.to_be_bytes());
        want.extend(2u32.to_be_bytes());
        want.push(0);
        want.extend(5u64.to_be_bytes());
        want.extend([9; 32]);
        want.extend(sha256(b"vault.v1.record-content\x01\x02"));
        assert_eq!(bytes, want);
    }

    #[test]
    fn signing_consumes_the_unsigned_record_and_verifies() {
        let mut rng = crate::crypto::VaultRng::new().unwrap();
        let id = DeviceIdentity::generate(&mut rng);
        let circle = Uuid::from_bytes([3; 16]);
        let unsigned = UnsignedRecord::new(
            Uuid::from_bytes([1; 16]),
            4,
            1,
            false,
            2,
            vec![1; 61],
            vec![2; 80],
        )
        .unwrap();
        let rec = unsigned.sign(&id, circle, "keychain");
        assert_eq!(rec.writer(), id.peer_id());
        assert!(
            rec.verify_signature(circle, "keychain", &id.public())
                .is_ok()
        );
        assert!(rec.verify_signature(circle, "other", &id.public()).is_err());
        let mut parts = rec.into_parts();
        parts.gencount += 1;
        let moved = SealedRecord::from_parts(parts).unwrap();
        assert!(
            moved
                .verify_signature(circle, "keychain", &id.public())
                .is_err()
        );
    }

    #[test]
    fn blobs_over_their_limits_are_refused() {
        let mut p = sample_parts(1, PeerId::from_bytes([1; 32]));
        p.wrappedkey = vec![0; MAX_WRAPPEDKEY + 1];
        assert_eq!(SealedRecord::from_parts(p), Err(RecordTooLong));
        let big = vec![0; MAX_ENCITEM + 1];
        assert!(UnsignedRecord::new(Uuid::nil(), 1, 1, false, 0, vec![], big).is_err());
    }
}
