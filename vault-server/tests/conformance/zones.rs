//! Sync zones: sequence numbers under concurrent pushes, conflicts,
//! refused batches, the bucket-hash cache, the changes feed, tombstone
//! collection and quotas: the same cases on every backend.

use super::Backend;
use uuid::Uuid;
use vault_core::circle::PeerId;
use vault_core::sync::{Leaf, Manifest, PushResult, RecordParts, SealedRecord, Token};
use vault_server::storage::{
    ChangesError, ManifestPutError, MemberKeys, NewEntry, NewManifest, PeerBytes, PushError,
    PushReply, QuotaKind, Quotas, Storage, TaggedRecord,
};

const FOUNDER: PeerBytes = [9; 32];
const ZONE: &str = "keychain";

/// A circle whose one member is FOUNDER.
fn founded(s: &dyn Storage) -> Uuid {
    let id = Uuid::new_v4();
    let genesis = NewEntry {
        seq: 0,
        prev: [0; 32],
        hash: [100; 32],
        entry: vec![0; 10],
        signature: vec![0; 64],
    };
    let keys = MemberKeys {
        signing: [1; 32],
        agreement: [2; 32],
    };
    s.create_circle(id, &genesis, &FOUNDER, &keys, 1).unwrap();
    id
}

/// The cached root and the buckets marked dirty, read from the database.
fn cache(b: &Backend) -> (bool, Vec<u8>) {
    let root = b.ints("SELECT CAST(CASE WHEN root IS NULL THEN 0 ELSE 1 END AS BIGINT) FROM zones");
    let dirty = b
        .ints("SELECT CAST(bucket AS BIGINT) FROM zone_buckets WHERE hash IS NULL ORDER BY bucket");
    (
        root == [1],
        dirty
            .into_iter()
            .map(|b| u8::try_from(b).unwrap())
            .collect(),
    )
}

/// The circle's bytes as the push and collection keep them, and as its
/// records add up.
fn stored_bytes(b: &Backend, s: &dyn Storage, id: Uuid) -> (u64, u64) {
    let kept = s.circle_usage(id).unwrap().0.bytes;
    let counted = b.ints(
        "SELECT CAST(COALESCE(sum(length(wrappedkey) + length(encitem)), 0) AS BIGINT) FROM records",
    );
    (kept, u64::try_from(counted[0]).unwrap())
}

fn rec(uuid: Uuid, gencount: u64, tomb: bool, tag: u64) -> TaggedRecord {
    TaggedRecord {
        tag,
        record: SealedRecord::from_parts(RecordParts {
            uuid,
            gencount,
            epoch: 1,
            tomb,
            circle_pos: 0,
            writer: PeerId::from_bytes(FOUNDER),
            wrappedkey: vec![gencount as u8; 8],
            encitem: uuid.as_bytes().to_vec(),
            signature: [0; 64],
        })
        .unwrap(),
    }
}

fn uuid(bucket: u8, n: u32) -> Uuid {
    let mut b = [0u8; 16];
    b[0] = bucket;
    b[12..].copy_from_slice(&n.to_be_bytes());
    Uuid::from_bytes(b)
}

fn saved(reply: &PushReply) -> Vec<u64> {
    reply
        .results
        .iter()
        .filter_map(|r| match r {
            PushResult::Saved { seq, .. } => Some(*seq),
            PushResult::Conflict { .. } => None,
        })
        .collect()
}

pub fn concurrent_pushes_take_every_seq_once_in_commit_order(b: &Backend) {
    let s = b.s.clone();
    let id = founded(&*s);
    let shared = uuid(0, u32::MAX);
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for b in 0..20u32 {
                    let mut batch: Vec<TaggedRecord> = (0..10u32)
                        .map(|n| rec(uuid(t, b * 10 + n), 1, false, 0))
                        .collect();
                    // Every batch also claims the shared uuid is new.
                    batch.push(rec(shared, 1, false, 0));
                    let reply = s
                        .push_records(id, ZONE, &FOUNDER, &batch, &Quotas::default())
                        .unwrap();
                    assert_eq!(reply.results.len(), 11);
                    seqs.extend(saved(&reply));
                }
                seqs
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    let n = 8 * 20 * 10 + 1;
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<u64>>(),
        "one save of the shared uuid"
    );
    let page = s.changes(id, ZONE, None, None, 5000, usize::MAX).unwrap();
    assert_eq!(page.records.len() as u64, n);
    assert!(page.records.windows(2).all(|w| w[0].tag < w[1].tag));
    assert_eq!(page.token, Token { epoch: 1, seq: n });
    let m = s.zone_manifest(id, ZONE, false).unwrap();
    assert_eq!(m.count, n);
}

pub fn refused_batches_save_nothing(b: &Backend) {
    let s = &*b.s;
    let id = founded(s);
    assert!(matches!(
        s.push_records(
            id,
            ZONE,
            &[8; 32],
            &[rec(uuid(1, 1), 1, false, 0)],
            &Quotas::default()
        ),
        Err(PushError::NotMember)
    ));
    let mut ahead = rec(uuid(1, 2), 1, false, 0);
    let mut parts = ahead.record.into_parts();
    parts.circle_pos = 1;
    ahead.record = SealedRecord::from_parts(parts).unwrap();
    assert!(matches!(
        s.push_records(
            id,
            ZONE,
            &FOUNDER,
            &[rec(uuid(1, 1), 1, false, 0), ahead],
            &Quotas::default()
        ),
        Err(PushError::CirclePos)
    ));
    let page = s.changes(id, ZONE, None, None, 10, usize::MAX).unwrap();
    assert_eq!((page.records.len(), page.token.seq), (0, 0));
    assert!(s.zone_seqs(id).unwrap().is_empty(), "no zone row was left");
}

pub fn a_push_marks_its_buckets_and_a_read_recomputes_them(b: &Backend) {
    let s = &*b.s;
    let id = founded(s);
    let batch: Vec<TaggedRecord> = (0..6)
        .map(|n| rec(uuid(n * 10, n.into()), 1, false, 0))
        .collect();
    s.push_records(id, ZONE, &FOUNDER, &batch, &Quotas::default())
        .unwrap();
    assert_eq!(cache(b), (false, vec![0, 10, 20, 30, 40, 50]));
    let leaves = |records: &[TaggedRecord]| -> Vec<Leaf> {
        records
            .iter()
            .filter(|r| !r.record.tomb())
            .map(|r| Leaf {
                uuid: r.record.uuid(),
                gencount: r.record.gencount(),
                content: r.record.content_hash(),
            })
            .collect()
    };
    let m = s.zone_manifest(id, ZONE, true).unwrap();
    assert_eq!(m.root, Manifest::of(&leaves(&batch)).root());
    assert_eq!(m.buckets, Some(Manifest::of(&leaves(&batch))));
    assert_eq!(cache(b), (true, vec![]));

    // One edit: one dirty bucket, recomputed on the next read.
    let mut now = batch.clone();
    now[2] = rec(uuid(20, 2), 2, true, 3);
    s.push_records(id, ZONE, &FOUNDER, &now[2..3], &Quotas::default())
        .unwrap();
    assert_eq!(cache(b), (false, vec![20]));
    let m = s.zone_manifest(id, ZONE, false).unwrap();
    assert_eq!(m.root, Manifest::of(&leaves(&now)).root());
    assert_eq!((m.count, m.token.seq), (5, 7));
    assert_eq!(cache(b), (true, vec![]));
    // A zone never written: the empty manifest, and no row is created.
    let empty = s.zone_manifest(id, "notes", true).unwrap();
    assert_eq!(empty.root, Manifest::default().root());
    assert_eq!(s.zone_seqs(id).unwrap().len(), 1);
}

pub fn collection_counts_the_zones_epoch_and_caps_at_its_seq(b: &Backend) {
    let s = &*b.s;
    let id = founded(s);
    let batch = [rec(uuid(1, 1), 1, false, 0), rec(uuid(2, 2), 1, false, 0)];
    s.push_records(id, ZONE, &FOUNDER, &batch, &Quotas::default())
        .unwrap();
    s.push_records(
        id,
        ZONE,
        &FOUNDER,
        &[rec(uuid(1, 1), 2, true, 1)],
        &Quotas::default(),
    )
    .unwrap();
    let manifest = |peer: PeerBytes, counter: u64, seq: u64, epoch: u32| NewManifest {
        peer,
        counter,
        token: Token { epoch, seq },
        body: vec![1],
        signature: [0; 64],
    };
    // A manifest of another epoch does not count.
    let stored = s
        .put_manifest(id, ZONE, &manifest(FOUNDER, 1, 3, 2))
        .unwrap();
    assert_eq!((stored.collected, stored.gc_seq), (0, 0));
    // A token past the zone's seq is capped at it.
    let stored = s
        .put_manifest(id, ZONE, &manifest(FOUNDER, 2, 99, 1))
        .unwrap();
    assert_eq!((stored.collected, stored.gc_seq), (1, 3));
    assert!(matches!(
        s.put_manifest(id, ZONE, &manifest(FOUNDER, 2, 3, 1)),
        Err(ManifestPutError::StaleCounter)
    ));
    assert!(matches!(
        s.changes(
            id,
            ZONE,
            Some(Token { epoch: 1, seq: 2 }),
            None,
            10,
            usize::MAX
        ),
        Err(ChangesError::TokenExpired)
    ));
    let page = s.changes(id, ZONE, None, None, 10, usize::MAX).unwrap();
    assert_eq!(page.records.iter().map(|r| r.tag).collect::<Vec<_>>(), [2]);
    assert_eq!(s.manifests(id, ZONE).unwrap().len(), 1);
}

pub fn a_push_past_a_quota_stores_nothing_and_one_that_shrinks_passes(b: &Backend) {
    let s = &*b.s;
    let id = founded(s);
    let q = Quotas {
        max_devices: 0,
        max_records: 3,
        max_bytes: 0,
    };
    let two = [rec(uuid(1, 1), 1, false, 0), rec(uuid(1, 2), 1, false, 0)];
    s.push_records(id, ZONE, &FOUNDER, &two, &q).unwrap();
    let before = s.zone_seqs(id).unwrap();
    // Two more would make four: refused whole, the first of them included.
    let over = [rec(uuid(2, 1), 1, false, 0), rec(uuid(2, 2), 1, false, 0)];
    match s.push_records(id, ZONE, &FOUNDER, &over, &q) {
        Err(PushError::Quota(e)) => {
            assert_eq!((e.kind, e.limit, e.would_be), (QuotaKind::Records, 3, 4))
        }
        other => panic!("expected the records quota, got {other:?}"),
    }
    assert_eq!(s.zone_seqs(id).unwrap(), before);
    assert_eq!(s.circle_usage(id).unwrap().0.records, 2);
    assert_eq!(stored_bytes(b, s, id), (48, 48));
    // An update does not grow the count; under a lowered limit a delete
    // still goes through.
    s.push_records(id, ZONE, &FOUNDER, &[rec(uuid(1, 1), 2, false, 1)], &q)
        .unwrap();
    let tight = Quotas {
        max_records: 1,
        ..q
    };
    s.push_records(id, ZONE, &FOUNDER, &[rec(uuid(1, 2), 2, true, 2)], &tight)
        .unwrap();
    assert_eq!(s.circle_usage(id).unwrap().0.records, 1);
    // Bytes: the tombstone still holds its ciphertext; one more record
    // would pass a limit of 60.
    assert_eq!(stored_bytes(b, s, id), (48, 48));
    let bytes = Quotas {
        max_records: 0,
        max_bytes: 60,
        ..q
    };
    match s.push_records(id, ZONE, &FOUNDER, &[rec(uuid(3, 1), 1, false, 0)], &bytes) {
        Err(PushError::Quota(e)) => assert_eq!((e.kind, e.would_be), (QuotaKind::Bytes, 72)),
        other => panic!("expected the bytes quota, got {other:?}"),
    }
    // Collection frees the tombstone's bytes, and the record fits.
    let seq = s.zone_seqs(id).unwrap()[0].seq;
    let stored = s
        .put_manifest(
            id,
            ZONE,
            &NewManifest {
                peer: FOUNDER,
                counter: 1,
                token: Token { epoch: 1, seq },
                body: vec![1],
                signature: [0; 64],
            },
        )
        .unwrap();
    assert_eq!(stored.collected, 1);
    assert_eq!(stored_bytes(b, s, id), (24, 24));
    s.push_records(id, ZONE, &FOUNDER, &[rec(uuid(3, 1), 1, false, 0)], &bytes)
        .unwrap();
    assert_eq!(stored_bytes(b, s, id), (48, 48));
}

pub fn a_push_takes_seqs_and_a_conflict_is_answered_with_the_stored_record(b: &Backend) {
    let s = &*b.s;
    let id = founded(s);
    let q = Quotas::default();
    let reply = s
        .push_records(
            id,
            ZONE,
            &FOUNDER,
            &[rec(uuid(1, 1), 1, false, 0), rec(uuid(2, 2), 1, false, 0)],
            &q,
        )
        .unwrap();
    assert_eq!(saved(&reply), [1, 2]);
    assert_eq!(reply.token, Token { epoch: 1, seq: 2 });
    // Based on nothing while a record is stored: a conflict carrying it.
    let reply = s
        .push_records(id, ZONE, &FOUNDER, &[rec(uuid(1, 1), 2, false, 0)], &q)
        .unwrap();
    match &reply.results[..] {
        [
            PushResult::Conflict {
                current: Some(c), ..
            },
        ] => assert_eq!((c.tag, c.record.gencount()), (1, 1)),
        other => panic!("{other:?}"),
    }
    // Based on the stored one but not newer: a conflict too.
    let reply = s
        .push_records(id, ZONE, &FOUNDER, &[rec(uuid(1, 1), 1, false, 1)], &q)
        .unwrap();
    assert!(saved(&reply).is_empty());
    // Based on the stored one, with a higher gencount: saved at seq 3.
    let reply = s
        .push_records(id, ZONE, &FOUNDER, &[rec(uuid(1, 1), 2, false, 1)], &q)
        .unwrap();
    assert_eq!(saved(&reply), [3]);
    let page = s.changes(id, ZONE, None, None, 10, usize::MAX).unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.tag).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(s.zone_seqs(id).unwrap()[0].seq, 3);
}

pub fn a_changes_page_stops_at_its_byte_budget_but_is_never_empty(b: &Backend) {
    let s = &*b.s;
    let id = founded(s);
    // Each record holds 8 + 16 = 24 bytes of ciphertext.
    let batch: Vec<TaggedRecord> = (0..10).map(|n| rec(uuid(3, n), 1, false, 0)).collect();
    s.push_records(id, ZONE, &FOUNDER, &batch, &Quotas::default())
        .unwrap();
    let page = s.changes(id, ZONE, None, None, 100, 72).unwrap();
    assert_eq!(page.records.len(), 3);
    assert!(page.more);
    assert_eq!(page.token.seq, 3);
    // A budget below one record still answers one.
    let page = s.changes(id, ZONE, Some(page.token), None, 100, 1).unwrap();
    assert_eq!(page.records.iter().map(|r| r.tag).collect::<Vec<_>>(), [4]);
    // `limit` ends a page too; the last page reaches the zone's seq.
    let page = s
        .changes(id, ZONE, Some(page.token), None, 4, usize::MAX)
        .unwrap();
    assert_eq!(
        (page.records.len(), page.more, page.token.seq),
        (4, true, 8)
    );
    let page = s
        .changes(id, ZONE, Some(page.token), None, 4, usize::MAX)
        .unwrap();
    assert_eq!(
        (page.records.len(), page.more, page.token.seq),
        (2, false, 10)
    );
    // `after` continues a read from seq 0; a token past the zone expired.
    let page = s
        .changes(
            id,
            ZONE,
            Some(Token { epoch: 1, seq: 0 }),
            Some(8),
            10,
            usize::MAX,
        )
        .unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.tag).collect::<Vec<_>>(),
        [9, 10]
    );
    assert!(matches!(
        s.changes(
            id,
            ZONE,
            Some(Token { epoch: 1, seq: 11 }),
            None,
            10,
            usize::MAX
        ),
        Err(ChangesError::TokenExpired)
    ));
    assert!(matches!(
        s.changes(
            id,
            ZONE,
            Some(Token { epoch: 2, seq: 3 }),
            None,
            10,
            usize::MAX
        ),
        Err(ChangesError::TokenExpired)
    ));
    // Bucket reads: live records of the buckets asked for, by uuid.
    let got = s.bucket_records(id, ZONE, &[3, 200]).unwrap();
    assert_eq!(got.len(), 10);
    assert!(
        got.windows(2)
            .all(|w| w[0].record.uuid() < w[1].record.uuid())
    );
    assert!(s.bucket_records(id, ZONE, &[4]).unwrap().is_empty());
    // A bucket asked for twice is read once.
    assert_eq!(s.bucket_records(id, ZONE, &[3, 3]).unwrap().len(), 10);
}

pub fn a_removal_is_refused_once_a_zone_moved_past_its_cut(b: &Backend) {
    use vault_server::storage::{AppendError, MemberChange, ZoneCutList};
    let s = &*b.s;
    let id = founded(s);
    let q = Quotas::default();
    let entry = |seq: u64, prev: u8, hash: u8| NewEntry {
        seq,
        prev: [prev; 32],
        hash: [hash; 32],
        entry: vec![seq as u8; 10],
        signature: vec![0; 64],
    };
    let keys = MemberKeys {
        signing: [1; 32],
        agreement: [2; 32],
    };
    let add = MemberChange::Add {
        peer: [5; 32],
        keys,
    };
    s.append_entry(id, &FOUNDER, &entry(1, 100, 101), &add, &q)
        .unwrap();
    s.push_records(id, ZONE, &FOUNDER, &[rec(uuid(1, 1), 1, false, 0)], &q)
        .unwrap();
    let remove_at = |seq: u64| MemberChange::Remove {
        peer: [5; 32],
        cuts: vec![ZoneCutList {
            zone: ZONE.into(),
            token: Token { epoch: 1, seq },
            list: vec![7; 4],
        }],
    };
    assert!(matches!(
        s.append_entry(id, &FOUNDER, &entry(2, 101, 102), &remove_at(0), &q),
        Err(AppendError::ZoneMoved)
    ));
    assert!(!s.member(id, &[5; 32]).unwrap().removed);
    s.append_entry(id, &FOUNDER, &entry(2, 101, 102), &remove_at(1), &q)
        .unwrap();
    assert!(s.member(id, &[5; 32]).unwrap().removed);
    assert_eq!(s.cut_list(id, 2, ZONE).unwrap(), vec![7; 4]);
    assert!(s.cut_list(id, 2, "notes").is_err());
}
