//! Key shares: sealed to one member, signed by another, checked against the chain.
#![allow(clippy::unwrap_used)]

mod circle_support;

use circle_support::Chain;
use uuid::Uuid;
use vault_core::circle::{CircleState, EpochCommit, KeyShare, ShareError};
use vault_core::crypto::{DeviceIdentity, EpochKey, VaultRng};

fn same(a: &EpochKey, b: &EpochKey) -> bool {
    EpochCommit::of(a) == EpochCommit::of(b)
}

#[test]
fn seal_and_open_round_trip() {
    let mut rng = VaultRng::new().unwrap();
    let alice = DeviceIdentity::generate(&mut rng);
    let bob = DeviceIdentity::generate(&mut rng);
    let k1 = EpochKey::generate(1, &mut rng);
    let k2 = EpochKey::generate(2, &mut rng);
    let circle = Uuid::new_v4();
    let share = KeyShare::seal(&alice, &bob.public(), circle, &[&k1, &k2], &mut rng).unwrap();
    assert_eq!(share.circle_id(), circle);
    assert_eq!(share.sender(), alice.peer_id());
    assert_eq!(share.recipient(), bob.peer_id());
    let wire = share.to_bytes();
    assert_eq!(wire.len(), 113 + 12 + 2 + 2 * 52 + 16 + 64);
    let back = KeyShare::from_bytes(&wire).unwrap();
    let keys = back.open(&bob, &alice.public()).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(same(&keys[0], &k1) && same(&keys[1], &k2));
    let shown = format!("{share:?}");
    assert!(!shown.contains("key:"), "{shown}");
}

#[test]
fn wrong_recipient_sender_signature_and_ciphertext_are_refused() {
    let mut rng = VaultRng::new().unwrap();
    let alice = DeviceIdentity::generate(&mut rng);
    let bob = DeviceIdentity::generate(&mut rng);
    let eve = DeviceIdentity::generate(&mut rng);
    let k = EpochKey::generate(1, &mut rng);
    let share = KeyShare::seal(&alice, &bob.public(), Uuid::new_v4(), &[&k], &mut rng).unwrap();

    assert_eq!(
        share.open(&eve, &alice.public()).unwrap_err(),
        ShareError::WrongRecipient
    );
    assert_eq!(
        share.open(&bob, &eve.public()).unwrap_err(),
        ShareError::WrongSender
    );
    // Eve re-signs Alice's share claiming to be Alice: the signature fails.
    let mut forged = share.to_bytes();
    let n = forged.len();
    forged[n - 1] ^= 1;
    let forged = KeyShare::from_bytes(&forged).unwrap();
    assert_eq!(
        forged.open(&bob, &alice.public()).unwrap_err(),
        ShareError::BadSignature
    );
    // Eve's own share, sealed to Bob with her keys, is not Alice's.
    let evil = KeyShare::seal(&eve, &bob.public(), Uuid::new_v4(), &[&k], &mut rng).unwrap();
    assert_eq!(
        evil.open(&bob, &alice.public()).unwrap_err(),
        ShareError::WrongSender
    );
    // Every byte before the signature is signed.
    let wire = share.to_bytes();
    for i in (0..wire.len() - 64).step_by(5) {
        let mut b = wire.clone();
        b[i] ^= 0x20;
        let r = KeyShare::from_bytes(&b).and_then(|s| s.open(&bob, &alice.public()));
        assert!(r.is_err(), "byte {i}");
    }
    // Malformed lengths and versions.
    assert_eq!(
        KeyShare::from_bytes(&wire[..100]).unwrap_err(),
        ShareError::Malformed
    );
    assert_eq!(
        KeyShare::from_bytes(&wire[..wire.len() - 1]).unwrap_err(),
        ShareError::Malformed
    );
    let mut v = wire.clone();
    v[0] = 2;
    assert_eq!(
        KeyShare::from_bytes(&v).unwrap_err(),
        ShareError::UnknownVersion(2)
    );
    assert_eq!(
        KeyShare::seal(&alice, &bob.public(), Uuid::nil(), &[], &mut rng).unwrap_err(),
        ShareError::EpochCount(0)
    );
}

#[test]
fn a_tampered_ciphertext_signed_by_the_sender_does_not_decrypt() {
    // The sender's signature is valid but the AEAD still refuses: the
    // ciphertext is bound to the header and the recipient's agreement.
    let mut rng = VaultRng::new().unwrap();
    let alice = DeviceIdentity::generate(&mut rng);
    let bob = DeviceIdentity::generate(&mut rng);
    let k = EpochKey::generate(1, &mut rng);
    let share = KeyShare::seal(&alice, &bob.public(), Uuid::new_v4(), &[&k], &mut rng).unwrap();
    // Re-sealed to Carol and then re-addressed to Bob by the sender: the
    // one-time key is Carol's, so Bob cannot decrypt.
    let carol = DeviceIdentity::generate(&mut rng);
    let to_carol =
        KeyShare::seal(&alice, &carol.public(), share.circle_id(), &[&k], &mut rng).unwrap();
    assert!(to_carol.open(&bob, &alice.public()).is_err());
    assert!(to_carol.open(&carol, &alice.public()).is_ok());
}

#[test]
fn shares_are_checked_against_the_chain() {
    let mut c = Chain::new();
    let bob_i = c.add(0);
    let eve_i = c.add(0);
    c.remove(0, eve_i);
    c.new_epoch(0);
    let state = CircleState::verify_chain(None, &c.entries).unwrap();
    let (alice, bob, eve) = (&c.ids[0], &c.ids[bob_i], &c.ids[eve_i]);
    let mut rng = VaultRng::new().unwrap();

    let good = KeyShare::seal(
        alice,
        &bob.public(),
        c.circle_id,
        &[&c.keys[0], &c.keys[1]],
        &mut rng,
    )
    .unwrap();
    let keys = good.open_verified(bob, &state).unwrap();
    assert_eq!(keys.len(), 2);

    // A key that is not the committed one.
    let fake = EpochKey::generate(2, &mut rng);
    let bad = KeyShare::seal(alice, &bob.public(), c.circle_id, &[&fake], &mut rng).unwrap();
    assert_eq!(
        bad.open_verified(bob, &state).unwrap_err(),
        ShareError::CommitMismatch(2)
    );
    // An epoch the chain does not name.
    let later = EpochKey::generate(3, &mut rng);
    let bad = KeyShare::seal(alice, &bob.public(), c.circle_id, &[&later], &mut rng).unwrap();
    assert_eq!(
        bad.open_verified(bob, &state).unwrap_err(),
        ShareError::UnknownEpoch(3)
    );
    // The removed peer cannot hand out the epoch that began after its removal.
    let bad = KeyShare::seal(eve, &bob.public(), c.circle_id, &[&c.keys[1]], &mut rng).unwrap();
    assert_eq!(
        bad.open_verified(bob, &state).unwrap_err(),
        ShareError::SenderNotMember(eve.peer_id())
    );
    // A stranger, and another circle.
    let stranger = DeviceIdentity::generate(&mut rng);
    let bad = KeyShare::seal(
        &stranger,
        &bob.public(),
        c.circle_id,
        &[&c.keys[0]],
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        bad.open_verified(bob, &state).unwrap_err(),
        ShareError::SenderNotMember(stranger.peer_id())
    );
    let bad = KeyShare::seal(
        alice,
        &bob.public(),
        Uuid::new_v4(),
        &[&c.keys[0]],
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        bad.open_verified(bob, &state).unwrap_err(),
        ShareError::WrongCircle
    );
}
