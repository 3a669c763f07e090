//! The invite secret and its code: `SERVER_URL[#sha256-PIN]#xxxx-xxxx-…`, 160 random
//! bits in lowercase RFC 4648 base32. The server sees only the invite id,
//! a one-way derivation, so it cannot guess the secret offline.

use super::PairingError;
use crate::circle::ids::hex;
use crate::crypto::{InviteMacKey, Namespace, VaultRng, derive_key};
use data_encoding::BASE32_NOPAD;
use std::fmt;
use zeroize::Zeroizing;

/// What marks a certificate pin in a code.
const PIN_PREFIX: &str = "sha256-";

/// A parsed invite code.
#[derive(Debug)]
pub struct InviteCode {
    /// The circle's server.
    pub server_url: String,
    /// The SHA-256 of the server certificate the inviter saw, if the code
    /// carries one.
    pub cert_pin: Option<[u8; 32]>,
    /// The invite secret.
    pub secret: InviteSecret,
}

impl InviteCode {
    /// Reads a code: the server URL, the certificate pin if any, and the
    /// secret. Case, dashes and spaces in the secret do not matter.
    pub fn parse(code: &str) -> Result<InviteCode, PairingError> {
        let (head, secret) = code
            .trim()
            .rsplit_once('#')
            .ok_or(PairingError::BadCode("no '#' between server and secret"))?;
        let (url, cert_pin) = match head.split_once('#') {
            None => (head, None),
            Some((url, pin)) => {
                let pin = pin.to_ascii_lowercase();
                let pin = pin
                    .strip_prefix(PIN_PREFIX)
                    .and_then(|p| BASE32_NOPAD.decode(p.to_ascii_uppercase().as_bytes()).ok())
                    .and_then(|p| <[u8; 32]>::try_from(p).ok())
                    .ok_or(PairingError::BadCode("the certificate pin is malformed"))?;
                (url, Some(pin))
            }
        };
        if url.is_empty() {
            return Err(PairingError::BadCode("no server URL"));
        }
        Ok(InviteCode {
            server_url: url.to_owned(),
            cert_pin,
            secret: InviteSecret::from_code_part(secret)?,
        })
    }
}

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

    /// The code to show the joiner: `SERVER_URL[#sha256-PIN]#xxxx-xxxx-…`
    /// (lowercase base32 in groups of four). `cert_pin`, the SHA-256 of a
    /// certificate the inviter's connection to the server saw, lets a
    /// joiner without the circle's CA authenticate the server.
    pub fn code(&self, server_url: &str, cert_pin: Option<&[u8; 32]>) -> String {
        let b32 = Zeroizing::new(BASE32_NOPAD.encode(&*self.0).to_ascii_lowercase());
        let groups: Vec<&str> = b32
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        let pin = cert_pin
            .map(|p| {
                format!(
                    "#{PIN_PREFIX}{}",
                    BASE32_NOPAD.encode(p).to_ascii_lowercase()
                )
            })
            .unwrap_or_default();
        format!("{server_url}{pin}#{}", groups.join("-"))
    }

    /// Reads a code: [`InviteCode::parse`].
    pub fn parse_code(code: &str) -> Result<InviteCode, PairingError> {
        InviteCode::parse(code)
    }

    fn from_code_part(secret: &str) -> Result<InviteSecret, PairingError> {
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
        Ok(InviteSecret(out))
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
