//! The pairing session's keys: the transcript hash, the two directional
//! AES-256-GCM keys, the short authentication string, and the counter
//! nonces of the encrypted messages.

use super::PairingError;
use crate::circle::ids::hex;
use crate::crypto::envelope::{open_labelled, seal_labelled};
use crate::crypto::{
    InviteMacKey, InviterToJoinerKey, JoinerToInviterKey, KEY_LEN, NONCE_LEN, Namespace,
    derive_key, hash,
};
use std::fmt;
use zeroize::Zeroizing;

/// The short authentication string both screens show: 9 decimal digits,
/// `123-456-789`. Equal on both sides only if no one sat in the middle.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sas(u32);

impl Sas {
    /// The number (below 10^9).
    pub fn value(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for Sas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = format!("{:09}", self.0);
        write!(f, "{}-{}-{}", &s[..3], &s[3..6], &s[6..])
    }
}

impl fmt::Debug for Sas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sas({self})")
    }
}

/// Which side of the pairing a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Inviter,
    Joiner,
}

/// Both directions' keys and counters, and what they were derived from.
pub(crate) struct Session {
    role: Role,
    i2j: InviterToJoinerKey,
    j2i: JoinerToInviterKey,
    sent: u64,
    received: u64,
    pub th: [u8; 32],
    pub sas: Sas,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("sas", &self.sas)
            .finish_non_exhaustive()
    }
}

fn fingerprint(key: &[u8; KEY_LEN]) -> String {
    hex(&hash(Namespace::KeyFingerprint, &[key])[..8])
}

fn counter_nonce(n: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[4..].copy_from_slice(&n.to_be_bytes());
    nonce
}

impl Session {
    /// Derives the session from the ephemeral agreement and the transcript
    /// (`m1 || m2`); the invite's MAC key salts every derivation.
    pub fn derive(
        role: Role,
        mac: &InviteMacKey,
        shared: &Zeroizing<[u8; KEY_LEN]>,
        m1: &[u8],
        m2: &[u8],
    ) -> Session {
        let th = hash(Namespace::PairTranscript, &[m1, m2]);
        let hk = |ns| derive_key(ns, Some(&mac.dangerously_expose()[..]), &shared[..], &th);
        let sas_bytes = hk(Namespace::PairSas);
        let mut head = [0u8; 8];
        head.copy_from_slice(&sas_bytes[..8]);
        Session {
            role,
            i2j: InviterToJoinerKey::from_bytes(hk(Namespace::PairInviterToJoiner)),
            j2i: JoinerToInviterKey::from_bytes(hk(Namespace::PairJoinerToInviter)),
            sent: 0,
            received: 0,
            th,
            sas: Sas((u64::from_be_bytes(head) % 1_000_000_000) as u32),
        }
    }

    /// Encrypts a message body after `header` (type and version), with the
    /// next send counter as nonce; the associated data is the
    /// [`Namespace::PairMessage`] label, the header and the transcript hash.
    pub fn seal(&mut self, header: &[u8], plain: &[u8]) -> Result<Vec<u8>, PairingError> {
        let mut out = header.to_vec();
        let nonce = counter_nonce(self.sent);
        let aad: [&[u8]; 2] = [header, &self.th];
        match self.role {
            Role::Inviter => seal_labelled(
                &self.i2j,
                Namespace::PairMessage,
                &aad,
                &nonce,
                plain,
                &mut out,
            ),
            Role::Joiner => seal_labelled(
                &self.j2i,
                Namespace::PairMessage,
                &aad,
                &nonce,
                plain,
                &mut out,
            ),
        }
        .map_err(|_| PairingError::Malformed("message too large"))?;
        self.sent += 1;
        Ok(out)
    }

    /// Decrypts a message with the next receive counter as nonce.
    pub fn open(&mut self, header: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, PairingError> {
        let mut out = Zeroizing::new(Vec::new());
        let nonce = counter_nonce(self.received);
        let aad: [&[u8]; 2] = [header, &self.th];
        match self.role {
            Role::Inviter => open_labelled(
                &self.j2i,
                Namespace::PairMessage,
                &aad,
                &nonce,
                body,
                &mut out,
            ),
            Role::Joiner => open_labelled(
                &self.i2j,
                Namespace::PairMessage,
                &aad,
                &nonce,
                body,
                &mut out,
            ),
        }
        .map_err(|_| PairingError::Decrypt)?;
        self.received += 1;
        Ok(out)
    }

    /// 16 hex digits of a hash of the key this side sends with.
    pub fn send_key_fingerprint(&self) -> String {
        match self.role {
            Role::Inviter => fingerprint(self.i2j.dangerously_expose()),
            Role::Joiner => fingerprint(self.j2i.dangerously_expose()),
        }
    }

    /// 16 hex digits of a hash of the key this side receives with.
    pub fn recv_key_fingerprint(&self) -> String {
        match self.role {
            Role::Inviter => fingerprint(self.j2i.dangerously_expose()),
            Role::Joiner => fingerprint(self.i2j.dangerously_expose()),
        }
    }
}
