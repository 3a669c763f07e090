//! The malicious-server suite: a real `vault-server` whose database the
//! test edits behind its back, as a compromised server would. Each attack
//! must be refused by the devices with vault-core's typed error (shown on
//! stderr) and leave their vault files untouched.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, Invite, ServerProc, pair};
use vault_core::circle::pairing::{InviteSecret, JoinerAwaitingHello};
use vault_core::circle::{Entry, EntryBody, KeyShare, SealedName, SignedEntry};
use vault_core::crypto::{DeviceIdentity, EpochKey, VaultRng};

/// The circle's id (raw) and head, as the server stores them.
fn server_head(server: &ServerProc) -> (Vec<u8>, u64, [u8; 32]) {
    server
        .sql()
        .query_row(
            "SELECT circle_id, head_seq, head_hash FROM circles",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// Writes an entry into the server's log as if the server had accepted
/// it, moving the head.
fn inject(server: &ServerProc, circle: &[u8], e: &SignedEntry) {
    let c = server.sql();
    c.execute(
        "INSERT INTO circle_entries (circle_id, seq, hash, entry, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![circle, e.entry().seq, e.hash().0, e.entry_bytes(), &e.signature()[..]],
    )
    .unwrap();
    c.execute(
        "UPDATE circles SET head_seq = ?1, head_hash = ?2 WHERE circle_id = ?3",
        rusqlite::params![e.entry().seq, e.hash().0, circle],
    )
    .unwrap();
}

/// The entry stored at `seq`.
fn stored(server: &ServerProc, seq: u64) -> SignedEntry {
    let (entry, sig): (Vec<u8>, Vec<u8>) = server
        .sql()
        .query_row(
            "SELECT entry, signature FROM circle_entries WHERE seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    SignedEntry::decode(&entry, &sig).unwrap()
}

fn circle_of_two(server: &ServerProc) -> (Device, Device) {
    let a = Device::init("alpha");
    let b = Device::init("beta");
    a.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        "alpha",
    ]);
    pair(&a, &b);
    (a, b)
}

fn peers_offline(d: &Device) -> usize {
    d.json(&["peer", "ls", "--offline"])["peers"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn an_add_peer_entry_not_signed_by_a_member_is_refused() {
    let server = ServerProc::start();
    let (_a, b) = circle_of_two(&server);
    let (circle, head_seq, head_hash) = server_head(&server);
    let mut rng = VaultRng::new().unwrap();
    let intruder = DeviceIdentity::generate(&mut rng);
    let mut blob = vec![1u8];
    blob.extend(rng.array::<93>());
    let entry = Entry {
        circle_id: uuid::Uuid::from_slice(&circle).unwrap(),
        seq: head_seq + 1,
        prev: vault_core::circle::EntryHash(head_hash),
        signer: intruder.peer_id(),
        time: 0,
        body: EntryBody::AddPeer {
            peer: intruder.public(),
            name: SealedName::from_parts(1, blob).unwrap(),
        },
    };
    inject(&server, &circle, &entry.sign(&intruder).unwrap());

    let before = b.file_bytes();
    let (code, err) = b.fails(&["peer", "ls"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.contains("not a current member"), "{err}");
    assert_eq!(b.file_bytes(), before);
    assert_eq!(peers_offline(&b), 2);
}

#[test]
fn a_swapped_public_key_dropped_or_reordered_entries_are_refused() {
    let server = ServerProc::start();
    let (a, b) = circle_of_two(&server);
    // Two more devices join, so B (whose head is the add of B) has entries
    // to pull.
    let c = Device::init("gamma");
    let d = Device::init("delta");
    pair(&a, &c);
    pair(&a, &d);
    let before = b.file_bytes();

    // Dropped: the add of C vanishes; B would pull the add of D after a gap.
    let (circle, _, _) = server_head(&server);
    let add_c = stored(&server, 2);
    server
        .sql()
        .execute("DELETE FROM circle_entries WHERE seq = 2", [])
        .unwrap();
    let (_, err) = b.fails(&["peer", "ls"]);
    assert!(err.contains("entry 2 is missing"), "{err}");
    assert_eq!(b.file_bytes(), before);

    // Reordered: the adds of C and D served in swapped positions.
    let add_d = stored(&server, 3);
    let sql = server.sql();
    sql.execute("DELETE FROM circle_entries WHERE seq = 3", [])
        .unwrap();
    for (seq, e) in [(2u64, &add_d), (3, &add_c)] {
        sql.execute(
            "INSERT INTO circle_entries (circle_id, seq, hash, entry, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![circle, seq, e.hash().0, e.entry_bytes(), &e.signature()[..]],
        )
        .unwrap();
    }
    let (_, err) = b.fails(&["peer", "ls"]);
    assert!(!err.is_empty());
    assert_eq!(b.file_bytes(), before);
    assert_eq!(peers_offline(&b), 2);

    // Swapped key: the add of C restored in place, with C's agreement key
    // replaced by one the server holds; A's signature no longer covers it.
    sql.execute("DELETE FROM circle_entries WHERE seq IN (2, 3)", [])
        .unwrap();
    let mut forged = add_c.entry().clone();
    if let EntryBody::AddPeer { peer, .. } = &mut forged.body {
        let mut rng = VaultRng::new().unwrap();
        peer.agreement = DeviceIdentity::generate(&mut rng).public().agreement;
    }
    let bytes = forged.to_bytes().unwrap();
    let swapped = SignedEntry::decode(&bytes, add_c.signature()).unwrap();
    for (seq, e) in [(2u64, &swapped), (3, &add_d)] {
        sql.execute(
            "INSERT INTO circle_entries (circle_id, seq, hash, entry, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![circle, seq, e.hash().0, e.entry_bytes(), &e.signature()[..]],
        )
        .unwrap();
    }
    let (_, err) = b.fails(&["peer", "ls"]);
    assert!(err.contains("signature"), "{err}");
    assert_eq!(b.file_bytes(), before);
    // A new device joining verifies the whole chain and refuses it too:
    // nothing of the circle is installed.
    let e = Device::init("epsilon");
    let e_before = e.file_bytes();
    let invite = Invite::start(&a, &[]);
    let (_, err) = e.fails(&["peer", "join", &invite.code, "--name", "epsilon"]);
    assert!(err.contains("signature"), "{err}");
    assert_eq!(e.file_bytes(), e_before);
    let st = e.json(&["status"]);
    assert!(st["circle"].is_null(), "{st}");
}

#[test]
fn a_forged_key_share_is_refused_and_installs_nothing() {
    let server = ServerProc::start();
    let (a, b) = circle_of_two(&server);
    let c = Device::init("gamma");
    let (inv_c, _) = pair(&a, &c);
    // B is at epoch 1; A removes C and shares epoch 2 with B.
    a.json(&["peer", "rm", inv_c["peer"].as_str().unwrap()]);
    // The server replaces B's share with a forgery: one bit flipped in the
    // sealed key (the signature no longer verifies) ...
    let sql = server.sql();
    let (id, mut blob): (i64, Vec<u8>) = sql
        .query_row(
            "SELECT id, blob FROM shares ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let n = blob.len();
    blob[n - 80] ^= 1;
    sql.execute(
        "UPDATE shares SET blob = ?1 WHERE id = ?2",
        rusqlite::params![blob, id],
    )
    .unwrap();
    // ... and adds one of its own: a key of its choosing, sealed to B and
    // signed by a key the server made up.
    let mut rng = VaultRng::new().unwrap();
    let fake_sender = DeviceIdentity::generate(&mut rng);
    let b_keys = stored(&server, 1);
    let EntryBody::AddPeer { peer: b_pub, .. } = &b_keys.entry().body else {
        panic!("seq 1 adds B")
    };
    let (circle, _, _) = server_head(&server);
    let circle_id = uuid::Uuid::from_slice(&circle).unwrap();
    let fake = EpochKey::generate(2, &mut rng);
    let forged = KeyShare::seal(&fake_sender, b_pub, circle_id, &[&fake], &mut rng).unwrap();
    sql.execute(
        "INSERT INTO shares (circle_id, recipient, sender, blob, created) VALUES (?1, ?2, ?3, ?4, 0)",
        rusqlite::params![circle, b_pub.peer_id().as_bytes(), fake_sender.peer_id().as_bytes(), forged.to_bytes()],
    )
    .unwrap();

    let (code, _, err) = b.run(&["peer", "ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("refused a key share"), "{err}");
    assert!(err.contains("signature"), "{err}");
    assert!(err.contains("not a member"), "{err}");
    assert!(err.contains("lacks the key of epoch [2]"), "{err}");
    // B holds no key of epoch 2: none was installed.
    let c = rusqlite::Connection::open(&b.vault).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM key_epochs WHERE epoch = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_joiner_without_the_invite_secret_is_refused() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    a.json(&[
        "circle",
        "create",
        "--server",
        &server.url,
        "--name",
        "alpha",
    ]);
    let invite = Invite::start(&a, &[]);
    let real = vault_core::circle::pairing::parse_code(&invite.code)
        .unwrap()
        .secret;
    // The server (or anyone who learned the invite id) answers with a hello
    // made under another secret.
    let mut rng = VaultRng::new().unwrap();
    let wrong = InviteSecret::generate(&mut rng);
    let me = DeviceIdentity::generate(&mut rng);
    let (_, hello) = JoinerAwaitingHello::start(&wrong, &me, &mut rng);
    use base64::Engine;
    let body = serde_json::json!({
        "message": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hello)
    });
    let resp = common::http_blocking()
        .post(format!(
            "{}/v1/invites/{}/join",
            server.url,
            real.invite_id()
        ))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let (code, _, err) = invite.finish();
    assert_ne!(code, 0);
    assert!(err.contains("invite secret"), "{err}");
    // Nothing was appended: the log still holds the genesis alone.
    assert_eq!(server_head(&server).1, 0);
    assert_eq!(peers_offline(&a), 1);
}

#[test]
fn a_truncated_log_is_refused_unless_it_is_a_prefix_the_device_can_put_back() {
    let server = ServerProc::start();
    let (a, b) = circle_of_two(&server);
    let c = Device::init("gamma");
    pair(&a, &c);
    // B verifies the whole log: genesis, B added, C added.
    assert_eq!(
        b.json(&["peer", "ls"])["peers"].as_array().unwrap().len(),
        3
    );
    let (circle, head, head_hash) = server_head(&server);
    assert_eq!(head, 2);

    // The server drops its last entry and the member row it made, and
    // names a head that is not entry 1 of the log B verified.
    let sql = server.sql();
    let prev = stored(&server, 1);
    sql.execute_batch(
        "DELETE FROM circle_entries WHERE seq = 2; DELETE FROM members WHERE added_seq = 2;",
    )
    .unwrap();
    sql.execute(
        "UPDATE circles SET head_seq = 1, head_hash = ?1 WHERE circle_id = ?2",
        rusqlite::params![[7u8; 32], circle],
    )
    .unwrap();
    let before = b.file_bytes();
    for args in [&["peer", "ls"][..], &["--json", "sync"][..]] {
        let (code, _, err) = b.run(args);
        assert_eq!(code, 7, "{args:?}: {err}");
        assert!(
            err.contains("the server's log ends at entry 1, before entry 2 this device verified"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(b.file_bytes(), before, "a refused log changed the vault");
    assert_eq!(server_head(&server).1, 1, "nothing was posted to a fork");

    // A log that is a prefix of the one B verified (what a restored server
    // serves) gets the rest posted again by B, and B goes on.
    sql.execute(
        "UPDATE circles SET head_hash = ?1 WHERE circle_id = ?2",
        rusqlite::params![prev.hash().0, circle],
    )
    .unwrap();
    assert_eq!(
        b.json(&["peer", "ls"])["peers"].as_array().unwrap().len(),
        3
    );
    assert_eq!(server_head(&server), (circle, 2, head_hash));
    b.sync();
    assert_eq!(
        a.json(&["peer", "ls"])["peers"].as_array().unwrap().len(),
        3
    );
}

/// A joiner that holds the code but names itself with a terminal's escape
/// sequences is refused before the inviting person is shown the name
/// beside the codes; nothing is appended and the joiner hears a refusal.
#[test]
fn a_joiner_named_with_control_characters_is_refused() {
    let server = ServerProc::start();
    let a = Device::init("alpha");
    a.create_circle(&server);
    let invite = Invite::start(&a, &[]);
    let secret = vault_core::circle::pairing::parse_code(&invite.code)
        .unwrap()
        .secret;
    let invite_id = secret.invite_id();
    let mut rng = VaultRng::new().unwrap();
    let me = DeviceIdentity::generate(&mut rng);
    let rt = vault_client::runtime().unwrap();
    let refusal = rt.block_on(async {
        let deadline = || tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut relay = vault_client::Server::new(&server.url, &Default::default()).unwrap();
        let (joiner, hello) = JoinerAwaitingHello::start(&secret, &me, &mut rng);
        relay.join(&invite_id, &hello).await.unwrap();
        let (seq, reply) = relay
            .receive(&invite_id, 0, deadline())
            .await
            .unwrap()
            .unwrap();
        let (_, proof) = joiner
            .receive_hello(&reply, &me, "phone\u{1b}[2J\u{1b}[Hlooks-fine")
            .unwrap();
        relay.send(&invite_id, &proof).await.unwrap();
        relay.receive(&invite_id, seq, deadline()).await.unwrap()
    });
    assert!(refusal.is_some(), "the joiner was not told");
    let (code, _, err) = invite.finish();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("name was refused"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
    assert_eq!(server_head(&server).1, 0);
    assert_eq!(peers_offline(&a), 1);
}
