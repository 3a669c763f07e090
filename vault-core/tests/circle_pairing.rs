//! Pairing between two identities: equal SAS, directional keys, and every
//! tampering or replay refused.
#![allow(clippy::unwrap_used)]

use uuid::Uuid;
use vault_core::circle::pairing::{
    InviteSecret, InviterAwaitingJoin, InviterVerified, JoinerAwaitingHello, JoinerAwaitingWelcome,
    PairingError,
};
use vault_core::circle::{EntryHash, KeyShare};
use vault_core::crypto::{DeviceIdentity, EpochKey, VaultRng};

struct Run {
    m1: Vec<u8>,
    m2: Vec<u8>,
    m3: Vec<u8>,
    m4: Vec<u8>,
}

/// A whole pairing; returns the messages and checks both ends agree.
fn pair(secret_code: &str, inviter: &DeviceIdentity, joiner: &DeviceIdentity) -> Run {
    let mut rng = VaultRng::new().unwrap();
    let circle = Uuid::from_bytes([4; 16]);
    let genesis = EntryHash([5; 32]);
    let s_inv = InviteSecret::parse_code(secret_code).unwrap().secret;
    let s_join = InviteSecret::parse_code(secret_code).unwrap().secret;
    let inv = InviterAwaitingJoin::new(s_inv, circle, genesis, inviter.public());
    let (join, m1) = JoinerAwaitingHello::start(&s_join, joiner, &mut rng);
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    let (join, m3) = join.receive_hello(&m2, joiner, "Bob's phone").unwrap();
    assert_eq!(join.sas(), inv.sas());
    assert_eq!(join.circle_id(), circle);
    assert_eq!(join.genesis(), genesis);
    assert_eq!(join.inviter(), &inviter.public());
    // Directional keys: A's send key is B's receive key, never A's receive key.
    assert_eq!(inv.send_key_fingerprint(), join.recv_key_fingerprint());
    assert_eq!(inv.recv_key_fingerprint(), join.send_key_fingerprint());
    assert_ne!(inv.send_key_fingerprint(), inv.recv_key_fingerprint());
    assert_eq!(inv.send_key_fingerprint().len(), 16);
    let (inv_send, inv_recv) = (inv.send_key_fingerprint(), inv.recv_key_fingerprint());
    let (inv, req) = inv.receive_proof(&m3).unwrap();
    assert_eq!(inv.send_key_fingerprint(), inv_send);
    assert_eq!(req.keys, joiner.public());
    assert_eq!(req.peer_id, joiner.peer_id());
    assert_eq!(req.name, "Bob's phone");
    assert_eq!(req.sas, join.sas());
    let sas = req.sas.to_string();
    assert_eq!(sas.len(), 11);
    assert_eq!(&sas[3..4], "-");
    let key = EpochKey::generate(1, &mut rng);
    let share = KeyShare::seal(inviter, &req.keys, circle, &[&key], &mut rng).unwrap();
    let add = EntryHash([6; 32]);
    let m4 = inv.welcome(&share, add).unwrap();
    let w = join.receive_welcome(&m4).unwrap();
    assert_eq!(w.share, share);
    assert_eq!(w.add_peer, add);
    assert_eq!((w.circle_id, w.genesis), (circle, genesis));
    assert_eq!(w.inviter, inviter.peer_id());
    assert_eq!(w.inviter_keys, inviter.public());
    assert_eq!(w.sas, req.sas);
    assert_eq!(w.recv_key_fingerprint, inv_send);
    assert_eq!(w.send_key_fingerprint, inv_recv);
    assert_eq!(w.share.open(joiner, &w.inviter_keys).unwrap().len(), 1);
    Run { m1, m2, m3, m4 }
}

fn ids() -> (DeviceIdentity, DeviceIdentity, VaultRng) {
    let mut rng = VaultRng::new().unwrap();
    let a = DeviceIdentity::generate(&mut rng);
    let b = DeviceIdentity::generate(&mut rng);
    (a, b, rng)
}

#[test]
fn a_full_pairing_agrees_on_sas_and_directional_keys() {
    let (a, b, mut rng) = ids();
    let code = InviteSecret::generate(&mut rng).code("https://sync.example", None);
    let run = pair(&code, &a, &b);
    assert_eq!(run.m1[0..2], [1, 1]);
    assert_eq!(run.m2[0..2], [2, 1]);
    assert_eq!(run.m3[0..2], [3, 1]);
    assert_eq!(run.m4[0..2], [4, 1]);
    assert_eq!(run.m1.len(), 178);
    assert_eq!(run.m2.len(), 210);
}

#[test]
fn a_wrong_invite_secret_is_refused() {
    let (a, b, mut rng) = ids();
    let right = InviteSecret::generate(&mut rng);
    let wrong = InviteSecret::generate(&mut rng);
    let inv = InviterAwaitingJoin::new(right, Uuid::nil(), EntryHash::ZERO, a.public());
    let (_, m1) = JoinerAwaitingHello::start(&wrong, &b, &mut rng);
    assert_eq!(
        inv.receive_hello(&m1, &mut rng).unwrap_err(),
        PairingError::BadInviteProof
    );
    // And the joiner refuses an inviter who does not know its secret.
    let code = InviteSecret::generate(&mut rng).code("u", None);
    let s1 = InviteSecret::parse_code(&code).unwrap().secret;
    let s1b = InviteSecret::parse_code(&code).unwrap().secret;
    let other = InviteSecret::generate(&mut rng);
    let (join, m1) = JoinerAwaitingHello::start(&s1, &b, &mut rng);
    // A server that relays to an inviter with another secret (a MITM).
    let mitm = InviterAwaitingJoin::new(other, Uuid::nil(), EntryHash::ZERO, a.public());
    assert!(mitm.receive_hello(&m1, &mut rng).is_err());
    // Forge an inviter hello by re-MACing under the wrong key: refused.
    let inv = InviterAwaitingJoin::new(s1b, Uuid::nil(), EntryHash::ZERO, a.public());
    let (_, mut m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    m2[10] ^= 1; // the circle id, altered in transit
    assert_eq!(
        join.receive_hello(&m2, &b, "b").unwrap_err(),
        PairingError::BadInviteProof
    );
}

#[test]
fn replayed_messages_from_an_earlier_pairing_are_refused() {
    let (a, b, mut rng) = ids();
    let code = InviteSecret::generate(&mut rng).code("https://s", None);
    let old = pair(&code, &a, &b);

    // A new session with the same secret: old m3 and m4 do not open.
    let s_inv = InviteSecret::parse_code(&code).unwrap().secret;
    let s_join = InviteSecret::parse_code(&code).unwrap().secret;
    let inv = InviterAwaitingJoin::new(s_inv, Uuid::nil(), EntryHash::ZERO, a.public());
    let (join, m1) = JoinerAwaitingHello::start(&s_join, &b, &mut rng);
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    // The old inviter hello answers another joiner hello: its MAC covers m1.
    let (join_again, _) = JoinerAwaitingHello::start(&s_join, &b, &mut rng);
    assert_eq!(
        join_again.receive_hello(&old.m2, &b, "b").unwrap_err(),
        PairingError::BadInviteProof
    );
    let (join, _m3) = join.receive_hello(&m2, &b, "b").unwrap();
    assert_eq!(
        inv.receive_proof(&old.m3).unwrap_err(),
        PairingError::Decrypt
    );
    assert_eq!(
        join.receive_welcome(&old.m4).unwrap_err(),
        PairingError::Decrypt
    );

    // A new session with another secret: the old hello's MAC fails.
    let fresh = InviteSecret::generate(&mut rng);
    let inv = InviterAwaitingJoin::new(fresh, Uuid::nil(), EntryHash::ZERO, a.public());
    assert_eq!(
        inv.receive_hello(&old.m1, &mut rng).unwrap_err(),
        PairingError::BadInviteProof
    );
}

#[test]
fn a_proof_by_another_key_or_out_of_order_messages_are_refused() {
    let (a, b, mut rng) = ids();
    let mallory = DeviceIdentity::generate(&mut rng);
    let code = InviteSecret::generate(&mut rng).code("u", None);
    let s_inv = InviteSecret::parse_code(&code).unwrap().secret;
    let s_join = InviteSecret::parse_code(&code).unwrap().secret;
    let inv = InviterAwaitingJoin::new(s_inv, Uuid::nil(), EntryHash::ZERO, a.public());
    let (join, m1) = JoinerAwaitingHello::start(&s_join, &b, &mut rng);
    assert_eq!(
        inv.receive_hello(&m1[..100], &mut rng).unwrap_err(),
        PairingError::Malformed("join hello length")
    );
    let inv = InviterAwaitingJoin::new(
        InviteSecret::parse_code(&code).unwrap().secret,
        Uuid::nil(),
        EntryHash::ZERO,
        a.public(),
    );
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    // The joiner must answer with the identity it announced.
    let (join2, _) = JoinerAwaitingHello::start(&s_join, &b, &mut rng);
    assert_eq!(
        join2.receive_hello(&m2, &mallory, "m").unwrap_err(),
        PairingError::IdentityMismatch
    );
    assert_eq!(
        join.receive_hello(&m1, &b, "b").unwrap_err(),
        PairingError::UnexpectedMessage {
            expected: 2,
            found: 1
        }
    );
    let _ = inv;
}

#[test]
fn a_tampered_proof_does_not_decrypt() {
    // A proof signed by the wrong key is `BadProof`: see the unit test in
    // `circle::pairing`, which can forge a proof under the session key.
    let (a, b, mut rng) = ids();
    let code = InviteSecret::generate(&mut rng).code("u", None);
    let secret = || InviteSecret::parse_code(&code).unwrap().secret;
    let inv1 = InviterAwaitingJoin::new(secret(), Uuid::nil(), EntryHash::ZERO, a.public());
    let (join1, m1) = JoinerAwaitingHello::start(&secret(), &b, &mut rng);
    let (inv1, m2) = inv1.receive_hello(&m1, &mut rng).unwrap();
    let (_, m3) = join1.receive_hello(&m2, &b, "b").unwrap();
    // Flipping a ciphertext bit is a decryption failure, not a proof failure.
    let mut bad = m3.clone();
    bad[5] ^= 1;
    assert_eq!(inv1.receive_proof(&bad).unwrap_err(), PairingError::Decrypt);
}

#[test]
fn invite_codes_round_trip_and_bad_codes_are_typed() {
    let mut rng = VaultRng::new().unwrap();
    let s = InviteSecret::generate(&mut rng);
    let code = s.code("https://sync.example:8443/base", None);
    let (url, secret_part) = code.rsplit_once('#').unwrap();
    assert_eq!(url, "https://sync.example:8443/base");
    assert_eq!(secret_part.len(), 32 + 7);
    assert!(secret_part.split('-').all(|g| g.len() == 4));
    assert_eq!(secret_part, secret_part.to_lowercase());
    let parsed = InviteSecret::parse_code(&code).unwrap();
    assert_eq!(parsed.server_url, url);
    assert_eq!(parsed.secret.invite_id(), s.invite_id());
    assert_eq!(s.invite_id().len(), 32);
    assert!(
        s.invite_id()
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    // Case, dashes and spaces do not matter.
    let sloppy = format!("{url}#{}", secret_part.to_uppercase().replace('-', " "));
    assert_eq!(
        InviteSecret::parse_code(&sloppy)
            .unwrap()
            .secret
            .invite_id(),
        s.invite_id()
    );
    assert_eq!(
        InviteSecret::parse_code(&format!("  {code}\n"))
            .unwrap()
            .secret
            .invite_id(),
        s.invite_id()
    );
    for (bad, why) in [
        ("no-hash-here", "no '#' between server and secret"),
        ("#abcd", "no server URL"),
        ("https://x#abcd-efgh", "the secret has the wrong length"),
        (
            "https://x#1111-1111-1111-1111-1111-1111-1111-1111",
            "the secret is not base32",
        ),
    ] {
        assert_eq!(
            InviteSecret::parse_code(bad).unwrap_err(),
            PairingError::BadCode(why),
            "{bad}"
        );
    }
    let other = InviteSecret::generate(&mut rng);
    assert_ne!(other.invite_id(), s.invite_id());
    assert_eq!(format!("{s:?}"), "InviteSecret(<redacted>)");
}

#[test]
fn the_welcome_must_carry_a_share_for_the_joiner() {
    let (a, b, mut rng) = ids();
    let code = InviteSecret::generate(&mut rng).code("u", None);
    let secret = || InviteSecret::parse_code(&code).unwrap().secret;
    let inv = InviterAwaitingJoin::new(secret(), Uuid::nil(), EntryHash::ZERO, a.public());
    let (join, m1) = JoinerAwaitingHello::start(&secret(), &b, &mut rng);
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    let (_join, m3) = join.receive_hello(&m2, &b, "b").unwrap();
    let (inv, _) = inv.receive_proof(&m3).unwrap();
    let key = EpochKey::generate(1, &mut rng);
    let to_a = KeyShare::seal(&a, &a.public(), Uuid::nil(), &[&key], &mut rng).unwrap();
    assert_eq!(
        inv.welcome(&to_a, EntryHash::ZERO).unwrap_err(),
        PairingError::WrongRecipient
    );
}

#[test]
fn a_code_carries_a_certificate_pin_or_none() {
    let mut rng = VaultRng::new().unwrap();
    let secret = InviteSecret::generate(&mut rng);
    let plain = secret.code("https://sync.example:8625", None);
    let parsed = InviteSecret::parse_code(&plain).unwrap();
    assert_eq!(parsed.server_url, "https://sync.example:8625");
    assert_eq!(parsed.cert_pin, None);

    let pin = [0xa5u8; 32];
    let pinned = secret.code("https://sync.example:8625", Some(&pin));
    assert!(pinned.starts_with("https://sync.example:8625#sha256-"));
    let parsed = InviteSecret::parse_code(&pinned).unwrap();
    assert_eq!(parsed.server_url, "https://sync.example:8625");
    assert_eq!(parsed.cert_pin, Some(pin));
    // Same secret either way: the pin does not change the invite id.
    assert_eq!(
        parsed.secret.invite_id(),
        InviteSecret::parse_code(&plain).unwrap().secret.invite_id()
    );
    // Upper case survives copying by hand.
    assert_eq!(
        InviteSecret::parse_code(
            &pinned
                .to_uppercase()
                .replace("HTTPS://SYNC.EXAMPLE:8625", "https://sync.example:8625")
        )
        .unwrap()
        .cert_pin,
        Some(pin)
    );
    let (head, tail) = pinned.rsplit_once('#').unwrap();
    for bad in [
        format!("{}#sha256-abc#{tail}", "https://s"),
        format!("{}#md5-{}#{tail}", "https://s", &head[head.len() - 52..]),
        format!("{}#sha256-{}#{tail}", "https://s", &head[head.len() - 50..]),
    ] {
        assert!(
            matches!(
                InviteSecret::parse_code(&bad),
                Err(PairingError::BadCode("the certificate pin is malformed"))
            ),
            "{bad}"
        );
    }
}

/// Runs a pairing up to the inviter's verified proof.
fn verified(
    code: &str,
    a: &DeviceIdentity,
    b: &DeviceIdentity,
) -> (InviterVerified, JoinerAwaitingWelcome) {
    let mut rng = VaultRng::new().unwrap();
    let s_inv = InviteSecret::parse_code(code).unwrap().secret;
    let s_join = InviteSecret::parse_code(code).unwrap().secret;
    let inv = InviterAwaitingJoin::new(s_inv, Uuid::nil(), EntryHash::ZERO, a.public());
    let (join, m1) = JoinerAwaitingHello::start(&s_join, b, &mut rng);
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    let (join, m3) = join.receive_hello(&m2, b, "phone").unwrap();
    let (inv, _) = inv.receive_proof(&m3).unwrap();
    (inv, join)
}

#[test]
fn a_refusal_ends_the_joiner_and_cannot_be_forged() {
    let (a, b, mut rng) = ids();
    let code = InviteSecret::generate(&mut rng).code("https://s", None);
    let (inv, mut join) = verified(&code, &a, &b);
    // Anything else (the welcome's type) is left for the welcome step.
    assert_eq!(join.check_refusal(&[4, 1, 0, 0]), Ok(()));
    let refusal = inv.refuse().unwrap();
    assert_eq!(refusal[..2], [6, 1]);
    assert_eq!(join.check_refusal(&refusal), Err(PairingError::Refused));

    // A refusal sealed in another session (what a relaying server could
    // replay) does not open in this one.
    let (other_inv, _) = verified(&code, &a, &b);
    let (_, mut join) = verified(&code, &a, &b);
    let forged = other_inv.refuse().unwrap();
    assert_eq!(join.check_refusal(&forged), Err(PairingError::Decrypt));
    let mut bare = vec![6, 1];
    bare.extend_from_slice(&[0; 16]);
    assert_eq!(join.check_refusal(&bare), Err(PairingError::Decrypt));
}
