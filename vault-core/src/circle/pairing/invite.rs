//! The invite secret and its code: `SERVER_URL#xxxx-xxxx-…`, 160 random
//! bits in lowercase RFC 4648 base32. The server sees only the invite id,
//! a one-way derivation, so it cannot guess the secret offline.

use super::PairingError;
use crate::circle::ids::hex;
use crate::crypto::{InviteMacKey, Namespace, VaultRng, derive_key};
use data_encoding::BASE32_NOPAD;
use std::fmt;
use zeroize::Zeroizing;

/// Bytes of an invite secret (160 bits).
pub const INVITE_SECRET_LEN: usize = 20;
/// Base32 characters of an invite secret.
const CODE_CHARS: usize = 32;

/// The secret an invite code carries. Wiped on drop, never printed.
pub struct InviteSecret(Zeroizing<[u8; INVITE_SECRET_LEN]>);

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteSecret(<redacted>)")
    }
}

impl InviteSecret {
    /// 160 fresh random bits.
    pub fn generate(rng: &mut VaultRng) -> Self {
        let mut s = Zeroizing::new([0u8; INVITE_SECRET_LEN]);
        rng.fill(&mut *s);
        Self(s)
    }

    /// The code to show the joiner: `SERVER_URL#xxxx-xxxx-…` (lowercase
    /// base32 in groups of four).
    pub fn code(&self, server_url: &str) -> String {
        let b32 = Zeroizing::new(BASE32_NOPAD.encode(&*self.0).to_ascii_lowercase());
        let groups: Vec<&str> = b32
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!("{server_url}#{}", groups.join("-"))
    }

    /// Reads a code: the server URL and the secret. Case, dashes and
    /// spaces in the secret do not matter.
    pub fn parse_code(code: &str) -> Result<(String, InviteSecret), PairingError> {
        let (url, secret) = code
            .trim()
            .rsplit_once('#')
            .ok_or(PairingError::BadCode("no '#' between server and secret"))?;
        if url.is_empty() {
            return Err(PairingError::BadCode("no server URL"));
        }
        let cleaned: Zeroizing<String> = Zeroizing::new(
            secret
                .chars()
                .filter(|c| *c != '-' && !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        if cleaned.chars().count() != CODE_CHARS {
            return Err(PairingError::BadCode("the secret has the wrong length"));
        }
        let mut out = Zeroizing::new([0u8; INVITE_SECRET_LEN]);
        let n = BASE32_NOPAD
            .decode_mut(cleaned.as_bytes(), &mut *out)
            .map_err(|_| PairingError::BadCode("the secret is not base32"))?;
        if n != INVITE_SECRET_LEN {
            return Err(PairingError::BadCode("the secret has the wrong length"));
        }
        Ok((url.to_owned(), InviteSecret(out)))
    }

    /// The invite's id on the server: 32 hex digits of an HKDF of the secret.
    pub fn invite_id(&self) -> String {
        hex(&self.invite_id_bytes())
    }

    pub(crate) fn invite_id_bytes(&self) -> [u8; 16] {
        let k = derive_key(Namespace::InviteId, None, &*self.0, &[]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&k[..16]);
        id
    }

    pub(crate) fn mac_key(&self) -> InviteMacKey {
        InviteMacKey::derive(&*self.0)
    }
}
