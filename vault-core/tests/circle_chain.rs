//! Verifying the circle log: every rule, and the first failing entry named.
#![allow(clippy::unwrap_used)]

mod circle_support;

use circle_support::{Chain, with_bytes, with_signature};
use uuid::Uuid;
use vault_core::circle::{ChainError, CircleState, EntryBody, EntryHash, PeerId};
use vault_core::crypto::DeviceIdentity;

fn verify(c: &Chain) -> Result<CircleState, ChainError> {
    CircleState::verify_chain(Some(c.entries[0].hash()), &c.entries)
}

#[test]
fn a_valid_log_verifies_and_describes_the_circle() {
    let mut c = Chain::new();
    let a = c.add(0);
    let b = c.add(a);
    c.remove(b, a);
    c.new_epoch(b);
    let s = verify(&c).unwrap();
    assert_eq!(s.circle_id(), c.circle_id);
    assert_eq!(s.genesis(), c.entries[0].hash());
    assert_eq!(s.head(), (4, c.head()));
    let members: Vec<PeerId> = s.members().map(|(id, _)| *id).collect();
    assert_eq!(members.len(), 2);
    assert!(s.is_member(&c.id(0)) && s.is_member(&c.id(b)) && !s.is_member(&c.id(a)));
    let removed: Vec<PeerId> = s.removed().map(|(id, _)| *id).collect();
    assert_eq!(removed, vec![c.id(a)]);
    let mb = s.member(&c.id(b)).unwrap();
    assert_eq!((mb.added_by, mb.seq), (c.id(a), 2));
    assert_eq!(mb.keys, c.ids[b].public());
    let ra = s.peer(&c.id(a)).unwrap().removed.unwrap();
    assert_eq!((ra.by, ra.seq), (c.id(b), 3));
    assert!(s.peer(&c.id(a)).unwrap().member_at(2));
    assert!(!s.peer(&c.id(a)).unwrap().member_at(3));
    assert_eq!(s.current_epoch().epoch, 2);
    assert_eq!(s.epochs().len(), 2);
    assert_eq!(s.epoch_seq(2), Some(4));
    assert_eq!(s.epoch_seq(1), Some(0));
    assert!(s.current_epoch().matches(&c.keys[1]));
    // No expected genesis: trust on first use.
    assert!(CircleState::verify_chain(None, &c.entries).is_ok());
}

#[test]
fn an_add_peer_by_an_outsider_is_refused() {
    let mut c = Chain::new();
    c.add(0);
    let outsider = DeviceIdentity::generate(&mut c.rng);
    let victim = DeviceIdentity::generate(&mut c.rng);
    let body = c.add_body(&victim.public());
    let e = c.sign_as(&outsider, body);
    c.entries.push(e);
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::NotAMember {
            seq: 2,
            signer: outsider.peer_id()
        }
    );
}

#[test]
fn an_unsigned_or_forged_add_peer_is_refused() {
    let mut c = Chain::new();
    c.add(0);
    c.add(0);
    c.entries[2] = with_signature(&c.entries[2], &[0; 64]);
    assert_eq!(verify(&c).unwrap_err(), ChainError::BadSignature { seq: 2 });

    // Another member's valid signature over the same bytes.
    let mut c = Chain::new();
    let a = c.add(0);
    c.add(0);
    let by_a = {
        let e = c.entries[2].entry().clone();
        vault_core::circle::Entry::sign(
            vault_core::circle::Entry {
                signer: c.id(a),
                ..e
            },
            &c.ids[a],
        )
        .unwrap()
    };
    // Signed by `a` but claiming the founder as signer: bytes differ.
    let forged = with_signature(&c.entries[2], by_a.signature());
    c.entries[2] = forged;
    assert_eq!(verify(&c).unwrap_err(), ChainError::BadSignature { seq: 2 });
}

#[test]
fn a_swapped_public_key_is_refused() {
    let mut c = Chain::new();
    c.add(0);
    let attacker = DeviceIdentity::generate(&mut c.rng).public();
    let mut bytes = c.entries[1].entry_bytes().to_vec();
    // AddPeer body starts after the 98-byte head: signing 32, agreement 32.
    bytes[98..130].copy_from_slice(&attacker.signing);
    c.entries[1] = with_bytes(&c.entries[1], &bytes);
    assert_eq!(verify(&c).unwrap_err(), ChainError::BadSignature { seq: 1 });

    let mut c = Chain::new();
    c.add(0);
    let mut bytes = c.entries[1].entry_bytes().to_vec();
    bytes[130..162].copy_from_slice(&attacker.agreement);
    c.entries[1] = with_bytes(&c.entries[1], &bytes);
    assert_eq!(verify(&c).unwrap_err(), ChainError::BadSignature { seq: 1 });
}

#[test]
fn dropped_reordered_and_replayed_entries_are_refused() {
    let mut c = Chain::new();
    for _ in 0..4 {
        c.add(0);
    }
    let mut dropped = c.entries.clone();
    dropped.remove(2);
    assert_eq!(
        CircleState::verify_chain(None, &dropped).unwrap_err(),
        ChainError::Gap {
            expected: 2,
            found: 3
        }
    );
    let mut swapped = c.entries.clone();
    swapped.swap(2, 3);
    assert_eq!(
        CircleState::verify_chain(None, &swapped).unwrap_err(),
        ChainError::Gap {
            expected: 2,
            found: 3
        }
    );
    let mut replayed = c.entries.clone();
    replayed.push(c.entries[3].clone());
    assert_eq!(
        CircleState::verify_chain(None, &replayed).unwrap_err(),
        ChainError::Reordered {
            expected: 5,
            found: 3
        }
    );
    // The last entry dropped verifies: truncation is caught by comparing
    // heads with the server, not by the chain alone.
    assert!(CircleState::verify_chain(None, &c.entries[..4]).is_ok());
}

#[test]
fn a_wrong_genesis_is_refused() {
    let c = Chain::new();
    let other = Chain::new();
    assert_eq!(
        CircleState::verify_chain(Some(other.entries[0].hash()), &c.entries).unwrap_err(),
        ChainError::GenesisMismatch {
            expected: other.entries[0].hash(),
            found: c.entries[0].hash()
        }
    );
    assert_eq!(
        CircleState::verify_chain(None, &[]).unwrap_err(),
        ChainError::Empty
    );
    // A genesis later in the log.
    let c = Chain::new();
    let forged = vec![
        c.entries[0].clone(),
        c.next(0, other.entries[0].entry().body.clone()),
    ];
    assert_eq!(
        CircleState::verify_chain(None, &forged).unwrap_err(),
        ChainError::NotGenesis { seq: 1 }
    );
    // Not a genesis first.
    let mut c = Chain::new();
    c.add(0);
    assert_eq!(
        CircleState::verify_chain(None, &c.entries[1..]).unwrap_err(),
        ChainError::NotGenesis { seq: 1 }
    );
}

#[test]
fn a_genesis_must_follow_its_rules() {
    let c = Chain::new();
    let g = c.entries[0].entry().clone();
    let founder = &c.ids[0];
    let resign =
        |e: vault_core::circle::Entry| vault_core::circle::Entry::sign(e, founder).unwrap();
    let bad = |e| CircleState::verify_chain(None, &[resign(e)]).unwrap_err();
    assert!(matches!(
        bad(vault_core::circle::Entry {
            seq: 1,
            ..g.clone()
        }),
        ChainError::BadGenesis {
            reason: "seq is not 0",
            ..
        }
    ));
    assert!(matches!(
        bad(vault_core::circle::Entry {
            prev: EntryHash([1; 32]),
            ..g.clone()
        }),
        ChainError::BadGenesis { .. }
    ));
    let EntryBody::Genesis { name, .. } = &g.body else {
        unreachable!()
    };
    let other = DeviceIdentity::generate(&mut vault_core::crypto::VaultRng::new().unwrap());
    assert!(matches!(
        bad(vault_core::circle::Entry {
            body: EntryBody::Genesis {
                founder: other.public(),
                name: name.clone(),
                epochs: vec![
                    *CircleState::verify_chain(None, &c.entries)
                        .unwrap()
                        .current_epoch()
                ],
            },
            ..g.clone()
        }),
        ChainError::BadGenesis {
            reason: "the signer is not the founder",
            ..
        }
    ));
    assert!(matches!(
        bad(vault_core::circle::Entry {
            body: EntryBody::Genesis {
                founder: founder.public(),
                name: name.clone(),
                epochs: vec![],
            },
            ..g
        }),
        ChainError::BadGenesis {
            reason: "no epochs",
            ..
        }
    ));
}

#[test]
fn a_removed_peer_can_no_longer_sign() {
    let mut c = Chain::new();
    let a = c.add(0);
    c.remove(0, a);
    c.add(a);
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::NotAMember {
            seq: 3,
            signer: c.id(a)
        }
    );
}

#[test]
fn membership_rules() {
    // Re-adding a removed peer.
    let mut c = Chain::new();
    let a = c.add(0);
    c.remove(0, a);
    let keys = c.ids[a].public();
    let body = c.add_body(&keys);
    let e = c.next(0, body);
    c.entries.push(e);
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::AlreadyMember {
            seq: 3,
            peer: c.id(a)
        }
    );
    // Adding a current member.
    let mut c = Chain::new();
    let a = c.add(0);
    let keys = c.ids[a].public();
    let body = c.add_body(&keys);
    let e = c.next(0, body);
    c.entries.push(e);
    assert!(matches!(
        verify(&c).unwrap_err(),
        ChainError::AlreadyMember { seq: 2, .. }
    ));
    // Removing a stranger, and the last member.
    let mut c = Chain::new();
    let e = c.next(
        0,
        EntryBody::RemovePeer {
            peer: PeerId::from_bytes([9; 32]),
        },
    );
    c.entries.push(e);
    assert!(matches!(
        verify(&c).unwrap_err(),
        ChainError::NotMember { seq: 1, .. }
    ));
    let mut c = Chain::new();
    c.remove(0, 0);
    assert_eq!(verify(&c).unwrap_err(), ChainError::LastMember { seq: 1 });
    // A member may leave while others remain.
    let mut c = Chain::new();
    let a = c.add(0);
    c.remove(0, 0);
    let s = verify(&c).unwrap();
    assert!(s.is_member(&c.id(a)) && !s.is_member(&c.id(0)));
}

#[test]
fn epochs_advance_by_one() {
    let mut c = Chain::new();
    c.new_epoch(0);
    let mut skip = c.keys.last().unwrap().number() + 2;
    let key = vault_core::crypto::EpochKey::generate(skip, &mut c.rng);
    let e = c.next(
        0,
        EntryBody::NewEpoch(vault_core::circle::EpochCommit::of(&key)),
    );
    c.entries.push(e);
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::EpochOrder {
            seq: 2,
            current: 2,
            found: 4
        }
    );
    // A reused key uuid.
    c.entries.pop();
    skip -= 1;
    let reused = vault_core::circle::EpochCommit {
        epoch: skip,
        ..vault_core::circle::EpochCommit::of(&c.keys[0])
    };
    let e = c.next(0, EntryBody::NewEpoch(reused));
    c.entries.push(e);
    assert!(matches!(
        verify(&c).unwrap_err(),
        ChainError::EpochOrder { seq: 2, .. }
    ));
}

#[test]
fn prev_and_circle_are_bound() {
    let mut c = Chain::new();
    c.add(0);
    let mut e = c.entries[1].entry().clone();
    c.entries.pop();
    e.prev = EntryHash([7; 32]);
    c.entries
        .push(vault_core::circle::Entry::sign(e.clone(), &c.ids[0]).unwrap());
    assert_eq!(verify(&c).unwrap_err(), ChainError::PrevMismatch { seq: 1 });
    c.entries.pop();
    e.prev = c.head();
    e.circle_id = Uuid::new_v4();
    c.entries
        .push(vault_core::circle::Entry::sign(e, &c.ids[0]).unwrap());
    assert_eq!(verify(&c).unwrap_err(), ChainError::WrongCircle { seq: 1 });
}

#[test]
fn the_first_failure_in_log_order_is_reported() {
    let mut c = Chain::long(300);
    let n = c.entries.len();
    let bad150 = with_signature(&c.entries[150], &[1; 64]);
    let bad60 = with_signature(&c.entries[60], &[1; 64]);
    c.entries[150] = bad150;
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::BadSignature { seq: 150 }
    );
    c.entries[60] = bad60;
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::BadSignature { seq: 60 }
    );
    // A bad signature before a structural error wins; after one, loses.
    let mut c = Chain::long(300);
    c.entries.remove(200);
    c.entries[100] = with_signature(&c.entries[100], &[1; 64]);
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::BadSignature { seq: 100 }
    );
    let mut c = Chain::long(300);
    c.entries.remove(200);
    c.entries[250] = with_signature(&c.entries[250], &[1; 64]);
    assert_eq!(
        verify(&c).unwrap_err(),
        ChainError::Gap {
            expected: 200,
            found: 201
        }
    );
    assert!(n >= 300);
}

#[test]
fn incremental_application_matches_full_verification() {
    let c = Chain::long(120);
    let full = verify(&c).unwrap();
    let mut s = CircleState::verify_chain(None, &c.entries[..40]).unwrap();
    for e in &c.entries[40..80] {
        s.apply(e).unwrap();
    }
    s.apply_all(&c.entries[80..]).unwrap();
    assert_eq!(s.head(), full.head());
    assert_eq!(s.members().count(), full.members().count());
    assert_eq!(s.epochs(), full.epochs());
    // A failed batch leaves the state as it was.
    let mut s = CircleState::verify_chain(None, &c.entries[..40]).unwrap();
    let before = s.head();
    let mut batch = c.entries[40..60].to_vec();
    batch[15] = with_signature(&batch[15], &[1; 64]);
    assert_eq!(
        s.apply_all(&batch).unwrap_err(),
        ChainError::BadSignature { seq: 55 }
    );
    assert_eq!(s.head(), before);
    assert_eq!(
        s.apply(&c.entries[39]).unwrap_err(),
        ChainError::Reordered {
            expected: 40,
            found: 39
        }
    );
}

#[test]
fn a_weak_key_in_an_add_peer_is_refused_in_log_order() {
    let mut small_order = [0u8; 32];
    small_order[0] = 1;
    let weak = vault_core::circle::PeerKeys {
        signing: small_order,
        agreement: [9; 32],
    };
    for prefix in [1usize, 100] {
        let mut c = Chain::long(prefix);
        let body = c.add_body(&weak);
        let e = c.next(0, body);
        c.entries.push(e);
        let weak_seq = (c.entries.len() - 1) as u64;
        for _ in 0..60 {
            c.add(0);
        }
        assert_eq!(
            verify(&c).unwrap_err(),
            ChainError::WeakKey { seq: weak_seq }
        );
        // A bad signature before it is reported first; one after it is not.
        let late = c.entries.len() - 5;
        c.entries[late] = with_signature(&c.entries[late], &[1; 64]);
        assert_eq!(
            verify(&c).unwrap_err(),
            ChainError::WeakKey { seq: weak_seq }
        );
        if weak_seq > 1 {
            let early = weak_seq as usize - 1;
            c.entries[early] = with_signature(&c.entries[early], &[1; 64]);
            assert_eq!(
                verify(&c).unwrap_err(),
                ChainError::BadSignature { seq: early as u64 }
            );
        }
    }
    let mut c = Chain::new();
    let zero = vault_core::circle::PeerKeys {
        signing: DeviceIdentity::generate(&mut c.rng).public().signing,
        agreement: [0; 32],
    };
    let body = c.add_body(&zero);
    let e = c.next(0, body);
    c.entries.push(e);
    assert_eq!(verify(&c).unwrap_err(), ChainError::WeakKey { seq: 1 });
}
