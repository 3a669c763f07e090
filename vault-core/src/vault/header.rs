//! The vault header (the one `vault_meta` row) and the KDF parameters it
//! carries. Its canonical bytes are the associated data of the wrapped
//! data key, so no field of it can change without the password noticing.

use crate::error::WeakKdf;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// The header's layout version.
pub(crate) const HEADER_FORMAT: i64 = 1;
/// KDF id: PBKDF2-HMAC-SHA256.
pub(crate) const KDF_PBKDF2_SHA256: i64 = 1;
pub(crate) const SALT_LEN: usize = 32;

/// Password KDF parameters: PBKDF2-HMAC-SHA256 with an iteration count.
/// They are chosen locally, stored in the header and authenticated; they
/// never come from a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    iterations: u32,
}

impl KdfParams {
    /// The default and the floor: OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
    pub const MIN_ITERATIONS: u32 = 600_000;
    /// A ceiling that keeps an unlock under a minute on slow machines.
    pub const MAX_ITERATIONS: u32 = 50_000_000;

    /// PBKDF2-HMAC-SHA256 with `iterations`, refused below the floor.
    pub fn pbkdf2_sha256(iterations: u32) -> Result<Self, WeakKdf> {
        if !(Self::MIN_ITERATIONS..=Self::MAX_ITERATIONS).contains(&iterations) {
            return Err(WeakKdf {
                iterations,
                minimum: Self::MIN_ITERATIONS,
                maximum: Self::MAX_ITERATIONS,
            });
        }
        Ok(Self { iterations })
    }

    /// Parameters below the floor, for tests and benchmarks that create many
    /// vaults. Never use this for a real vault: a stolen file falls to a
    /// password guesser in proportion to how cheap this is.
    pub fn insecure_for_tests_only(iterations: u32) -> Self {
        Self {
            iterations: iterations.max(1),
        }
    }

    /// Parameters read back from a header that already authenticated.
    pub(crate) fn stored(iterations: u32) -> Self {
        Self { iterations }
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            iterations: Self::MIN_ITERATIONS,
        }
    }
}

/// The `vault_meta` row.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub vault_id: Uuid,
    pub format: i64,
    pub kdf_alg: i64,
    pub iterations: i64,
    pub salt: Vec<u8>,
    pub wrapped_dk: Vec<u8>,
    pub current_epoch: u32,
    pub circle_id: Uuid,
}

impl Header {
    /// The bytes the wrapped data key's AAD binds: format, KDF id,
    /// iterations, salt and vault id, at fixed widths.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 8 + 8 + 2 + self.salt.len() + 16);
        out.extend_from_slice(&self.format.to_be_bytes());
        out.extend_from_slice(&self.kdf_alg.to_be_bytes());
        out.extend_from_slice(&self.iterations.to_be_bytes());
        out.extend_from_slice(&(self.salt.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(self.vault_id.as_bytes());
        out
    }

    pub fn read(conn: &Connection) -> rusqlite::Result<Option<Header>> {
        conn.query_row(
            "SELECT vault_id, format, kdf_alg, kdf_iterations, kdf_salt, wrapped_dk,
                    current_epoch, circle_id FROM vault_meta WHERE id = 1",
            [],
            |r| {
                Ok(Header {
                    vault_id: Uuid::from_bytes(r.get(0)?),
                    format: r.get(1)?,
                    kdf_alg: r.get(2)?,
                    iterations: r.get(3)?,
                    salt: r.get(4)?,
                    wrapped_dk: r.get(5)?,
                    current_epoch: r.get(6)?,
                    circle_id: Uuid::from_bytes(r.get(7)?),
                })
            },
        )
        .optional()
    }

    pub fn insert(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.execute(
            "INSERT INTO vault_meta (id, vault_id, format, kdf_alg, kdf_iterations, kdf_salt,
                                     wrapped_dk, current_epoch, circle_id)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                self.vault_id.as_bytes(),
                self.format,
                self.kdf_alg,
                self.iterations,
                self.salt,
                self.wrapped_dk,
                self.current_epoch,
                self.circle_id.as_bytes()
            ],
        )?;
        Ok(())
    }

    /// Writes the KDF parameters, salt and wrapped data key (password change).
    pub fn update_kdf(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.execute(
            "UPDATE vault_meta SET kdf_alg = ?1, kdf_iterations = ?2, kdf_salt = ?3, wrapped_dk = ?4
             WHERE id = 1",
            params![self.kdf_alg, self.iterations, self.salt, self.wrapped_dk],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_is_enforced_on_the_public_path() {
        assert!(KdfParams::pbkdf2_sha256(599_999).is_err());
        assert_eq!(
            KdfParams::pbkdf2_sha256(600_000).unwrap().iterations(),
            600_000
        );
        assert_eq!(KdfParams::default().iterations(), 600_000);
        assert!(KdfParams::pbkdf2_sha256(u32::MAX).is_err());
    }

    #[test]
    fn canonical_bytes_are_pinned() {
        let h = Header {
            vault_id: Uuid::from_bytes([7; 16]),
            format: 1,
            kdf_alg: 1,
            iterations: 600_000,
            salt: vec![9; 32],
            wrapped_dk: vec![],
            current_epoch: 1,
            circle_id: Uuid::nil(),
        };
        let mut want = Vec::new();
        want.extend_from_slice(&1i64.to_be_bytes());
        want.extend_from_slice(&1i64.to_be_bytes());
        want.extend_from_slice(&600_000i64.to_be_bytes());
        want.extend_from_slice(&[0, 32]);
        want.extend_from_slice(&[9; 32]);
        want.extend_from_slice(&[7; 16]);
        assert_eq!(h.canonical(), want);
    }
}
