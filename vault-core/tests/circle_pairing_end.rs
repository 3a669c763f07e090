//! The end of a pairing: the joiner's confirmation and rejection (their
//! bytes pinned, tampering and other sessions refused), and the pending
//! add the inviter keeps until the confirmation, judged from evidence
//! after a crash.
#![allow(clippy::unwrap_used)]

mod common;

use common::new_vault;
use uuid::Uuid;
use vault_core::UnlockedVault;
use vault_core::circle::pairing::{
    CONFIRMATION_LEN, InviteSecret, InviterAwaitingConfirmation, InviterAwaitingJoin,
    JoinerAwaitingHello, JoinerAwaitingWelcome, PairingError, Rejection, check_confirmation,
};
use vault_core::circle::{
    EntryHash, KeyShare, PendingAdd, PendingVerdict, ServerTrust, SignedEntry,
};
use vault_core::crypto::{DeviceIdentity, EpochKey, Namespace, VaultRng};
use vault_core::sync::{SignedManifest, Token};

const CIRCLE: Uuid = Uuid::from_bytes([4; 16]);
const ADD: EntryHash = EntryHash([6; 32]);

/// A pairing up to the welcome, opened by the joiner: the inviter waiting
/// for the confirmation, and the joiner that can confirm or reject.
fn welcomed(
    a: &DeviceIdentity,
    b: &DeviceIdentity,
    add: EntryHash,
) -> (InviterAwaitingConfirmation, JoinerAwaitingWelcome) {
    let mut rng = VaultRng::new().unwrap();
    let code = InviteSecret::generate(&mut rng).code("https://s", None);
    let secret = || InviteSecret::parse_code(&code).unwrap().secret;
    let inv = InviterAwaitingJoin::new(secret(), CIRCLE, EntryHash([5; 32]), a.public());
    let (join, m1) = JoinerAwaitingHello::start(&secret(), b, &mut rng);
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    let (mut join, m3) = join.receive_hello(&m2, b, "phone").unwrap();
    let (inv, req) = inv.receive_proof(&m3).unwrap();
    let key = EpochKey::generate(1, &mut rng);
    let share = KeyShare::seal(a, &req.keys, CIRCLE, &[&key], &mut rng).unwrap();
    let (waiting, m4, m5) = inv.welcome_with_anchor(&share, add, b"anchor").unwrap();
    let (welcome, anchor) = join.receive_welcome_with_anchor(&m4, &m5).unwrap();
    assert_eq!((welcome.add_peer, anchor.as_slice()), (add, &b"anchor"[..]));
    (waiting, join)
}

fn ids() -> (DeviceIdentity, DeviceIdentity) {
    let mut rng = VaultRng::new().unwrap();
    (
        DeviceIdentity::generate(&mut rng),
        DeviceIdentity::generate(&mut rng),
    )
}

#[test]
fn a_confirmation_is_pinned_and_accepted() {
    let (a, b) = ids();
    let (waiting, join) = welcomed(&a, &b, ADD);
    let m = join.confirm(&b, ADD).unwrap();
    // 7 | 1 | Ed25519(b, "vault.v1.pair-joined" || circle id || add entry) | tag
    assert_eq!(CONFIRMATION_LEN, 82);
    assert_eq!(m.len(), CONFIRMATION_LEN);
    assert_eq!(m[..2], [7, 1]);
    assert_eq!(Namespace::PairJoined.label(), b"vault.v1.pair-joined");
    let sig = b.sign(Namespace::PairJoined, &[CIRCLE.as_bytes(), &ADD.0]);
    assert_eq!(m[2..66], sig[..]);
    check_confirmation(&m, &b.public(), CIRCLE, ADD).unwrap();
    assert_eq!(waiting.receive_confirmation(&m), Ok(()));
}

#[test]
fn a_tampered_confirmation_is_refused() {
    let (a, b) = ids();
    let m = {
        let (_, join) = welcomed(&a, &b, ADD);
        join.confirm(&b, ADD).unwrap()
    };
    for at in [2, 40, 65, 66, 81] {
        let (waiting, join) = welcomed(&a, &b, ADD);
        let mut good = join.confirm(&b, ADD).unwrap();
        good[at] ^= 1;
        // The signature is associated data of the tag: any flip fails it.
        assert_eq!(
            waiting.receive_confirmation(&good),
            Err(PairingError::Decrypt),
            "byte {at}"
        );
    }
    let (waiting, _) = welcomed(&a, &b, ADD);
    assert_eq!(
        waiting.receive_confirmation(&m[..81]),
        Err(PairingError::Malformed("confirmation length"))
    );
    // Without the session, the signature is what is checked: over this
    // circle, this entry, by this joiner.
    let mut flipped = m.clone();
    flipped[10] ^= 1;
    let bad = Err(PairingError::BadProof);
    assert_eq!(check_confirmation(&flipped, &b.public(), CIRCLE, ADD), bad);
    assert_eq!(
        check_confirmation(&m, &b.public(), CIRCLE, EntryHash([7; 32])),
        bad
    );
    assert_eq!(check_confirmation(&m, &b.public(), Uuid::nil(), ADD), bad);
    assert_eq!(check_confirmation(&m, &a.public(), CIRCLE, ADD), bad);
    assert!(check_confirmation(&m[..81], &b.public(), CIRCLE, ADD).is_err());
    let mut other_type = m.clone();
    other_type[0] = 3;
    assert_eq!(
        check_confirmation(&other_type, &b.public(), CIRCLE, ADD),
        Err(PairingError::UnexpectedMessage {
            expected: 7,
            found: 3
        })
    );
}

#[test]
fn a_confirmation_of_another_session_or_another_add_is_refused() {
    let (a, b) = ids();
    let (_, join) = welcomed(&a, &b, ADD);
    let other_session = join.confirm(&b, ADD).unwrap();
    let (waiting, _) = welcomed(&a, &b, ADD);
    assert_eq!(
        waiting.receive_confirmation(&other_session),
        Err(PairingError::Decrypt)
    );
    // The joiner confirms only the entry the welcome named, as itself.
    let (_, join) = welcomed(&a, &b, ADD);
    let mut rng = VaultRng::new().unwrap();
    let forger = DeviceIdentity::generate(&mut rng);
    assert_eq!(
        join.confirm(&forger, ADD).unwrap_err(),
        PairingError::IdentityMismatch
    );
    let (_, join) = welcomed(&a, &b, ADD);
    assert_eq!(
        join.confirm(&b, EntryHash([9; 32])).unwrap_err(),
        PairingError::WrongAddEntry
    );
}

#[test]
fn a_rejection_is_pinned_and_ends_the_inviter() {
    let (a, b) = ids();
    for why in [
        Rejection::Welcome,
        Rejection::Log,
        Rejection::Anchor,
        Rejection::Failed,
        Rejection::Late,
    ] {
        let (waiting, join) = welcomed(&a, &b, ADD);
        let m = join.reject(why).unwrap();
        // 8 | 1 | AES-GCM(reason u8): one byte and a 16-byte tag.
        assert_eq!(m[..2], [8, 1]);
        assert_eq!(m.len(), 2 + 1 + 16);
        assert_eq!(
            waiting.receive_confirmation(&m),
            Err(PairingError::Rejected(why))
        );
    }
    // A rejection from another session (a relay replaying one) does not
    // open; nor does a tampered one.
    let (_, join) = welcomed(&a, &b, ADD);
    let other = join.reject(Rejection::Log).unwrap();
    let (waiting, _) = welcomed(&a, &b, ADD);
    assert_eq!(
        waiting.receive_confirmation(&other),
        Err(PairingError::Decrypt)
    );
    let (waiting, join) = welcomed(&a, &b, ADD);
    let mut m = join.reject(Rejection::Log).unwrap();
    m[2] ^= 1;
    assert_eq!(waiting.receive_confirmation(&m), Err(PairingError::Decrypt));
}

#[test]
fn the_joiner_can_reject_a_welcome_it_could_not_open() {
    let (a, b) = ids();
    let mut rng = VaultRng::new().unwrap();
    let code = InviteSecret::generate(&mut rng).code("https://s", None);
    let secret = || InviteSecret::parse_code(&code).unwrap().secret;
    let inv = InviterAwaitingJoin::new(secret(), CIRCLE, EntryHash::ZERO, a.public());
    let (join, m1) = JoinerAwaitingHello::start(&secret(), &b, &mut rng);
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    let (mut join, m3) = join.receive_hello(&m2, &b, "phone").unwrap();
    let (inv, req) = inv.receive_proof(&m3).unwrap();
    let key = EpochKey::generate(1, &mut rng);
    let share = KeyShare::seal(&a, &req.keys, CIRCLE, &[&key], &mut rng).unwrap();
    let (waiting, mut m4, m5) = inv.welcome_with_anchor(&share, ADD, &[]).unwrap();
    m4[9] ^= 1;
    assert_eq!(
        join.receive_welcome_with_anchor(&m4, &m5).unwrap_err(),
        PairingError::Decrypt
    );
    // Nothing was opened: a rejection can still be sent.
    let rejection = join.reject(Rejection::Welcome).unwrap();
    assert_eq!(
        waiting.receive_confirmation(&rejection),
        Err(PairingError::Rejected(Rejection::Welcome))
    );
}

// ---------------------------------------------------------------------
// The pending add in the vault.

const URL: &str = "https://sync.example";
const INVITE: &str = "0123456789abcdef0123456789abcdef";

/// A founds a circle and adds B (as `vault peer invite` would: the
/// pending add first, then the entry); B joins. Returns the log.
fn found_and_add(a: &mut UnlockedVault, b: &UnlockedVault) -> Vec<SignedEntry> {
    let genesis = a.prepare_genesis("laptop").unwrap();
    a.create_circle(URL, &ServerTrust::default(), &genesis)
        .unwrap();
    a.record_pending_add(&b.peer_id(), INVITE, 100).unwrap();
    let add = a.prepare_add_peer(&b.device().public(), "phone").unwrap();
    a.apply_log(std::slice::from_ref(&add)).unwrap();
    vec![genesis, add]
}

fn manifest(by: &DeviceIdentity, circle_id: Uuid, circle_pos: u64) -> SignedManifest {
    SignedManifest::sign(
        by,
        circle_id,
        "keychain",
        1,
        Token { epoch: 1, seq: 1 },
        circle_pos,
        [0; 32],
        0,
    )
}

#[test]
fn a_pending_add_is_recorded_moved_and_cleared() {
    let (_d, _p, mut a) = new_vault();
    let (_e, _q, b) = new_vault();
    assert!(a.pending_adds().unwrap().is_empty());
    a.record_pending_add(&b.peer_id(), INVITE, 100).unwrap();
    a.record_pending_add(&b.peer_id(), INVITE, 160).unwrap();
    let want = PendingAdd {
        peer: b.peer_id(),
        invite_id: INVITE.into(),
        deadline: 160,
    };
    assert_eq!(a.pending_adds().unwrap(), std::slice::from_ref(&want));
    assert!(!want.is_due(159));
    assert!(want.is_due(160));
    // Not an invite id: refused by the table.
    assert!(a.record_pending_add(&b.peer_id(), "not hex", 1).is_err());
    assert!(
        a.record_pending_add(&b.peer_id(), &INVITE.to_uppercase(), 1)
            .is_err()
    );
    a.clear_pending_add(&b.peer_id()).unwrap();
    assert!(a.pending_adds().unwrap().is_empty());
}

#[test]
fn a_pending_add_is_judged_from_evidence_only_the_joiner_can_make() {
    let (_d, _p, mut a) = new_vault();
    let (_e, _q, b) = new_vault();
    let log = found_and_add(&mut a, &b);
    let pending = a.pending_adds().unwrap().remove(0);
    let circle_id = a.circle().unwrap().unwrap().circle_id;
    let add = a.add_entry_of(&b.peer_id()).unwrap();
    assert_eq!(add, log[1].hash());

    // No evidence: not joined.
    let judge = |a: &UnlockedVault, relay: &[Vec<u8>], manifests: &[SignedManifest]| {
        a.judge_pending_add(&pending, relay, manifests).unwrap()
    };
    assert_eq!(judge(&a, &[], &[]), PendingVerdict::NotJoined);

    // B's confirmation of this add, read back from the relay among its
    // other messages: joined.
    let (_, join) = welcomed_in(&a, &b, circle_id, add);
    let confirmation = join.confirm(b.device(), add).unwrap();
    let relay = vec![vec![1, 1, 0], confirmation.clone()];
    assert_eq!(judge(&a, &relay, &[]), PendingVerdict::Joined);
    // ... not one of another add, or signed by another device.
    let (_, join) = welcomed_in(&a, &b, circle_id, EntryHash([3; 32]));
    let other_add = join.confirm(b.device(), EntryHash([3; 32])).unwrap();
    assert_eq!(judge(&a, &[other_add], &[]), PendingVerdict::NotJoined);
    let mut forged = confirmation;
    forged[20] ^= 1;
    assert_eq!(judge(&a, &[forged], &[]), PendingVerdict::NotJoined);

    // A manifest B signed for this circle after verifying its own add:
    // joined; one from before its add, another circle's, or another
    // signer's is not.
    let at_add = manifest(b.device(), circle_id, 1);
    assert_eq!(judge(&a, &[], &[at_add]), PendingVerdict::Joined);
    for m in [
        manifest(b.device(), circle_id, 0),
        manifest(b.device(), Uuid::nil(), 1),
        manifest(a.device(), circle_id, 1),
    ] {
        assert_eq!(judge(&a, &[], &[m]), PendingVerdict::NotJoined);
    }
    let mut bad_sig = manifest(b.device(), circle_id, 1);
    bad_sig.signature[0] ^= 1;
    assert_eq!(judge(&a, &[], &[bad_sig]), PendingVerdict::NotJoined);

    // Once B is removed, the pending add is moot.
    let rm = a.prepare_remove_peer(&b.peer_id()).unwrap();
    a.apply_log(&[rm]).unwrap();
    assert_eq!(judge(&a, &[], &[]), PendingVerdict::Moot);
}

#[test]
fn a_pending_add_that_never_reached_the_log_is_moot() {
    let (_d, _p, mut a) = new_vault();
    let (_e, _q, b) = new_vault();
    let genesis = a.prepare_genesis("laptop").unwrap();
    a.create_circle(URL, &ServerTrust::default(), &genesis)
        .unwrap();
    a.record_pending_add(&b.peer_id(), INVITE, 0).unwrap();
    let pending = a.pending_adds().unwrap().remove(0);
    assert_eq!(
        a.judge_pending_add(&pending, &[], &[]).unwrap(),
        PendingVerdict::Moot
    );
    assert!(a.add_entry_of(&b.peer_id()).is_err());
}

/// [`welcomed`], in `a`'s real circle with `add` as the welcome's entry.
fn welcomed_in(
    a: &UnlockedVault,
    b: &UnlockedVault,
    circle_id: Uuid,
    add: EntryHash,
) -> (InviterAwaitingConfirmation, JoinerAwaitingWelcome) {
    let mut rng = VaultRng::new().unwrap();
    let code = InviteSecret::generate(&mut rng).code(URL, None);
    let secret = || InviteSecret::parse_code(&code).unwrap().secret;
    let genesis = a.circle().unwrap().unwrap().genesis;
    let inv = InviterAwaitingJoin::new(secret(), circle_id, genesis, a.device().public());
    let (join, m1) = JoinerAwaitingHello::start(&secret(), b.device(), &mut rng);
    let (inv, m2) = inv.receive_hello(&m1, &mut rng).unwrap();
    let (mut join, m3) = join.receive_hello(&m2, b.device(), "phone").unwrap();
    let (inv, req) = inv.receive_proof(&m3).unwrap();
    let key = EpochKey::generate(1, &mut rng);
    let share = KeyShare::seal(a.device(), &req.keys, circle_id, &[&key], &mut rng).unwrap();
    let (waiting, m4, m5) = inv.welcome_with_anchor(&share, add, &[]).unwrap();
    join.receive_welcome_with_anchor(&m4, &m5).unwrap();
    (waiting, join)
}
