//! Pairing a new device: pure state machines, no I/O. Each step consumes
//! its state and returns the next one and the bytes to relay through the
//! server, which sees only opaque messages.
//!
//! ```text
//! joiner  → inviter  JoinHello     1 | 1 | invite_id 16 | signing 32 | agreement 32 | eph 32 | nonce 32 | mac 32
//!                    mac = HMAC(K_mac, "vault.v1.pair-hello-j" || everything before it)
//! inviter → joiner   InviterHello  2 | 1 | circle_id 16 | genesis 32 | signing 32 | agreement 32 | eph 32 | challenge 32 | mac 32
//!                    mac = HMAC(K_mac, "vault.v1.pair-hello-i" || m1 || everything before it)
//! both:   th = SHA-256("vault.v1.pair-th" || m1 || m2)
//!         K_i2j, K_j2i, SAS = HKDF(salt = K_mac, ikm = X25519(e_i, e_j), info = label || th)
//! joiner  → inviter  JoinProof     3 | 1 | AES-GCM(K_j2i, nonce = counter, aad = "vault.v1.pair-msg" || 3 | 1 || th,
//!                                               Ed25519(joiner, "vault.v1.pair-proof" || th || challenge) 64 | name_len u8 | name)
//! inviter → joiner   Welcome       4 | 1 | AES-GCM(K_i2j, nonce = counter, aad = "vault.v1.pair-msg" || 4 | 1 || th,
//!                                               add-peer entry hash 32 | key share)
//! inviter → joiner   Anchor        5 | 1 | AES-GCM(K_i2j, nonce = counter, aad = "vault.v1.pair-msg" || 5 | 1 || th,
//!                                               anchor: the inviter's newest signed manifest, or nothing)
//! inviter → joiner   Refusal       6 | 1 | AES-GCM(K_i2j, nonce = counter, aad = "vault.v1.pair-msg" || 6 | 1 || th, empty)
//!                                  instead of the welcome, when the inviter's person refuses the SAS
//! joiner  → inviter  Confirmation  7 | 1 | sig 64 | AES-GCM(K_j2i, nonce = counter, aad = "vault.v1.pair-msg" || 7 | 1 | sig || th, empty)
//!                                  sig = Ed25519(joiner, "vault.v1.pair-joined" || circle_id || add-peer entry hash)
//!                                  once the joiner verified the log and stored the join
//! joiner  → inviter  Rejection     8 | 1 | AES-GCM(K_j2i, nonce = counter, aad = "vault.v1.pair-msg" || 8 | 1 || th, reason u8)
//!                                  instead, when the joiner refuses the circle or cannot finish
//! ```
//!
//! The add-peer entry counts only once the joiner confirms: until then
//! the inviter keeps a pending add and removes the peer again if no
//! confirmation comes (`confirm`). The confirmation's signature can be
//! checked without the session, so an inviter restarted after a crash
//! can still recognise it on the relay.
//!
//! `K_mac = HKDF(secret, "vault.v1.invite-mac")`: the hellos prove both
//! sides know the invite secret, so the relaying server can neither join
//! nor sit in the middle. Replaying a message into another session fails
//! its MAC or its AEAD (fresh ephemerals, nonce and challenge per session).
//! (Just over 500 lines: the state machines of both sides, read in the
//! order the messages flow; messages, refusal, anchor and confirmation
//! already sit in their own files.)

mod anchor;
mod confirm;
mod error;
mod invite;
mod refusal;
mod session;

pub use anchor::MAX_ANCHOR_LEN;
pub use confirm::{CONFIRMATION_LEN, InviterAwaitingConfirmation, Rejection, check_confirmation};
pub use error::PairingError;

pub use invite::{INVITE_SECRET_LEN, InviteCode, InviteSecret};

/// Reads an invite code: [`InviteCode::parse`].
pub fn parse_code(code: &str) -> Result<InviteCode, PairingError> {
    InviteCode::parse(code)
}
pub use session::Sas;

use super::entry::{MAX_NAME_LEN, check_keys};
use super::ids::{EntryHash, PeerId, PeerKeys};
use super::share::KeyShare;
use crate::crypto::{DeviceIdentity, EphemeralSecret, InviteMacKey, Namespace, VaultRng};
use session::{Role, Session};
use std::fmt;
use uuid::Uuid;

/// The pairing messages' version byte.
pub const PAIRING_VERSION: u8 = 1;

const JOIN_HELLO: u8 = 1;
const INVITER_HELLO: u8 = 2;
const JOIN_PROOF: u8 = 3;
const WELCOME: u8 = 4;
const JOIN_HELLO_LEN: usize = 2 + 16 + 64 + 32 + 32 + 32;
const INVITER_HELLO_LEN: usize = 2 + 16 + 32 + 64 + 32 + 32 + 32;
const MAC_LEN: usize = 32;

fn check_header(msg: &[u8], expected: u8) -> Result<(), PairingError> {
    if msg.len() < 2 {
        return Err(PairingError::Malformed("truncated"));
    }
    if msg[0] != expected {
        return Err(PairingError::UnexpectedMessage {
            expected,
            found: msg[0],
        });
    }
    if msg[1] != PAIRING_VERSION {
        return Err(PairingError::UnknownVersion(msg[1]));
    }
    Ok(())
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

fn agree(
    eph: &EphemeralSecret,
    their: &[u8; 32],
) -> Result<zeroize::Zeroizing<[u8; 32]>, PairingError> {
    eph.agree(their).ok_or(PairingError::WeakKey)
}

/// The joiner, having sent its hello, waits for the inviter's.
pub struct JoinerAwaitingHello {
    mac: InviteMacKey,
    eph: EphemeralSecret,
    me: PeerKeys,
    m1: Vec<u8>,
}

impl fmt::Debug for JoinerAwaitingHello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinerAwaitingHello(<redacted>)")
    }
}

impl JoinerAwaitingHello {
    /// Starts pairing as the joiner: returns the state and the hello to
    /// post to `/v1/invites/{invite_id}/join`.
    pub fn start(
        secret: &InviteSecret,
        me: &DeviceIdentity,
        rng: &mut VaultRng,
    ) -> (Self, Vec<u8>) {
        let eph = EphemeralSecret::generate(rng);
        let keys = me.public();
        let mut m1 = Vec::with_capacity(JOIN_HELLO_LEN);
        m1.extend_from_slice(&[JOIN_HELLO, PAIRING_VERSION]);
        m1.extend_from_slice(&secret.invite_id_bytes());
        m1.extend_from_slice(&keys.signing);
        m1.extend_from_slice(&keys.agreement);
        m1.extend_from_slice(&eph.public());
        m1.extend_from_slice(&rng.array::<32>());
        let mac = secret.mac_key();
        let tag = mac.mac(Namespace::PairJoinHello, &[&m1]);
        m1.extend_from_slice(&tag);
        let state = Self {
            mac,
            eph,
            me: keys,
            m1: m1.clone(),
        };
        (state, m1)
    }

    /// Reads the inviter's hello, checks it proves the invite secret over
    /// the transcript, and answers with the proof (this device's signature
    /// over the transcript and the challenge, and its name, encrypted).
    pub fn receive_hello(
        self,
        m2: &[u8],
        me: &DeviceIdentity,
        device_name: &str,
    ) -> Result<(JoinerAwaitingWelcome, Vec<u8>), PairingError> {
        if me.public() != self.me {
            return Err(PairingError::IdentityMismatch);
        }
        if device_name.len() > MAX_NAME_LEN {
            return Err(PairingError::Malformed("device name too long"));
        }
        check_header(m2, INVITER_HELLO)?;
        if m2.len() != INVITER_HELLO_LEN {
            return Err(PairingError::Malformed("inviter hello length"));
        }
        let (body, tag) = m2.split_at(m2.len() - MAC_LEN);
        if !self
            .mac
            .verify(Namespace::PairInviterHello, &[&self.m1, body], tag)
        {
            return Err(PairingError::BadInviteProof);
        }
        let circle_id = Uuid::from_bytes(array(m2, 2));
        let genesis = EntryHash(array(m2, 18));
        let inviter = PeerKeys {
            signing: array(m2, 50),
            agreement: array(m2, 82),
        };
        check_keys(&inviter).map_err(|_| PairingError::WeakKey)?;
        let eph_i: [u8; 32] = array(m2, 114);
        let challenge: [u8; 32] = array(m2, 146);
        let shared = agree(&self.eph, &eph_i)?;
        let mut session = Session::derive(Role::Joiner, &self.mac, &shared, &self.m1, m2);
        let sig = me.sign(Namespace::PairProof, &[&session.th, &challenge]);
        let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(64 + 1 + device_name.len()));
        plain.extend_from_slice(&sig);
        plain.push(device_name.len() as u8);
        plain.extend_from_slice(device_name.as_bytes());
        let m3 = session.seal(&[JOIN_PROOF, PAIRING_VERSION], &plain)?;
        let next = JoinerAwaitingWelcome {
            session,
            circle_id,
            genesis,
            inviter,
            me: self.me,
            welcomed: None,
        };
        Ok((next, m3))
    }
}

/// The joiner, having proved itself, waits for the welcome.
#[derive(Debug)]
pub struct JoinerAwaitingWelcome {
    session: Session,
    circle_id: Uuid,
    genesis: EntryHash,
    inviter: PeerKeys,
    me: PeerKeys,
    /// The add-peer entry's hash, once the welcome and anchor opened.
    welcomed: Option<EntryHash>,
}

/// What the joiner receives at the end: everything
/// [`UnlockedVault::join_circle`](crate::UnlockedVault::join_circle) needs
/// besides the log.
#[derive(Debug, Clone)]
pub struct Welcome {
    /// The circle joined.
    pub circle_id: Uuid,
    /// The genesis the inviter vouches for: verify the log from it.
    pub genesis: EntryHash,
    /// The inviter's peer id (pass it to `join_circle`).
    pub inviter: PeerId,
    /// The inviter's keys.
    pub inviter_keys: PeerKeys,
    /// The hash of the add-peer entry that added this device.
    pub add_peer: EntryHash,
    /// The vault keys, sealed to this device by the inviter.
    pub share: KeyShare,
    /// The short authentication string.
    pub sas: Sas,
    /// Fingerprint of the key the joiner sent with.
    pub send_key_fingerprint: String,
    /// Fingerprint of the key the joiner received with.
    pub recv_key_fingerprint: String,
}

impl JoinerAwaitingWelcome {
    /// The short authentication string to compare with the inviter's screen.
    pub fn sas(&self) -> Sas {
        self.session.sas
    }

    /// The circle the inviter says it is inviting to.
    pub fn circle_id(&self) -> Uuid {
        self.circle_id
    }

    /// The genesis hash the inviter vouches for.
    pub fn genesis(&self) -> EntryHash {
        self.genesis
    }

    /// The inviter's keys.
    pub fn inviter(&self) -> &PeerKeys {
        &self.inviter
    }

    /// A fingerprint of this side's sending key.
    pub fn send_key_fingerprint(&self) -> String {
        self.session.send_key_fingerprint()
    }

    /// A fingerprint of this side's receiving key.
    pub fn recv_key_fingerprint(&self) -> String {
        self.session.recv_key_fingerprint()
    }

    /// Opens the welcome: the key share and the add-peer entry's hash.
    pub fn receive_welcome(mut self, m4: &[u8]) -> Result<Welcome, PairingError> {
        self.open_welcome(m4)
    }

    fn open_welcome(&mut self, m4: &[u8]) -> Result<Welcome, PairingError> {
        check_header(m4, WELCOME)?;
        let plain = self.session.open(&m4[..2], &m4[2..])?;
        if plain.len() < 32 {
            return Err(PairingError::Malformed("welcome too short"));
        }
        let add_peer = EntryHash(array(&plain, 0));
        let share = KeyShare::from_bytes(&plain[32..])?;
        if share.recipient() != self.me.peer_id() {
            return Err(PairingError::WrongRecipient);
        }
        Ok(Welcome {
            circle_id: self.circle_id,
            genesis: self.genesis,
            inviter: self.inviter.peer_id(),
            inviter_keys: self.inviter.clone(),
            add_peer,
            share,
            sas: self.session.sas,
            send_key_fingerprint: self.session.send_key_fingerprint(),
            recv_key_fingerprint: self.session.recv_key_fingerprint(),
        })
    }
}

/// The inviter, having published the invite, waits for a joiner's hello.
pub struct InviterAwaitingJoin {
    secret: InviteSecret,
    circle_id: Uuid,
    genesis: EntryHash,
    me: PeerKeys,
}

impl fmt::Debug for InviterAwaitingJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviterAwaitingJoin")
            .field("circle_id", &self.circle_id)
            .finish_non_exhaustive()
    }
}

/// The joiner, as the inviter verified it: add it with
/// [`UnlockedVault::prepare_add_peer`](crate::UnlockedVault::prepare_add_peer)
/// once the user confirmed the SAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The joiner's public keys.
    pub keys: PeerKeys,
    /// The joiner's peer id.
    pub peer_id: PeerId,
    /// The joiner's device name.
    pub name: String,
    /// The short authentication string.
    pub sas: Sas,
}

impl InviterAwaitingJoin {
    /// Starts pairing as the inviter of `circle_id` (whose genesis is
    /// `genesis`), as the member with keys `me`.
    pub fn new(secret: InviteSecret, circle_id: Uuid, genesis: EntryHash, me: PeerKeys) -> Self {
        Self {
            secret,
            circle_id,
            genesis,
            me,
        }
    }

    /// The id to register the invite under on the server.
    pub fn invite_id(&self) -> String {
        self.secret.invite_id()
    }

    /// Checks the joiner's hello proves the invite secret, and answers with
    /// this side's hello and a fresh challenge.
    pub fn receive_hello(
        self,
        m1: &[u8],
        rng: &mut VaultRng,
    ) -> Result<(InviterAwaitingProof, Vec<u8>), PairingError> {
        check_header(m1, JOIN_HELLO)?;
        if m1.len() != JOIN_HELLO_LEN {
            return Err(PairingError::Malformed("join hello length"));
        }
        let mac = self.secret.mac_key();
        let (body, tag) = m1.split_at(m1.len() - MAC_LEN);
        if !mac.verify(Namespace::PairJoinHello, &[body], tag)
            || array::<16>(m1, 2) != self.secret.invite_id_bytes()
        {
            return Err(PairingError::BadInviteProof);
        }
        let joiner = PeerKeys {
            signing: array(m1, 18),
            agreement: array(m1, 50),
        };
        check_keys(&joiner).map_err(|_| PairingError::WeakKey)?;
        let eph_j: [u8; 32] = array(m1, 82);
        let eph = EphemeralSecret::generate(rng);
        let shared = agree(&eph, &eph_j)?;
        let challenge: [u8; 32] = rng.array();
        let mut m2 = Vec::with_capacity(INVITER_HELLO_LEN);
        m2.extend_from_slice(&[INVITER_HELLO, PAIRING_VERSION]);
        m2.extend_from_slice(self.circle_id.as_bytes());
        m2.extend_from_slice(&self.genesis.0);
        m2.extend_from_slice(&self.me.signing);
        m2.extend_from_slice(&self.me.agreement);
        m2.extend_from_slice(&eph.public());
        m2.extend_from_slice(&challenge);
        let tag = mac.mac(Namespace::PairInviterHello, &[m1, &m2]);
        m2.extend_from_slice(&tag);
        let session = Session::derive(Role::Inviter, &mac, &shared, m1, &m2);
        let next = InviterAwaitingProof {
            session,
            joiner,
            challenge,
            circle_id: self.circle_id,
        };
        Ok((next, m2))
    }
}

/// The inviter waits for the joiner's proof.
#[derive(Debug)]
pub struct InviterAwaitingProof {
    session: Session,
    joiner: PeerKeys,
    challenge: [u8; 32],
    circle_id: Uuid,
}

impl InviterAwaitingProof {
    /// The short authentication string to compare with the joiner's screen.
    pub fn sas(&self) -> Sas {
        self.session.sas
    }

    /// A fingerprint of this side's sending key.
    pub fn send_key_fingerprint(&self) -> String {
        self.session.send_key_fingerprint()
    }

    /// A fingerprint of this side's receiving key.
    pub fn recv_key_fingerprint(&self) -> String {
        self.session.recv_key_fingerprint()
    }

    /// Opens the joiner's proof and verifies its signature over the
    /// transcript and the challenge with the key from its hello.
    pub fn receive_proof(
        mut self,
        m3: &[u8],
    ) -> Result<(InviterVerified, JoinRequest), PairingError> {
        check_header(m3, JOIN_PROOF)?;
        let plain = self.session.open(&m3[..2], &m3[2..])?;
        if plain.len() < 65 || plain.len() != 65 + usize::from(plain[64]) {
            return Err(PairingError::Malformed("join proof length"));
        }
        let sig: [u8; 64] = array(&plain, 0);
        let vk = self
            .joiner
            .verifying_key()
            .map_err(|_| PairingError::WeakKey)?;
        vk.verify(
            Namespace::PairProof,
            &[&self.session.th[..], &self.challenge[..]],
            &sig,
        )
        .map_err(|_| PairingError::BadProof)?;
        let name = std::str::from_utf8(&plain[65..])
            .map_err(|_| PairingError::Malformed("device name is not UTF-8"))?
            .to_owned();
        let request = JoinRequest {
            peer_id: self.joiner.peer_id(),
            keys: self.joiner.clone(),
            name,
            sas: self.session.sas,
        };
        Ok((
            InviterVerified {
                session: self.session,
                joiner: self.joiner,
                circle_id: self.circle_id,
            },
            request,
        ))
    }
}

/// The inviter has verified the joiner; once the add-peer entry is in the
/// log and the share sealed, it sends the welcome.
#[derive(Debug)]
pub struct InviterVerified {
    session: Session,
    joiner: PeerKeys,
    circle_id: Uuid,
}

impl InviterVerified {
    /// The short authentication string.
    pub fn sas(&self) -> Sas {
        self.session.sas
    }

    /// A fingerprint of this side's sending key.
    pub fn send_key_fingerprint(&self) -> String {
        self.session.send_key_fingerprint()
    }

    /// A fingerprint of this side's receiving key.
    pub fn recv_key_fingerprint(&self) -> String {
        self.session.recv_key_fingerprint()
    }

    /// The welcome: the add-peer entry's hash and the share sealed to the joiner.
    pub fn welcome(
        mut self,
        share: &KeyShare,
        add_peer: EntryHash,
    ) -> Result<Vec<u8>, PairingError> {
        self.seal_welcome(share, add_peer)
    }

    fn seal_welcome(
        &mut self,
        share: &KeyShare,
        add_peer: EntryHash,
    ) -> Result<Vec<u8>, PairingError> {
        if share.recipient() != self.joiner.peer_id() {
            return Err(PairingError::WrongRecipient);
        }
        let plain = [&add_peer.0[..], &share.to_bytes()].concat();
        self.session.seal(&[WELCOME, PAIRING_VERSION], &plain)
    }
}

#[cfg(test)]
mod tests;
