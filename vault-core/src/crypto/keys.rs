//! One type per key role. Each zeroizes on drop, prints as `<redacted>`, has
//! no `Clone`, and each derivation returns its own type, so a content key
//! cannot be passed where a vault key is meant.

use super::envelope::AeadKey;
use super::hazmat::{self, KEY_LEN};
use super::{Namespace, VaultRng};
use aes_gcm::Aes256Gcm;
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

macro_rules! redacted_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

/// The key PBKDF2 derives from the device password. Lives only as long as
/// it takes to derive the key-encryption key.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);
redacted_debug!(MasterKey);

impl MasterKey {
    /// PBKDF2-HMAC-SHA256 of the password. Public so the KDF's cost can be
    /// measured on its own; the vault calls it with the header's parameters.
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Self {
        #[cfg(test)]
        KDF_RUNS.with(|n| n.set(n.get() + 1));
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        hazmat::pbkdf2_sha256(password, salt, iterations, &mut *out);
        Self(out)
    }

    /// The key of an export file sealed under this (export) password.
    pub(crate) fn export_key(&self) -> ExportKey {
        ExportKey::from_bytes(hazmat::hkdf_sha256(
            None,
            &*self.0,
            Namespace::Export.label(),
        ))
    }

    /// The key-encryption key; never stored.
    pub(crate) fn key_encryption_key(&self) -> KeyEncryptionKey {
        let k = hazmat::hkdf_sha256(None, &*self.0, Namespace::KeyEncryptionKey.label());
        KeyEncryptionKey::from_bytes(k)
    }
}

#[cfg(test)]
thread_local! {
    static KDF_RUNS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How many times this thread has run the password KDF: unit tests count
/// what an unlock costs.
#[cfg(test)]
pub(crate) fn kdf_runs() -> u32 {
    KDF_RUNS.with(std::cell::Cell::get)
}

/// An unlocked vault's key-encryption key, bound to its vault id, for an
/// agent process to hand to later processes of the same user so that they
/// unlock without re-running the KDF. It opens the vault until the master
/// password changes, exactly as the password would; treat it as one.
pub struct SessionKey {
    vault_id: Uuid,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}
redacted_debug!(SessionKey);

impl SessionKey {
    /// Length of [`SessionKey::to_bytes`]: vault id, then key.
    pub const LEN: usize = 16 + KEY_LEN;

    pub(crate) fn new(vault_id: Uuid, kek: &KeyEncryptionKey) -> Self {
        Self {
            vault_id,
            bytes: Zeroizing::new(*kek.dangerously_expose()),
        }
    }

    /// The vault this key opens.
    pub fn vault_id(&self) -> Uuid {
        self.vault_id
    }

    /// The serialized key, for the agent's socket; wiped on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; Self::LEN]> {
        let mut out = Zeroizing::new([0u8; Self::LEN]);
        out[..16].copy_from_slice(self.vault_id.as_bytes());
        out[16..].copy_from_slice(&*self.bytes);
        out
    }

    /// Reads what [`SessionKey::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Self {
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[..16]);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes[16..]);
        Self {
            vault_id: Uuid::from_bytes(id),
            bytes: key,
        }
    }

    pub(crate) fn key_encryption_key(&self) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes(Zeroizing::new(*self.bytes))
    }
}

/// An AES-256-GCM key kept with its expanded cipher (the schedule is
/// computed once; aes-gcm zeroizes it on drop).
macro_rules! aead_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[allow(dead_code, reason = "one macro serves every AEAD key role; not every role uses every accessor")]
        pub struct $name {
            bytes: Zeroizing<[u8; KEY_LEN]>,
            cipher: Aes256Gcm,
        }
        redacted_debug!($name);

        #[allow(dead_code, reason = "one macro serves every AEAD key role; not every role uses every accessor")]
        impl $name {
            pub(crate) fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
                let cipher = hazmat::aes256gcm(&bytes);
                Self { bytes, cipher }
            }

            pub(crate) fn generate(rng: &mut VaultRng) -> Self {
                let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
                rng.fill(&mut *bytes);
                Self::from_bytes(bytes)
            }

            pub(crate) fn cipher(&self) -> &Aes256Gcm {
                &self.cipher
            }

            /// The raw key, for wrapping it under another key. The name says
            /// what it is: a way to leak the key if misused.
            pub(crate) fn dangerously_expose(&self) -> &[u8; KEY_LEN] {
                &self.bytes
            }
        }

        impl AeadKey for $name {
            fn cipher(&self) -> &Aes256Gcm {
                &self.cipher
            }
        }
    };
}

aead_key!(
    /// Derived from the master key by HKDF; wraps the data key, the vault
    /// keys and the device identity keys.
    KeyEncryptionKey
);
aead_key!(
    /// The device's random data key; the blind-index key derives from it.
    DataKey
);
aead_key!(
    /// A vault key of one epoch: wraps every item version's content key.
    VaultKey
);
aead_key!(
    /// A fresh random key per item version: seals `encitem`.
    ContentKey
);

aead_key!(
    /// A key share's one-time key: HKDF of an ephemeral X25519 agreement
    /// with the recipient.
    ShareKey
);
aead_key!(
    /// An export file's key: HKDF of the export password's master key.
    ExportKey
);
aead_key!(
    /// A pairing session's key for messages from the inviter to the joiner.
    InviterToJoinerKey
);
aead_key!(
    /// A pairing session's key for messages from the joiner to the inviter.
    JoinerToInviterKey
);

impl DataKey {
    /// The key of the blind-index columns.
    pub(crate) fn index_key(&self) -> IndexKey {
        IndexKey(hazmat::hkdf_sha256(
            None,
            &*self.bytes,
            Namespace::BlindIndex.label(),
        ))
    }
}

/// The HMAC key of the blind-index columns. Only the key bytes live on (and
/// are wiped on drop); each use keys a fresh HMAC, since a kept keyed state
/// could not be wiped without digest's `zeroize` feature, which would also
/// wipe PBKDF2's 600,000 per-iteration states (KDF 57 -> 80 ms, measured).
pub struct IndexKey(Zeroizing<[u8; KEY_LEN]>);
redacted_debug!(IndexKey);

impl IndexKey {
    /// HMAC-SHA256 over the parts, truncated to 64 bits (a SQLite integer).
    pub(crate) fn blind(&self, parts: &[&[u8]]) -> i64 {
        use hmac::Mac;
        let mut mac = hazmat::hmac_sha256(&self.0);
        for p in parts {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        let full = hazmat::hmac_finish(mac);
        let mut head = [0u8; 8];
        head.copy_from_slice(&full[..8]);
        i64::from_be_bytes(head)
    }
}

/// A vault key together with the epoch it belongs to.
#[derive(Debug)]
pub struct EpochKey {
    pub(crate) number: u32,
    pub(crate) key_uuid: Uuid,
    pub(crate) key: VaultKey,
}

impl EpochKey {
    /// A fresh random vault key for epoch `number`.
    pub fn generate(number: u32, rng: &mut VaultRng) -> Self {
        Self {
            number,
            key_uuid: Uuid::from_bytes(rng.array()),
            key: VaultKey::generate(rng),
        }
    }

    /// The epoch's number (1 for a new vault, +1 per rotation).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The epoch key's uuid: the `parent_key_uuid` of the rows it wraps.
    pub fn key_uuid(&self) -> Uuid {
        self.key_uuid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_debug_redacted() {
        let mut rng = VaultRng::new().unwrap();
        let k = EpochKey::generate(1, &mut rng);
        let hex: String = k
            .key
            .dangerously_expose()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let shown = format!("{k:?}");
        assert!(shown.contains("VaultKey(<redacted>)"), "{shown}");
        assert!(!shown.contains(&hex[..8]));
    }

    #[test]
    fn kek_depends_on_password_and_salt() {
        let a = MasterKey::derive(b"pw", b"salt-salt-salt-salt", 10).key_encryption_key();
        let b = MasterKey::derive(b"pw2", b"salt-salt-salt-salt", 10).key_encryption_key();
        let c = MasterKey::derive(b"pw", b"salt-salt-salt-salu", 10).key_encryption_key();
        assert_ne!(a.dangerously_expose(), b.dangerously_expose());
        assert_ne!(a.dangerously_expose(), c.dangerously_expose());
    }

    #[test]
    fn blind_index_is_keyed_and_length_prefixed() {
        let mut rng = VaultRng::new().unwrap();
        let k1 = DataKey::generate(&mut rng).index_key();
        let k2 = DataKey::generate(&mut rng).index_key();
        assert_eq!(k1.blind(&[b"a", b"bc"]), k1.blind(&[b"a", b"bc"]));
        assert_ne!(k1.blind(&[b"a", b"bc"]), k1.blind(&[b"ab", b"c"]));
        assert_ne!(k1.blind(&[b"a"]), k2.blind(&[b"a"]));
    }
}
