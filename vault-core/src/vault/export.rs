//! Password-encrypted export files: a front end's serialized items sealed
//! under a key derived from an export password, to move a vault between
//! devices or keep a backup that reads nothing without that password.
//!
//! Layout: `"VLTX" || version (1) || PBKDF2 iterations (u32 BE) || salt (32)
//! || nonce (12) || AES-256-GCM(ciphertext || tag)`. Everything before the
//! ciphertext is the associated data, so altering the iterations, salt or
//! version fails authentication.
//!
//! The export password goes to the KDF in Unicode NFC, as the master
//! password does; an export sealed before that normalization opens with
//! the password's raw form, which [`open_export`] tries second.

use super::KdfParams;
use crate::crypto::envelope::{open_labelled, seal_labelled};
use crate::crypto::{ExportKey, KdfPassword, MasterKey, NONCE_LEN, Namespace, TAG_LEN, VaultRng};
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"VLTX";
const VERSION: u8 = 1;
const SALT_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + 1 + 4 + SALT_LEN + NONCE_LEN;

/// Why an export did not seal or open.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Not an export file (no `VLTX` magic) or cut short.
    #[error("not a vault export file")]
    NotAnExport,
    /// A format version this library does not read.
    #[error("unsupported export version {0}")]
    UnsupportedVersion(u8),
    /// The iteration count is outside what a vault accepts.
    #[error("the export's KDF parameters are out of range")]
    BadKdf,
    /// Wrong password, or the file was altered.
    #[error("wrong export password, or the file was altered")]
    WrongPasswordOrTampered,
    /// The plaintext is too large to seal.
    #[error("the export is too large")]
    TooLarge,
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
}

/// Seals `plaintext` under `password` (its NFC form) with a fresh salt and
/// nonce.
pub fn seal_export(
    password: &str,
    kdf: KdfParams,
    plaintext: &[u8],
) -> Result<Vec<u8>, ExportError> {
    seal_under(KdfPassword::new(password).nfc(), kdf, plaintext)
}

/// [`seal_export`] with the KDF's input as given (unit tests pass a raw,
/// unnormalized password to build an export as one from before).
fn seal_under(kdf_input: &str, kdf: KdfParams, plaintext: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut rng = VaultRng::new().map_err(ExportError::Random)?;
    let salt: [u8; SALT_LEN] = rng.array();
    let nonce: [u8; NONCE_LEN] = rng.array();
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&kdf.iterations().to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    let header = out.clone();
    let key = export_key(kdf_input, &salt, kdf.iterations());
    seal_labelled(
        &key,
        Namespace::Export,
        &[&header],
        &nonce,
        plaintext,
        &mut out,
    )
    .map_err(|_| ExportError::TooLarge)?;
    Ok(out)
}

/// Opens what [`seal_export`] sealed; the plaintext is wiped on drop. The
/// key is derived from the password's NFC form, then, if that fails and
/// the password as given is not NFC, from the raw form (an export sealed
/// before normalization).
pub fn open_export(password: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    if sealed.len() < HEADER_LEN + TAG_LEN || &sealed[..4] != MAGIC {
        return Err(ExportError::NotAnExport);
    }
    if sealed[4] != VERSION {
        return Err(ExportError::UnsupportedVersion(sealed[4]));
    }
    let mut it = [0u8; 4];
    it.copy_from_slice(&sealed[5..9]);
    let iterations = u32::from_be_bytes(it);
    if !(1..=KdfParams::MAX_ITERATIONS).contains(&iterations) {
        return Err(ExportError::BadKdf);
    }
    let salt = &sealed[9..9 + SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[9 + SALT_LEN..HEADER_LEN]);
    let password = KdfPassword::new(password);
    // Lazily: the raw form's KDF runs only if the NFC form fails.
    for form in [Some(password.nfc()), password.legacy()]
        .into_iter()
        .flatten()
    {
        let key = export_key(form, salt, iterations);
        let mut out = Zeroizing::new(Vec::new());
        if open_labelled(
            &key,
            Namespace::Export,
            &[&sealed[..HEADER_LEN]],
            &nonce,
            &sealed[HEADER_LEN..],
            &mut out,
        )
        .is_ok()
        {
            return Ok(out);
        }
    }
    Err(ExportError::WrongPasswordOrTampered)
}

/// Whether `bytes` look like an export file (by its magic only).
pub fn is_export(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn export_key(password: &str, salt: &[u8], iterations: u32) -> ExportKey {
    MasterKey::derive(password.as_bytes(), salt, iterations).export_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kdf() -> KdfParams {
        KdfParams::insecure_for_tests_only(10)
    }

    #[test]
    fn round_trip() {
        let sealed = seal_export("pw", kdf(), b"{\"items\":[]}").unwrap();
        assert!(is_export(&sealed));
        assert_eq!(&open_export("pw", &sealed).unwrap()[..], b"{\"items\":[]}");
    }

    #[test]
    fn wrong_password_and_every_flipped_byte_are_refused() {
        let sealed = seal_export("pw", kdf(), b"secret items").unwrap();
        assert!(matches!(
            open_export("other", &sealed),
            Err(ExportError::WrongPasswordOrTampered)
        ));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open_export("pw", &bad).is_err(), "byte {i} flipped");
        }
    }

    #[test]
    fn junk_and_truncation_are_not_exports() {
        assert!(matches!(
            open_export("pw", b"{\"items\": []}"),
            Err(ExportError::NotAnExport)
        ));
        let sealed = seal_export("pw", kdf(), b"x").unwrap();
        assert!(matches!(
            open_export("pw", &sealed[..HEADER_LEN]),
            Err(ExportError::NotAnExport)
        ));
    }

    #[test]
    fn an_export_sealed_before_normalization_opens_with_its_raw_form() {
        use unicode_normalization::UnicodeNormalization;
        let nfc = "Café-Ångström-ñ";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfd.as_bytes(), nfc.as_bytes());
        let legacy = seal_under(&nfd, kdf(), b"old items").unwrap();
        assert_eq!(&open_export(&nfd, &legacy).unwrap()[..], b"old items");
        // The NFC form cannot know which raw bytes were used.
        assert!(matches!(
            open_export(nfc, &legacy),
            Err(ExportError::WrongPasswordOrTampered)
        ));
        // A new export is sealed under the NFC form, whatever form is typed.
        let new = seal_export(&nfd, kdf(), b"new items").unwrap();
        assert_eq!(&open_under(nfc, &new).unwrap()[..], b"new items");
        assert!(open_under(&nfd, &new).is_none());
    }

    /// Opens with exactly `kdf_input`, no second form.
    fn open_under(kdf_input: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let key = export_key(kdf_input, &sealed[9..9 + SALT_LEN], 10);
        let nonce: [u8; NONCE_LEN] = sealed[9 + SALT_LEN..HEADER_LEN].try_into().unwrap();
        let mut out = Zeroizing::new(Vec::new());
        open_labelled(
            &key,
            Namespace::Export,
            &[&sealed[..HEADER_LEN]],
            &nonce,
            &sealed[HEADER_LEN..],
            &mut out,
        )
        .ok()?;
        Some(out)
    }

    #[test]
    fn no_plaintext_in_the_file() {
        let sealed = seal_export("pw", kdf(), b"hunter2-distinctive").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"hunter2-"));
    }
}
