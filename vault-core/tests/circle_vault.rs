//! The circle inside the vault file: identity, founding, joining, removal,
//! new epochs and key shares, each persisted (or refused) atomically.
//! (Over 500 lines: one story, the circle in the vault file, whose tests
//! share its fixtures; this change only widened calls for `ServerTrust`.)
#![allow(clippy::unwrap_used)]

mod common;

use common::{PASSWORD, fast_kdf, file_bytes, full_genp, full_inet, new_vault, raw, reopen};
use std::path::Path;
use uuid::Uuid;
use vault_core::circle::{
    ChainError, CircleState, EntryHash, KeyShare, PeerId, ServerTrust, ShareError, SignedEntry,
    verify_auth,
};
use vault_core::crypto::{EpochKey, VaultRng};
use vault_core::error::{CircleError, KeyChangeError};
use vault_core::{ShareEpochs, UnlockedVault, Vault};

const URL: &str = "https://sync.example";

/// The server's part: an ordered log that appends only at the head.
#[derive(Default)]
struct Server {
    log: Vec<SignedEntry>,
}

impl Server {
    fn post(&mut self, e: SignedEntry) -> SignedEntry {
        assert_eq!(e.entry().seq, self.log.len() as u64);
        if let Some(last) = self.log.last() {
            assert_eq!(e.entry().prev, last.hash());
        }
        self.log.push(e.clone());
        e
    }

    fn after(&self, seq: u64) -> Vec<SignedEntry> {
        self.log[(seq as usize + 1).min(self.log.len())..].to_vec()
    }

    fn genesis(&self) -> EntryHash {
        self.log[0].hash()
    }
}

fn head(v: &UnlockedVault) -> u64 {
    v.circle().unwrap().unwrap().head.0
}

/// Brings `v` up to the server's head.
fn sync(v: &mut UnlockedVault, s: &Server) -> vault_core::LogUpdate {
    let h = head(v);
    v.apply_log(&s.after(h)).unwrap()
}

/// A founds a circle on the server.
fn found_circle(a: &mut UnlockedVault) -> Server {
    let mut s = Server::default();
    let g = a.prepare_genesis("laptop").unwrap();
    a.create_circle(URL, &ServerTrust::default(), &s.post(g))
        .unwrap();
    s
}

/// `inviter` adds `joiner` (as pairing would) and `joiner` joins.
fn pair(inviter: &mut UnlockedVault, joiner: &mut UnlockedVault, s: &mut Server, name: &str) {
    sync(inviter, s);
    let add = inviter
        .prepare_add_peer(&joiner.device().public(), name)
        .unwrap();
    s.post(add);
    sync(inviter, s);
    let share = inviter
        .seal_share(&joiner.peer_id(), ShareEpochs::All)
        .unwrap();
    joiner
        .join_circle(
            URL,
            &ServerTrust::default(),
            s.genesis(),
            &s.log,
            &share,
            &inviter.peer_id(),
        )
        .unwrap();
}

fn current_key_uuid(path: &Path) -> Vec<u8> {
    raw(path)
        .query_row(
            "SELECT key_uuid FROM key_epochs JOIN vault_meta ON epoch = current_epoch",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn identity_persists_across_reopen_and_password_change() {
    let (_d, path, v) = new_vault();
    let id = v.peer_id();
    let public = v.device().public();
    assert_eq!(public.peer_id(), id);
    drop(v);
    let mut v = reopen(&path);
    assert_eq!(v.peer_id(), id);
    v.change_password(PASSWORD, "new password", fast_kdf())
        .unwrap();
    drop(v);
    let v = Vault::open(&path).unwrap().unlock("new password").unwrap();
    assert_eq!(v.peer_id(), id);
    let c = Uuid::new_v4();
    let sig = v.sign_auth(c, &[1; 32]);
    assert_eq!(verify_auth(&public, c, &id, &[1; 32], &sig), Ok(()));
    // The secrets are stored wrapped only.
    let blob: Vec<u8> = raw(&path)
        .query_row("SELECT wrapped_keys FROM device_identity", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blob.len(), 1 + 12 + 64 + 16);
    assert!(!format!("{:?}", v.device()).contains("signing"));
}

#[test]
fn a_vault_from_before_the_circle_gets_its_identity_at_first_unlock() {
    let (_d, path, mut v) = new_vault();
    let item = v.add(full_inet("old")).unwrap();
    drop(v);
    let conn = raw(&path);
    conn.execute_batch(
        "DROP TABLE device_identity; DROP TABLE circle; DROP TABLE pending_epochs;
         ALTER TABLE trusted_peers DROP COLUMN name_epoch;
         ALTER TABLE trusted_peers DROP COLUMN sealed_name;
         ALTER TABLE trusted_peers DROP COLUMN added_seq;
         ALTER TABLE trusted_peers DROP COLUMN removed_by;
         ALTER TABLE trusted_peers DROP COLUMN removed_seq;
         DROP TABLE sync_stage; DROP TABLE sync_staged_pages;
         DROP TABLE sync_state; DROP TABLE sync_quarantine; DROP TABLE possible_duplicates;
         ALTER TABLE ckmirror DROP COLUMN server_leaf;
         ALTER TABLE ckmirror DROP COLUMN server_tomb;
         ALTER TABLE ckmirror DROP COLUMN server_writer;
         DROP TABLE circle_cuts; DROP TABLE circle_cut_rows;
         ALTER TABLE ckmanifest DROP COLUMN counter;
         ALTER TABLE ckmanifest DROP COLUMN body;
         DELETE FROM ckmirror;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let mut v = reopen(&path);
    let id = v.peer_id();
    assert!(v.get(item).is_ok());
    // Migration 0003 puts the items written before sync in the outbox.
    assert_eq!(v.sync_status().unwrap().pending, 1);
    drop(v);
    assert_eq!(reopen(&path).peer_id(), id);
}

#[test]
fn a_founded_circle_survives_reopen() {
    let (_d, path, mut a) = new_vault();
    let item = a.add(full_inet("a")).unwrap();
    a.rotate_vault_key().unwrap();
    let s = found_circle(&mut a);
    let info = a.circle().unwrap().unwrap();
    assert_eq!(info.server_url, URL);
    assert_eq!(info.genesis, s.genesis());
    assert_eq!(info.members.len(), 1);
    assert_eq!(info.members[0].name.as_deref(), Some("laptop"));
    assert!(info.members[0].is_me && info.is_member);
    assert_eq!(info.epoch, 2);
    assert_eq!(info.state.epochs().len(), 2);
    assert!(info.missing_epochs.is_empty());
    drop(a);
    // The vault keys were re-wrapped under the circle id: unlock still works.
    let mut a = reopen(&path);
    assert!(a.get(item).is_ok());
    assert_eq!(a.circle().unwrap().unwrap().circle_id, info.circle_id);
    assert!(matches!(
        a.prepare_genesis("again"),
        Err(CircleError::AlreadyInCircle)
    ));
    assert!(matches!(
        a.rotate_vault_key(),
        Err(KeyChangeError::InCircle)
    ));
}

#[test]
fn a_genesis_from_another_device_is_refused() {
    let (_d1, _p1, mut a) = new_vault();
    let (_d2, _p2, mut b) = new_vault();
    let g = a.prepare_genesis("a").unwrap();
    assert!(matches!(
        b.create_circle(URL, &ServerTrust::default(), &g),
        Err(CircleError::ForeignGenesis)
    ));
    assert!(b.circle().unwrap().is_none());
}

#[test]
fn a_device_joins_with_its_items_and_the_circles_keys() {
    let (_da, path_a, mut a) = new_vault();
    a.add(full_inet("a")).unwrap();
    let mut s = found_circle(&mut a);
    let (_db, path_b, mut b) = new_vault();
    let b_items = [
        b.add(full_inet("b")).unwrap(),
        b.add(full_genp("b")).unwrap(),
    ];
    b.rotate_vault_key().unwrap();
    let b_later = b.add(full_inet("b2")).unwrap();
    b.update(b_items[0], full_inet("b-edited")).unwrap();
    pair(&mut a, &mut b, &mut s, "phone");

    assert_eq!(current_key_uuid(&path_a), current_key_uuid(&path_b));
    for id in [b_items[0], b_items[1], b_later] {
        assert!(b.get(id).is_ok(), "{id}");
    }
    assert_eq!(b.history(b_items[0]).unwrap().len(), 1);
    let info = b.circle().unwrap().unwrap();
    assert_eq!(info.members.len(), 2);
    let names: Vec<_> = info
        .members
        .iter()
        .map(|m| m.name.clone().unwrap())
        .collect();
    assert!(names.contains(&"laptop".into()) && names.contains(&"phone".into()));
    drop(b);
    let mut b = reopen(&path_b);
    for id in [b_items[0], b_items[1], b_later] {
        assert!(b.get(id).is_ok(), "{id}");
    }
    assert_eq!(
        b.circle().unwrap().unwrap().head,
        a.circle().unwrap().unwrap().head
    );
}

fn invited(a: &mut UnlockedVault, b: &UnlockedVault, s: &mut Server) -> KeyShare {
    let add = a.prepare_add_peer(&b.device().public(), "phone").unwrap();
    s.post(add);
    sync(a, s);
    a.seal_share(&b.peer_id(), ShareEpochs::All).unwrap()
}

#[test]
fn a_join_with_a_forged_share_or_a_bad_log_writes_nothing() {
    let (_da, _pa, mut a) = new_vault();
    let mut s = found_circle(&mut a);
    let (_db, path_b, mut b) = new_vault();
    b.add(full_inet("b")).unwrap();
    let share = invited(&mut a, &b, &mut s);
    let before = file_bytes(&path_b);
    let mut rng = VaultRng::new().unwrap();
    let circle = s.log[0].entry().circle_id;
    let a_id = a.peer_id();
    let g = s.genesis();

    // A key that is not the committed one, signed by the inviter.
    let fake = EpochKey::generate(1, &mut rng);
    let bad = KeyShare::seal(a.device(), &b.device().public(), circle, &[&fake], &mut rng).unwrap();
    let r = b.join_circle(URL, &ServerTrust::default(), g, &s.log, &bad, &a_id);
    assert!(
        matches!(r, Err(CircleError::Share(ShareError::CommitMismatch(1)))),
        "{r:?}"
    );
    // A share whose bytes were altered.
    let mut bytes = share.to_bytes();
    bytes[150] ^= 1;
    let r = b.join_circle(
        URL,
        &ServerTrust::default(),
        g,
        &s.log,
        &KeyShare::from_bytes(&bytes).unwrap(),
        &a_id,
    );
    assert!(
        matches!(r, Err(CircleError::Share(ShareError::BadSignature))),
        "{r:?}"
    );
    // The log with the add-peer's signature broken.
    let mut log = s.log.clone();
    let mut sig = *log[1].signature();
    sig[0] ^= 1;
    log[1] = SignedEntry::decode(log[1].entry_bytes(), &sig).unwrap();
    let r = b.join_circle(URL, &ServerTrust::default(), g, &log, &share, &a_id);
    assert!(
        matches!(
            r,
            Err(CircleError::Chain(ChainError::BadSignature { seq: 1 }))
        ),
        "{r:?}"
    );
    // Another genesis.
    let r = b.join_circle(
        URL,
        &ServerTrust::default(),
        EntryHash([3; 32]),
        &s.log,
        &share,
        &a_id,
    );
    assert!(
        matches!(
            r,
            Err(CircleError::Chain(ChainError::GenesisMismatch { .. }))
        ),
        "{r:?}"
    );
    // A log that does not add B.
    let r = b.join_circle(URL, &ServerTrust::default(), g, &s.log[..1], &share, &a_id);
    assert!(matches!(r, Err(CircleError::NotInvited)), "{r:?}");
    // A share from someone else than the named inviter, or an inviter
    // who is not a member.
    let r = b.join_circle(
        URL,
        &ServerTrust::default(),
        g,
        &s.log,
        &share,
        &b.peer_id(),
    );
    assert!(
        matches!(r, Err(CircleError::Share(ShareError::WrongSender))),
        "{r:?}"
    );
    let r = b.join_circle(
        URL,
        &ServerTrust::default(),
        g,
        &s.log,
        &share,
        &PeerId::from_bytes([7; 32]),
    );
    assert!(matches!(r, Err(CircleError::UnknownPeer(_))), "{r:?}");

    assert_eq!(
        file_bytes(&path_b),
        before,
        "a failed join changed the file"
    );
    assert!(b.circle().unwrap().is_none());
    // The genuine share still works afterwards.
    b.join_circle(URL, &ServerTrust::default(), g, &s.log, &share, &a_id)
        .unwrap();
    assert!(b.circle().unwrap().unwrap().is_member);
}

#[test]
fn removal_and_a_new_epoch_reach_the_remaining_members() {
    let (_da, path_a, mut a) = new_vault();
    let a_item = a.add(full_inet("a")).unwrap();
    let mut s = found_circle(&mut a);
    let (_db, _pb, mut b) = new_vault();
    let (_dc, path_c, mut c) = new_vault();
    pair(&mut a, &mut b, &mut s, "b");
    pair(&mut a, &mut c, &mut s, "c");
    let c_item = c.add(full_genp("c")).unwrap();
    sync(&mut b, &s);

    // A removes B, then starts epoch 2 and shares it with C only.
    let rm = a.prepare_remove_peer(&b.peer_id()).unwrap();
    s.post(rm);
    let u = sync(&mut a, &s);
    assert_eq!(u.removed, vec![b.peer_id()]);
    let (e, pending) = a.prepare_new_epoch().unwrap();
    assert_eq!(pending.epoch(), 2);
    s.post(e);
    let share_c = a
        .seal_share(&c.peer_id(), ShareEpochs::Pending(&pending))
        .unwrap();
    assert!(matches!(
        a.seal_share(&b.peer_id(), ShareEpochs::Current),
        Err(CircleError::UnknownPeer(_))
    ));
    let u = sync(&mut a, &s);
    assert_eq!(u.installed_epochs, vec![2]);
    assert!(u.missing_epochs.is_empty());
    assert_eq!(a.key_epoch(), 2);
    assert!(a.get(a_item).is_ok());
    drop(a);
    let mut a = reopen(&path_a);
    assert_eq!(a.key_epoch(), 2);
    assert!(a.get(a_item).is_ok());

    // C sees the removal and the new epoch, lacks its key until the share.
    let u = sync(&mut c, &s);
    assert_eq!(u.new_epochs, vec![2]);
    assert_eq!(u.missing_epochs, vec![2]);
    assert!(!u.removed_me);
    assert_eq!(c.key_epoch(), 1);
    // A stale share (an epoch-2 key whose entry lost the race) next to the
    // right one: the stale one is skipped, the right one installed.
    let mut rng = VaultRng::new().unwrap();
    let stale_key = EpochKey::generate(2, &mut rng);
    let circle = s.log[0].entry().circle_id;
    let stale = KeyShare::seal(
        a.device(),
        &c.device().public(),
        circle,
        &[&stale_key],
        &mut rng,
    )
    .unwrap();
    let report = c.install_shares(std::slice::from_ref(&stale)).unwrap();
    assert_eq!(report.installed, 0);
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(c.key_epoch(), 1);
    assert_eq!(
        c.install_shares(&[stale, share_c.clone()])
            .unwrap()
            .installed,
        1
    );
    let again = c.install_shares(&[share_c]).unwrap();
    assert_eq!((again.installed, again.rejected.len()), (0, 0));
    assert_eq!(c.key_epoch(), 2);
    assert!(c.get(c_item).is_ok());
    assert_eq!(current_key_uuid(&path_a), current_key_uuid(&path_c));
    drop(c);
    let mut c = reopen(&path_c);
    assert!(c.get(c_item).is_ok());
    assert!(c.circle().unwrap().unwrap().missing_epochs.is_empty());

    // B learns it was removed and can no longer act.
    let u = sync(&mut b, &s);
    assert!(u.removed_me);
    assert!(!b.circle().unwrap().unwrap().is_member);
    assert!(matches!(
        b.prepare_add_peer(&c.device().public(), "x"),
        Err(CircleError::NotMember)
    ));
    assert_eq!(b.circle().unwrap().unwrap().missing_epochs, vec![2]);
    // A share B forges for C of a key it never had is skipped (and refused
    // with a typed error when opened against the chain).
    let fake = EpochKey::generate(2, &mut rng);
    let circle = s.log[0].entry().circle_id;
    let forged =
        KeyShare::seal(b.device(), &c.device().public(), circle, &[&fake], &mut rng).unwrap();
    let state = c.circle().unwrap().unwrap().state;
    assert!(matches!(
        forged.open_verified(c.device(), &state),
        Err(ShareError::SenderNotMember(_))
    ));
    let report = c.install_shares(&[forged]).unwrap();
    assert_eq!(report.installed, 0);
    assert!(matches!(
        report.rejected.as_slice(),
        [(_, ShareError::SenderNotMember(_))]
    ));
    let _ = a.circle();
}

#[test]
fn the_log_from_the_server_is_verified_before_it_is_stored() {
    let (_da, path_a, mut a) = new_vault();
    let mut s = found_circle(&mut a);
    let (_db, _pb, mut b) = new_vault();
    pair(&mut a, &mut b, &mut s, "b");
    // An entry signed by a stranger.
    let (_dx, _px, mut x) = new_vault();
    let mut rng = VaultRng::new().unwrap();
    let stranger = vault_core::crypto::DeviceIdentity::generate(&mut rng);
    let forged = vault_core::circle::Entry::sign(
        vault_core::circle::Entry {
            circle_id: s.log[0].entry().circle_id,
            seq: 2,
            prev: s.log[1].hash(),
            signer: stranger.peer_id(),
            time: 0,
            body: vault_core::circle::EntryBody::RemovePeer { peer: b.peer_id() },
        },
        &stranger,
    )
    .unwrap();
    let before = file_bytes(&path_a);
    let r = a.apply_log(&[forged]);
    assert!(
        matches!(
            r,
            Err(CircleError::Chain(ChainError::NotAMember { seq: 2, .. }))
        ),
        "{r:?}"
    );
    assert_eq!(file_bytes(&path_a), before);
    // A fork: a different entry where one is already stored.
    let other = x.prepare_genesis("x").unwrap();
    let r = a.apply_log(&[other]);
    assert!(
        matches!(r, Err(CircleError::Chain(ChainError::Fork { seq: 0 }))),
        "{r:?}"
    );
    // Re-sent entries already stored are accepted as no-ops.
    let u = a.apply_log(&s.log).unwrap();
    assert_eq!(u.applied, 0);
    let _ = CircleState::verify_chain(None, &s.log).unwrap();
}

#[test]
fn a_stored_log_that_was_tampered_with_is_reported() {
    let (_da, path_a, mut a) = new_vault();
    let mut s = found_circle(&mut a);
    let (_db, _pb, mut b) = new_vault();
    pair(&mut a, &mut b, &mut s, "b");
    drop(a);
    raw(&path_a)
        .execute("DELETE FROM circle_log WHERE seq = 1", [])
        .unwrap();
    let a = reopen(&path_a);
    assert!(matches!(a.circle(), Err(CircleError::Corrupt(_))));
}

#[test]
fn pairing_drives_the_vaults_end_to_end() {
    use vault_core::circle::pairing::{InviteSecret, InviterAwaitingJoin, JoinerAwaitingHello};
    let (_da, path_a, mut a) = new_vault();
    let mut s = found_circle(&mut a);
    let (_db, path_b, mut b) = new_vault();
    let b_item = b.add(full_inet("b")).unwrap();
    let mut rng = VaultRng::new().unwrap();

    let info = a.circle().unwrap().unwrap();
    let code = InviteSecret::generate(&mut rng).code(&info.server_url, None);
    let inviter = InviterAwaitingJoin::new(
        InviteSecret::parse_code(&code).unwrap().secret,
        info.circle_id,
        info.genesis,
        a.device().public(),
    );
    let parsed = InviteSecret::parse_code(&code).unwrap();
    let (url, secret) = (parsed.server_url, parsed.secret);
    assert_eq!(url, URL);
    let (joiner, m1) = JoinerAwaitingHello::start(&secret, b.device(), &mut rng);
    let (inviter, m2) = inviter.receive_hello(&m1, &mut rng).unwrap();
    let (joiner, m3) = joiner.receive_hello(&m2, b.device(), "tablet").unwrap();
    let (inviter, request) = inviter.receive_proof(&m3).unwrap();
    assert_eq!(request.sas, joiner.sas());

    let add = a.prepare_add_peer(&request.keys, &request.name).unwrap();
    let add = s.post(add);
    sync(&mut a, &s);
    let share = a.seal_share(&request.peer_id, ShareEpochs::All).unwrap();
    let m4 = inviter.welcome(&share, add.hash()).unwrap();
    let welcome = joiner.receive_welcome(&m4).unwrap();
    b.join_circle(
        &url,
        &ServerTrust::default(),
        welcome.genesis,
        &s.log,
        &welcome.share,
        &welcome.inviter,
    )
    .unwrap();

    assert_eq!(current_key_uuid(&path_a), current_key_uuid(&path_b));
    assert!(b.get(b_item).is_ok());
    let names: Vec<_> = a
        .circle()
        .unwrap()
        .unwrap()
        .members
        .into_iter()
        .filter_map(|m| m.name)
        .collect();
    assert!(names.contains(&"tablet".to_string()), "{names:?}");
}
