//! The circle log, members, sessions, invites, the relay, shares and
//! purges: the same cases on every backend.

use super::Backend;
use uuid::Uuid;
use vault_server::storage::{
    AppendError, Counts, Hash32, InviteError, IssueError, MemberChange, MemberKeys, NewEntry,
    QuotaKind, Quotas, RelayMessage, ShareError, Side, Storage, StorageError,
};

fn entry(seq: u64, prev: Hash32, hash: u8) -> NewEntry {
    NewEntry {
        seq,
        prev,
        hash: [hash; 32],
        entry: vec![seq as u8; 10],
        signature: vec![0; 64],
    }
}

const KEYS: MemberKeys = MemberKeys {
    signing: [1; 32],
    agreement: [2; 32],
};

/// A circle with founder `[9; 32]` and genesis hash `[100; 32]`.
fn circle(s: &dyn Storage) -> Uuid {
    let id = Uuid::new_v4();
    s.create_circle(id, &entry(0, [0; 32], 100), &[9; 32], &KEYS, 1)
        .unwrap();
    id
}

pub fn a_circle_exists_once(b: &Backend) {
    let s = &*b.s;
    let id = circle(s);
    assert!(s.circle_exists(id).unwrap());
    assert!(matches!(
        s.create_circle(id, &entry(0, [0; 32], 100), &[9; 32], &KEYS, 1),
        Err(StorageError::Conflict)
    ));
    let m = s.member(id, &[9; 32]).unwrap();
    assert_eq!(m.keys, KEYS);
    assert!(!m.removed);
    assert!(matches!(
        s.member(id, &[8; 32]),
        Err(StorageError::NotFound)
    ));
    assert_eq!(
        s.counts().unwrap(),
        Counts {
            circles: 1,
            devices: 1,
            records: 0,
            bytes: 0,
        }
    );
}

pub fn appends_follow_the_head_and_the_member_rules(b: &Backend) {
    let s = &*b.s;
    let id = circle(s);
    let founder = [9; 32];
    let add = MemberChange::Add {
        peer: [5; 32],
        keys: KEYS,
    };
    assert!(matches!(
        s.append_entry(
            id,
            &founder,
            &entry(1, [0; 32], 101),
            &add,
            &Quotas::default()
        ),
        Err(AppendError::HeadMoved)
    ));
    assert!(matches!(
        s.append_entry(
            id,
            &founder,
            &entry(2, [100; 32], 101),
            &add,
            &Quotas::default()
        ),
        Err(AppendError::BadSeq)
    ));
    assert!(matches!(
        s.append_entry(
            id,
            &[5; 32],
            &entry(1, [100; 32], 101),
            &add,
            &Quotas::default()
        ),
        Err(AppendError::SignerNotMember)
    ));
    assert!(matches!(
        s.append_entry(
            Uuid::new_v4(),
            &founder,
            &entry(1, [100; 32], 101),
            &add,
            &Quotas::default()
        ),
        Err(AppendError::NoCircle)
    ));
    // One device is the quota: the add is refused, the head stays.
    let one = Quotas {
        max_devices: 1,
        ..Quotas::default()
    };
    match s.append_entry(id, &founder, &entry(1, [100; 32], 101), &add, &one) {
        Err(AppendError::Quota(q)) => assert_eq!(q.kind, QuotaKind::Devices),
        other => panic!("expected the devices quota, got {other:?}"),
    }
    assert_eq!(s.log(id, None, 10).unwrap().entries.len(), 1);
    assert!(s.member(id, &[5; 32]).is_err());
    s.append_entry(
        id,
        &founder,
        &entry(1, [100; 32], 101),
        &add,
        &Quotas::default(),
    )
    .unwrap();
    assert!(matches!(
        s.append_entry(
            id,
            &founder,
            &entry(2, [101; 32], 102),
            &add,
            &Quotas::default()
        ),
        Err(AppendError::PeerExists)
    ));
    // The new member has a token; removing it deletes the token at once.
    s.put_challenge(id, &[5; 32], &[1; 32], 100).unwrap();
    s.issue_token(id, &[5; 32], &[1; 32], &[3; 32], 10, 1000)
        .unwrap();
    assert_eq!(s.token(&[3; 32], 10).unwrap().peer, [5; 32]);
    let remove = MemberChange::Remove {
        peer: [5; 32],
        cuts: Vec::new(),
    };
    s.append_entry(
        id,
        &founder,
        &entry(2, [101; 32], 102),
        &remove,
        &Quotas::default(),
    )
    .unwrap();
    assert!(matches!(s.token(&[3; 32], 10), Err(StorageError::NotFound)));
    assert!(s.member(id, &[5; 32]).unwrap().removed);
    // Removed peers cannot be removed again, nor re-added, nor sign.
    assert!(matches!(
        s.append_entry(
            id,
            &founder,
            &entry(3, [102; 32], 103),
            &remove,
            &Quotas::default()
        ),
        Err(AppendError::TargetNotMember)
    ));
    assert!(matches!(
        s.append_entry(
            id,
            &founder,
            &entry(3, [102; 32], 103),
            &add,
            &Quotas::default()
        ),
        Err(AppendError::PeerExists)
    ));
    assert!(matches!(
        s.append_entry(
            id,
            &[5; 32],
            &entry(3, [102; 32], 103),
            &MemberChange::None,
            &Quotas::default()
        ),
        Err(AppendError::SignerNotMember)
    ));
    // The last member cannot leave.
    assert!(matches!(
        s.append_entry(
            id,
            &founder,
            &entry(3, [102; 32], 103),
            &MemberChange::Remove {
                peer: founder,
                cuts: Vec::new(),
            },
            &Quotas::default()
        ),
        Err(AppendError::LastMember)
    ));
    // A refused append changed nothing.
    let page = s.log(id, None, 1000).unwrap();
    assert_eq!(page.head_seq, 2);
    assert_eq!(page.head_hash, [102; 32]);
    assert_eq!(page.entries.len(), 3);
    assert_eq!(s.counts().unwrap().devices, 1);
}

pub fn log_pages(b: &Backend) {
    let s = &*b.s;
    let id = circle(s);
    for seq in 1..=5u64 {
        let prev = [99 + seq as u8; 32];
        s.append_entry(
            id,
            &[9; 32],
            &entry(seq, prev, 100 + seq as u8),
            &MemberChange::None,
            &Quotas::default(),
        )
        .unwrap();
    }
    let page = s.log(id, Some(1), 2).unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(page.more);
    assert_eq!(page.head_seq, 5);
    let page = s.log(id, Some(3), 2).unwrap();
    assert_eq!(page.entries.len(), 2);
    assert!(!page.more);
    assert!(s.log(id, Some(u64::MAX), 2).unwrap().entries.is_empty());
    assert!(matches!(
        s.log(Uuid::new_v4(), None, 2),
        Err(StorageError::NotFound)
    ));
}

pub fn concurrent_appends_serialize_and_exactly_one_wins(b: &Backend) {
    let id = circle(&*b.s);
    let mut head = [100u8; 32];
    for seq in 1..=5u64 {
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                let s = b.s.clone();
                std::thread::spawn(move || {
                    let e = entry(seq, head, seq as u8 * 10 + t);
                    s.append_entry(id, &[9; 32], &e, &MemberChange::None, &Quotas::default())
                        .map(|()| e.hash)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in threads {
            match t.join().unwrap() {
                Ok(hash) => winners.push(hash),
                Err(AppendError::HeadMoved) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {seq}");
        head = winners[0];
    }
    let page = b.s.log(id, None, 10).unwrap();
    assert_eq!((page.head_seq, page.head_hash), (5, head));
}

pub fn challenges_are_single_use_and_expire(b: &Backend) {
    let s = &*b.s;
    let id = circle(s);
    let me = [9; 32];
    s.put_challenge(id, &me, &[1; 32], 100).unwrap();
    // Another peer cannot use it; a failed use still uses it up.
    assert!(matches!(
        s.issue_token(id, &[8; 32], &[1; 32], &[2; 32], 50, 500),
        Err(IssueError::Challenge)
    ));
    s.consume_challenge(id, &me, &[1; 32], 50).unwrap();
    assert!(matches!(
        s.issue_token(id, &me, &[1; 32], &[2; 32], 50, 500),
        Err(IssueError::Challenge)
    ));
    s.put_challenge(id, &me, &[4; 32], 100).unwrap();
    s.issue_token(id, &me, &[4; 32], &[2; 32], 50, 500).unwrap();
    assert!(matches!(
        s.issue_token(id, &me, &[4; 32], &[3; 32], 50, 500),
        Err(IssueError::Challenge)
    ));
    s.put_challenge(id, &me, &[5; 32], 100).unwrap();
    assert!(matches!(
        s.issue_token(id, &me, &[5; 32], &[3; 32], 100, 500),
        Err(IssueError::Challenge)
    ));
    // A non-member holding a challenge gets no token.
    s.put_challenge(id, &[8; 32], &[6; 32], 100).unwrap();
    assert!(matches!(
        s.issue_token(id, &[8; 32], &[6; 32], &[3; 32], 50, 500),
        Err(IssueError::NotMember)
    ));
    // Tokens expire.
    assert_eq!(s.token(&[2; 32], 499).unwrap().expires, 500);
    assert!(matches!(
        s.token(&[2; 32], 500),
        Err(StorageError::NotFound)
    ));
}

pub fn invites_are_claimed_once_and_relay_in_order(b: &Backend) {
    let s = &*b.s;
    let id = circle(s);
    let inv = [7; 16];
    s.create_invite(&inv, id, &[9; 32], 100).unwrap();
    assert!(matches!(
        s.create_invite(&inv, id, &[9; 32], 100),
        Err(StorageError::Conflict)
    ));
    assert!(matches!(
        s.join_invite(&[6; 16], &[1; 32], b"hi", 10),
        Err(InviteError::NotFound)
    ));
    assert_eq!(s.join_invite(&inv, &[1; 32], b"hello", 10).unwrap(), 1);
    assert!(matches!(
        s.join_invite(&inv, &[2; 32], b"again", 10),
        Err(InviteError::Gone)
    ));
    let row = s.invite(&inv, 10).unwrap();
    assert_eq!(row.relay_token_hash, Some([1; 32]));
    assert_eq!(s.post_relay(&inv, Side::Inviter, b"a", 10, 4).unwrap(), 2);
    assert_eq!(s.post_relay(&inv, Side::Joiner, b"b", 10, 4).unwrap(), 3);
    assert_eq!(s.post_relay(&inv, Side::Inviter, b"c", 10, 4).unwrap(), 4);
    assert!(matches!(
        s.post_relay(&inv, Side::Inviter, b"d", 10, 4),
        Err(InviteError::Full)
    ));
    let from_inviter = s.relay_messages(&inv, Side::Inviter, 2).unwrap();
    assert_eq!(
        from_inviter,
        vec![RelayMessage {
            seq: 4,
            message: b"c".to_vec()
        }]
    );
    assert_eq!(s.relay_messages(&inv, Side::Joiner, 0).unwrap().len(), 2);
    // Expired: gone for everything, then purged with its messages.
    assert!(matches!(s.invite(&inv, 100), Err(InviteError::Gone)));
    assert!(matches!(
        s.post_relay(&inv, Side::Joiner, b"late", 100, 9),
        Err(InviteError::Gone)
    ));
    let inv2 = [8; 16];
    s.create_invite(&inv2, id, &[9; 32], 50).unwrap();
    assert!(matches!(
        s.join_invite(&inv2, &[3; 32], b"late", 50),
        Err(InviteError::Gone)
    ));
    let purged = s.purge_expired(100).unwrap();
    assert_eq!(purged.invites, 2);
    assert!(s.relay_messages(&inv, Side::Joiner, 0).unwrap().is_empty());
    assert!(matches!(s.invite(&inv, 10), Err(InviteError::NotFound)));
}

pub fn shares_go_to_current_members_only(b: &Backend) {
    let s = &*b.s;
    let id = circle(s);
    let me = [9; 32];
    s.put_shares(id, &me, &[(me, b"one".to_vec()), (me, b"two".to_vec())], 5)
        .unwrap();
    assert!(matches!(
        s.put_shares(id, &me, &[(me, b"x".to_vec()), ([4; 32], b"y".to_vec())], 5),
        Err(ShareError::RecipientNotMember)
    ));
    assert!(matches!(
        s.put_shares(id, &[4; 32], &[(me, b"x".to_vec())], 5),
        Err(ShareError::SenderNotMember)
    ));
    let all = s.shares(id, &me, 0, 100).unwrap();
    assert_eq!(
        all.iter().map(|r| r.blob.as_slice()).collect::<Vec<_>>(),
        [b"one".as_slice(), b"two"],
        "the refused batch stored nothing"
    );
    let after = s.shares(id, &me, all[0].id, 100).unwrap();
    assert_eq!(after.len(), 1);
    assert!(s.shares(id, &[4; 32], 0, 100).unwrap().is_empty());
}

pub fn purge_deletes_only_expired_rows(b: &Backend) {
    let s = &*b.s;
    let id = circle(s);
    s.put_challenge(id, &[9; 32], &[1; 32], 10).unwrap();
    s.put_challenge(id, &[9; 32], &[2; 32], 30).unwrap();
    s.put_challenge(id, &[9; 32], &[3; 32], 30).unwrap();
    s.issue_token(id, &[9; 32], &[3; 32], &[7; 32], 5, 10)
        .unwrap();
    let p = s.purge_expired(20).unwrap();
    assert_eq!((p.challenges, p.tokens, p.invites), (1, 1, 0));
    s.issue_token(id, &[9; 32], &[2; 32], &[8; 32], 20, 40)
        .unwrap();
}
