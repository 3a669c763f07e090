//! Circle log entries on the wire: pinned bytes, round trips, strict
//! decoding, signatures and server authentication.
#![allow(clippy::unwrap_used)]

use uuid::Uuid;
use vault_core::circle::{
    Entry, EntryBody, EntryError, EntryHash, EpochCommit, PeerId, PeerKeys, SEALED_NAME_LEN,
    SealedName, SignedEntry, ZoneCut, auth_payload, verify_auth,
};
use vault_core::crypto::{DeviceIdentity, EpochKey, VaultRng};

/// RFC 8032 test 1's public key: a valid, not weak, Ed25519 point.
const RFC8032_PK: [u8; 32] = [
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

fn fixed_keys() -> PeerKeys {
    PeerKeys {
        signing: RFC8032_PK,
        agreement: [0x09; 32],
    }
}

fn fixed_name() -> SealedName {
    SealedName::from_parts(3, vec![1; SEALED_NAME_LEN]).unwrap()
}

fn head(kind: u8) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend_from_slice(&[0xc1; 16]);
    b.extend_from_slice(&5u64.to_be_bytes());
    b.extend_from_slice(&[0xaa; 32]);
    b.extend_from_slice(&[0xbb; 32]);
    b.extend_from_slice(&1_700_000_000i64.to_be_bytes());
    b.push(kind);
    b
}

fn entry(body: EntryBody) -> Entry {
    Entry {
        circle_id: Uuid::from_bytes([0xc1; 16]),
        seq: 5,
        prev: EntryHash([0xaa; 32]),
        signer: PeerId::from_bytes([0xbb; 32]),
        time: 1_700_000_000,
        body,
    }
}

fn name_bytes() -> Vec<u8> {
    let mut b = 3u32.to_be_bytes().to_vec();
    b.extend_from_slice(&94u16.to_be_bytes());
    b.extend_from_slice(&[1; 94]);
    b
}

#[test]
fn entry_layouts_are_pinned() {
    let commit = EpochCommit {
        epoch: 7,
        key_uuid: Uuid::from_bytes([0x11; 16]),
        commit: [0x22; 32],
    };
    let mut commit_bytes = 7u32.to_be_bytes().to_vec();
    commit_bytes.extend_from_slice(&[0x11; 16]);
    commit_bytes.extend_from_slice(&[0x22; 32]);

    let mut want = head(1);
    want.extend_from_slice(&RFC8032_PK);
    want.extend_from_slice(&[9; 32]);
    want.extend_from_slice(&name_bytes());
    want.extend_from_slice(&[0, 1]);
    want.extend_from_slice(&commit_bytes);
    let genesis = entry(EntryBody::Genesis {
        founder: fixed_keys(),
        name: fixed_name(),
        epochs: vec![commit],
    });
    assert_eq!(genesis.to_bytes().unwrap(), want);
    assert_eq!(want.len(), 98 + 64 + 100 + 2 + 52);

    let mut want = head(2);
    want.extend_from_slice(&RFC8032_PK);
    want.extend_from_slice(&[9; 32]);
    want.extend_from_slice(&name_bytes());
    let add = entry(EntryBody::AddPeer {
        peer: fixed_keys(),
        name: fixed_name(),
    });
    assert_eq!(add.to_bytes().unwrap(), want);

    let mut want = head(3);
    want.extend_from_slice(&[0xdd; 32]);
    let remove = entry(EntryBody::RemovePeer {
        peer: PeerId::from_bytes([0xdd; 32]),
    });
    assert_eq!(remove.to_bytes().unwrap(), want);

    let mut want = head(4);
    want.extend_from_slice(&commit_bytes);
    let epoch = entry(EntryBody::NewEpoch(commit));
    assert_eq!(epoch.to_bytes().unwrap(), want);

    let cut = ZoneCut {
        zone: "keychain".into(),
        token_epoch: 2,
        token_seq: 40,
        root: [0x33; 32],
        list_hash: [0x44; 32],
        count: 3,
    };
    let mut want = head(5);
    want.extend_from_slice(&[0xdd; 32]);
    want.extend_from_slice(&commit_bytes);
    want.push(1);
    want.push(8);
    want.extend_from_slice(b"keychain");
    want.extend_from_slice(&2u32.to_be_bytes());
    want.extend_from_slice(&40u64.to_be_bytes());
    want.extend_from_slice(&[0x33; 32]);
    want.extend_from_slice(&[0x44; 32]);
    want.extend_from_slice(&3u32.to_be_bytes());
    let removal = entry(EntryBody::Removal {
        peer: PeerId::from_bytes([0xdd; 32]),
        epoch: commit,
        cuts: vec![cut.clone()],
    });
    assert_eq!(removal.to_bytes().unwrap(), want);
    // One cut per zone.
    let twice = entry(EntryBody::Removal {
        peer: PeerId::from_bytes([0xdd; 32]),
        epoch: commit,
        cuts: vec![cut.clone(), cut],
    });
    assert!(matches!(twice.to_bytes(), Err(EntryError::BadCut(_))));
    let mut dup = want.clone();
    let n_at = 98 + 32 + 52;
    dup[n_at] = 2;
    dup.extend_from_slice(&want[n_at + 1..]);
    assert!(matches!(Entry::decode(&dup), Err(EntryError::BadCut(_))));

    for e in [genesis, add, remove, epoch, removal] {
        assert_eq!(Entry::decode(&e.to_bytes().unwrap()).unwrap(), e);
    }
}

#[test]
fn signature_and_hash_are_pinned_to_their_labels() {
    let mut rng = VaultRng::new().unwrap();
    let id = DeviceIdentity::generate(&mut rng);
    let e = Entry {
        signer: id.peer_id(),
        ..entry(EntryBody::RemovePeer {
            peer: PeerId::from_bytes([0xdd; 32]),
        })
    };
    let signed = vault_core::circle::Entry::sign(e, &id).unwrap();
    signed.verify_signature(&id.public()).unwrap();
    let mut h = sha2_of(&[
        b"vault.v1.circle-hash",
        signed.entry_bytes(),
        signed.signature(),
    ]);
    assert_eq!(signed.hash(), EntryHash(h));
    h[0] ^= 1;
    assert_ne!(signed.hash(), EntryHash(h));
    let back = SignedEntry::decode(signed.entry_bytes(), signed.signature()).unwrap();
    assert_eq!(back.entry(), signed.entry());
    assert_eq!(back.hash(), signed.hash());
}

fn sha2_of(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut d = sha2::Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

fn signed_add(rng: &mut VaultRng, id: &DeviceIdentity) -> SignedEntry {
    let key = EpochKey::generate(1, rng);
    let peer = DeviceIdentity::generate(rng);
    let name = SealedName::seal(&key, Uuid::nil(), &peer.peer_id(), "phone", rng).unwrap();
    vault_core::circle::Entry::sign(
        Entry {
            signer: id.peer_id(),
            ..entry(EntryBody::AddPeer {
                peer: peer.public(),
                name,
            })
        },
        id,
    )
    .unwrap()
}

#[test]
fn every_malformation_is_typed() {
    let mut rng = VaultRng::new().unwrap();
    let id = DeviceIdentity::generate(&mut rng);
    let s = signed_add(&mut rng, &id);
    let good = s.entry_bytes().to_vec();
    let sig = s.signature().to_vec();
    let dec = |b: &[u8]| SignedEntry::decode(b, &sig).map(|_| ());

    assert_eq!(dec(&good), Ok(()));
    for cut in [0, 1, 50, 97, 98, 150, good.len() - 1] {
        assert_eq!(dec(&good[..cut]), Err(EntryError::Truncated), "cut {cut}");
    }
    let mut b = good.clone();
    b.push(0);
    assert_eq!(dec(&b), Err(EntryError::TrailingBytes));
    let mut b = good.clone();
    b[0] = 2;
    assert_eq!(dec(&b), Err(EntryError::UnknownVersion(2)));
    for kind in [0u8, 6, 255] {
        let mut b = good.clone();
        b[97] = kind;
        assert_eq!(dec(&b), Err(EntryError::UnknownKind(kind)));
    }
    // Name length field (after signing 32 + agreement 32 + epoch 4).
    let at = 98 + 64 + 4;
    let mut b = good.clone();
    b[at + 1] = 93;
    assert_eq!(dec(&b), Err(EntryError::NameLength(93)));
    // Sealed blob version.
    let mut b = good.clone();
    b[at + 2] = 9;
    assert_eq!(dec(&b), Err(EntryError::UnknownVersion(9)));
    // Weak Ed25519 key: the identity point (small order).
    let mut b = good.clone();
    b[98..130].copy_from_slice(&{
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    });
    assert_eq!(dec(&b), Err(EntryError::WeakKey));
    // An Ed25519 encoding that is not a point.
    let mut b = good.clone();
    b[98..130].copy_from_slice(&[0xff; 32]);
    assert_eq!(dec(&b), Err(EntryError::WeakKey));
    // All-zero X25519 key.
    let mut b = good.clone();
    b[130..162].copy_from_slice(&[0; 32]);
    assert_eq!(dec(&b), Err(EntryError::WeakKey));
    // Signature length.
    assert_eq!(
        SignedEntry::decode(&good, &sig[..63]).map(|_| ()),
        Err(EntryError::SignatureLength(63))
    );

    // Every byte of the entry is covered by the signature.
    let signer = id.public();
    for i in (0..good.len()).step_by(7) {
        let mut b = good.clone();
        b[i] ^= 0x01;
        if let Ok(e) = SignedEntry::decode(&b, &sig) {
            let r = e.verify_signature(&signer);
            assert!(
                matches!(
                    r,
                    Err(EntryError::BadSignature | EntryError::SignerMismatch)
                ),
                "byte {i}: {r:?}"
            );
        }
    }
    let mut bad_sig = sig.clone();
    bad_sig[10] ^= 1;
    let e = SignedEntry::decode(&good, &bad_sig).unwrap();
    assert_eq!(e.verify_signature(&signer), Err(EntryError::BadSignature));
    let other = DeviceIdentity::generate(&mut rng).public();
    assert_eq!(s.verify_signature(&other), Err(EntryError::SignerMismatch));
}

#[test]
fn genesis_epoch_list_is_bounded() {
    let mut b = head(1);
    b.extend_from_slice(&RFC8032_PK);
    b.extend_from_slice(&[9; 32]);
    b.extend_from_slice(&name_bytes());
    b.extend_from_slice(&513u16.to_be_bytes());
    assert_eq!(Entry::decode(&b), Err(EntryError::TooManyEpochs(513)));
    let too_many = entry(EntryBody::Genesis {
        founder: fixed_keys(),
        name: fixed_name(),
        epochs: vec![
            EpochCommit {
                epoch: 1,
                key_uuid: Uuid::nil(),
                commit: [0; 32]
            };
            513
        ],
    });
    assert_eq!(too_many.to_bytes(), Err(EntryError::TooManyEpochs(513)));
}

#[test]
fn sign_entry_refuses_another_signer() {
    let mut rng = VaultRng::new().unwrap();
    let id = DeviceIdentity::generate(&mut rng);
    let e = entry(EntryBody::RemovePeer {
        peer: PeerId::from_bytes([1; 32]),
    });
    assert_eq!(
        vault_core::circle::Entry::sign(e, &id).err(),
        Some(EntryError::SignerMismatch)
    );
}

#[test]
fn sealed_names_bind_circle_peer_and_epoch() {
    let mut rng = VaultRng::new().unwrap();
    let k1 = EpochKey::generate(1, &mut rng);
    let k2 = EpochKey::generate(2, &mut rng);
    let c = Uuid::new_v4();
    let p = PeerId::from_bytes([3; 32]);
    let n = SealedName::seal(&k1, c, &p, "Ålice's laptop", &mut rng).unwrap();
    assert_eq!(n.blob().len(), SEALED_NAME_LEN);
    let short = SealedName::seal(&k1, c, &p, "x", &mut rng).unwrap();
    assert_eq!(short.blob().len(), n.blob().len(), "length hides the name");
    assert_eq!(n.open(&k1, c, &p).unwrap(), "Ålice's laptop");
    use vault_core::circle::NameError;
    assert_eq!(
        n.open(&k2, c, &p),
        Err(NameError::WrongEpoch {
            sealed: 1,
            given: 2
        })
    );
    assert_eq!(n.open(&k1, Uuid::new_v4(), &p), Err(NameError::Decrypt));
    assert_eq!(
        n.open(&k1, c, &PeerId::from_bytes([4; 32])),
        Err(NameError::Decrypt)
    );
    let k1_again = EpochKey::generate(1, &mut rng);
    assert_eq!(n.open(&k1_again, c, &p), Err(NameError::Decrypt));
    assert_eq!(
        SealedName::seal(&k1, c, &p, &"x".repeat(65), &mut rng).err(),
        Some(NameError::TooLong(65))
    );
    assert!(SealedName::seal(&k1, c, &p, &"x".repeat(64), &mut rng).is_ok());
}

#[test]
fn epoch_commit_names_one_key() {
    let mut rng = VaultRng::new().unwrap();
    let k = EpochKey::generate(4, &mut rng);
    let c = EpochCommit::of(&k);
    assert!(c.matches(&k));
    assert!(!c.matches(&EpochKey::generate(4, &mut rng)));
    assert!(!EpochCommit { epoch: 5, ..c }.matches(&k));
}

#[test]
fn auth_payload_is_pinned_and_verified_strictly() {
    let mut rng = VaultRng::new().unwrap();
    let id = DeviceIdentity::generate(&mut rng);
    let circle = Uuid::from_bytes([5; 16]);
    let challenge = [6u8; 32];
    let mut want = b"vault.v1.server-auth".to_vec();
    want.extend_from_slice(&[5; 16]);
    want.extend_from_slice(id.peer_id().as_bytes());
    want.extend_from_slice(&[6; 32]);
    assert_eq!(auth_payload(circle, &id.peer_id(), &challenge), want);

    let sig = vault_core::circle::sign_auth(&id, circle, &challenge);
    let keys = id.public();
    let me = id.peer_id();
    assert_eq!(verify_auth(&keys, circle, &me, &challenge, &sig), Ok(()));
    assert_eq!(
        verify_auth(&keys, circle, &me, &[7; 32], &sig),
        Err(EntryError::BadSignature)
    );
    assert_eq!(
        verify_auth(&keys, Uuid::nil(), &me, &challenge, &sig),
        Err(EntryError::BadSignature)
    );
    assert_eq!(
        verify_auth(
            &keys,
            circle,
            &PeerId::from_bytes([0; 32]),
            &challenge,
            &sig
        ),
        Err(EntryError::SignerMismatch)
    );
    assert_eq!(
        verify_auth(&keys, circle, &me, &challenge, &sig[..10]),
        Err(EntryError::SignatureLength(10))
    );
    // A malleated signature (S + L) is refused: verification is strict.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut m = sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(m[32 + i]) + u16::from(L[i]) + carry;
        m[32 + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(
        verify_auth(&keys, circle, &me, &challenge, &m),
        Err(EntryError::BadSignature)
    );
}
