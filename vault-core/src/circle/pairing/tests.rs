//! Tests of the pairing state machines.

use super::*;

/// A proof that decrypts but is signed by another key than the one
/// the joiner's hello announced, or over another challenge.
#[test]
fn a_proof_signed_by_another_key_is_bad_proof() {
    let mut rng = VaultRng::new().unwrap();
    let a = DeviceIdentity::generate(&mut rng);
    let b = DeviceIdentity::generate(&mut rng);
    let mallory = DeviceIdentity::generate(&mut rng);
    for wrong_key in [true, false] {
        let code = InviteSecret::generate(&mut rng).code("u", None);
        let secret = || InviteSecret::parse_code(&code).unwrap().secret;
        let inv = InviterAwaitingJoin::new(secret(), Uuid::nil(), EntryHash::ZERO, a.public());
        let (join, m1) = JoinerAwaitingHello::start(&secret(), &b, &mut rng);
        let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
        let eph_i: [u8; 32] = array(&m2, 114);
        let shared = agree(&join.eph, &eph_i).unwrap();
        let mut session = Session::derive(Role::Joiner, &join.mac, &shared, &join.m1, &m2);
        let challenge: [u8; 32] = if wrong_key { array(&m2, 146) } else { [0; 32] };
        let signer = if wrong_key { &mallory } else { &b };
        let sig = signer.sign(Namespace::PairProof, &[&session.th, &challenge]);
        let mut plain = sig.to_vec();
        plain.push(1);
        plain.push(b'm');
        let m3 = session
            .seal(&[JOIN_PROOF, PAIRING_VERSION], &plain)
            .unwrap();
        assert_eq!(inv.receive_proof(&m3).unwrap_err(), PairingError::BadProof);
    }
}

/// Each reason reads back as itself; a code this version does not know
/// (a newer joiner's) reads as `Failed`, never as an error.
#[test]
fn rejection_codes_round_trip_and_unknown_ones_read_as_failed() {
    for why in [
        Rejection::Welcome,
        Rejection::Log,
        Rejection::Anchor,
        Rejection::Failed,
        Rejection::Late,
    ] {
        assert_eq!(Rejection::from_code(why.code()), why);
    }
    assert_eq!(
        [1, 2, 3, 4, 5].map(Rejection::from_code),
        [
            Rejection::Welcome,
            Rejection::Log,
            Rejection::Anchor,
            Rejection::Failed,
            Rejection::Late
        ]
    );
    assert_eq!(Rejection::from_code(0), Rejection::Failed);
    assert_eq!(Rejection::from_code(200), Rejection::Failed);
}
