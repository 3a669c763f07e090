//! The zone manifest: a Merkle digest of the live records (uuid, gencount,
//! content hash) in 256 buckets by the uuid's first byte, and the signed
//! manifests devices publish after each sync.
//!
//! ```text
//! bucket hash = SHA-256("vault.v1.mf-bucket" || for each live record
//!               in uuid order: uuid (16) || gencount (u64 BE) || content hash (32))
//! root        = SHA-256("vault.v1.mf-root" || bucket hash 0 || … || bucket hash 255)
//! ```
//!
//! Tombstones are not leaves: a deleted item is the absence of its leaf,
//! so collecting tombstones never changes a root.

use super::list::{Token, WireError, valid_zone};
use crate::circle::{PeerId, PeerKeys};
use crate::crypto::{DeviceIdentity, Hasher, Namespace, hash};
use crate::wire::Reader;
use uuid::Uuid;

/// Buckets per manifest.
pub const BUCKETS: usize = 256;

/// A 32-byte digest.
pub type Digest = [u8; 32];

/// One live record as the manifest sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leaf {
    /// The item's uuid.
    pub uuid: Uuid,
    /// Its version.
    pub gencount: u64,
    /// The content hash of its `wrappedkey` and `encitem`.
    pub content: Digest,
}

/// The hash of one bucket's leaves, which must be in uuid order.
pub fn bucket_hash<'a>(leaves: impl IntoIterator<Item = &'a Leaf>) -> Digest {
    let mut h = Hasher::new(Namespace::ManifestBucket);
    for l in leaves {
        h.update(l.uuid.as_bytes());
        h.update(l.gencount.to_be_bytes());
        h.update(l.content);
    }
    h.finish()
}

/// The hash of an empty bucket.
pub fn empty_bucket() -> Digest {
    bucket_hash(&[])
}

/// The root over all bucket hashes.
pub fn root_of(buckets: &[Digest; BUCKETS]) -> Digest {
    let parts: Vec<&[u8]> = buckets.iter().map(|b| &b[..]).collect();
    hash(Namespace::ManifestRoot, &parts)
}

/// A zone's bucket hashes and root.
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Each bucket's hash.
    pub buckets: Box<[Digest; BUCKETS]>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Manifest {{ root: {} }}",
            crate::circle::ids::hex(&self.root())
        )
    }
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            buckets: Box::new([empty_bucket(); BUCKETS]),
        }
    }
}

impl Manifest {
    /// The manifest of a set of leaves (any order).
    pub fn of(leaves: &[Leaf]) -> Manifest {
        let mut sorted = leaves.to_vec();
        sorted.sort();
        let mut m = Manifest::default();
        for chunk in sorted.chunk_by(|a, b| a.uuid.as_bytes()[0] == b.uuid.as_bytes()[0]) {
            m.buckets[usize::from(chunk[0].uuid.as_bytes()[0])] = bucket_hash(chunk);
        }
        m
    }

    /// The root.
    pub fn root(&self) -> Digest {
        root_of(&self.buckets)
    }

    /// The buckets whose hashes differ from `other`'s.
    pub fn differing(&self, other: &[Digest; BUCKETS]) -> Vec<u8> {
        (0..BUCKETS)
            .filter(|&i| self.buckets[i] != other[i])
            .map(|i| i as u8)
            .collect()
    }

    /// The bucket hashes as one 8 KiB blob (storage and wire).
    pub fn to_blob(&self) -> Vec<u8> {
        self.buckets.concat()
    }

    /// Reads [`Manifest::to_blob`]'s form.
    pub fn from_blob(blob: &[u8]) -> Option<Manifest> {
        if blob.len() != BUCKETS * 32 {
            return None;
        }
        let mut m = Manifest::default();
        for (i, chunk) in blob.chunks_exact(32).enumerate() {
            m.buckets[i].copy_from_slice(chunk);
        }
        Some(m)
    }
}

/// The signed manifest format's version.
pub const MANIFEST_VERSION: u8 = 1;

/// What a device attests after a sync: the zone it reached (root, token,
/// live records) at a circle position, with its own increasing counter so
/// an older manifest cannot be served in place of a newer one.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// The circle.
    pub circle_id: Uuid,
    /// The zone.
    pub zone: String,
    /// The device that signed it.
    pub signer: PeerId,
    /// The signer's counter: +1 per manifest it signs.
    pub counter: u64,
    /// The change token the zone was at.
    pub token: Token,
    /// The circle log head the signer had verified.
    pub circle_pos: u64,
    /// The zone's root.
    pub root: Digest,
    /// Live records in the zone.
    pub count: u64,
    /// Ed25519 over the [`Namespace::ManifestSignature`] label and the
    /// body.
    pub signature: [u8; 64],
}

impl std::fmt::Debug for SignedManifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedManifest")
            .field("zone", &self.zone)
            .field("signer", &self.signer)
            .field("counter", &self.counter)
            .field("token", &self.token)
            .field("circle_pos", &self.circle_pos)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// Why a signed manifest was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// It does not decode.
    #[error("malformed manifest: {0}")]
    Wire(#[from] WireError),
    /// The signature does not verify under the signer's key.
    #[error("the manifest's signature does not verify")]
    BadSignature,
}

impl From<crate::wire::ReadError> for ManifestError {
    fn from(e: crate::wire::ReadError) -> Self {
        ManifestError::Wire(e.into())
    }
}

impl SignedManifest {
    /// The body: everything but the signature.
    ///
    /// ```text
    /// u8 version || circle_id (16) || u8 zone_len || zone || signer (32)
    ///   || counter (u64 BE) || zone epoch (u32 BE) || seq (u64 BE)
    ///   || circle_pos (u64 BE) || root (32) || count (u64 BE)
    /// ```
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(150);
        out.push(MANIFEST_VERSION);
        out.extend_from_slice(self.circle_id.as_bytes());
        out.push(self.zone.len() as u8);
        out.extend_from_slice(self.zone.as_bytes());
        out.extend_from_slice(self.signer.as_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&self.token.epoch.to_be_bytes());
        out.extend_from_slice(&self.token.seq.to_be_bytes());
        out.extend_from_slice(&self.circle_pos.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.count.to_be_bytes());
        out
    }

    /// Signs a manifest as `identity`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        identity: &DeviceIdentity,
        circle_id: Uuid,
        zone: &str,
        counter: u64,
        token: Token,
        circle_pos: u64,
        root: Digest,
        count: u64,
    ) -> SignedManifest {
        let mut m = SignedManifest {
            circle_id,
            zone: zone.to_owned(),
            signer: identity.peer_id(),
            counter,
            token,
            circle_pos,
            root,
            count,
            signature: [0; 64],
        };
        m.signature = identity.sign(Namespace::ManifestSignature, &[&m.body()]);
        m
    }

    /// Decodes a body and its signature (not yet verified).
    pub fn decode(body: &[u8], signature: &[u8]) -> Result<SignedManifest, ManifestError> {
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| ManifestError::BadSignature)?;
        let mut r = Reader::new(body);
        let version = r.u8()?;
        if version != MANIFEST_VERSION {
            return Err(WireError::Version(version).into());
        }
        let circle_id = Uuid::from_bytes(r.array::<16>()?);
        let zone_len = usize::from(r.u8()?);
        let zone = std::str::from_utf8(r.take(zone_len)?)
            .ok()
            .filter(|z| valid_zone(z))
            .ok_or(WireError::Zone)?
            .to_owned();
        let signer = PeerId::from_bytes(r.array::<32>()?);
        let counter = u64::from_be_bytes(r.array::<8>()?);
        let epoch = u32::from_be_bytes(r.array::<4>()?);
        let seq = u64::from_be_bytes(r.array::<8>()?);
        let circle_pos = u64::from_be_bytes(r.array::<8>()?);
        let root = r.array::<32>()?;
        let count = u64::from_be_bytes(r.array::<8>()?);
        r.finish()?;
        Ok(SignedManifest {
            circle_id,
            zone,
            signer,
            counter,
            token: Token { epoch, seq },
            circle_pos,
            root,
            count,
            signature,
        })
    }

    /// Strict Ed25519 verification by `signer`, whose peer id must be the
    /// manifest's signer.
    pub fn verify(&self, signer: &PeerKeys) -> Result<(), ManifestError> {
        if signer.peer_id() != self.signer {
            return Err(ManifestError::BadSignature);
        }
        signer
            .verify(
                Namespace::ManifestSignature,
                &[&self.body()],
                &self.signature,
            )
            .map_err(|_| ManifestError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Plain SHA-256, independent of the code under test.
    fn sha256(bytes: &[u8]) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes).into()
    }
    use crate::crypto::VaultRng;

    fn leaf(first: u8, n: u8) -> Leaf {
        let mut u = [n; 16];
        u[0] = first;
        Leaf {
            uuid: Uuid::from_bytes(u),
            gencount: u64::from(n),
            content: [n; 32],
        }
    }

    #[test]
    fn roots_depend_on_every_leaf_and_not_on_order() {
        let leaves = [leaf(0, 1), leaf(0, 2), leaf(7, 3), leaf(255, 4)];
        let m = Manifest::of(&leaves);
        let mut rev = leaves;
        rev.reverse();
        assert_eq!(Manifest::of(&rev).root(), m.root());
        assert_eq!(m.buckets[1], empty_bucket());
        assert_eq!(m.buckets[0], bucket_hash(&[leaves[0], leaves[1]]));
        let mut changed = leaves;
        changed[2].gencount += 1;
        let m2 = Manifest::of(&changed);
        assert_ne!(m2.root(), m.root());
        assert_eq!(m2.differing(&m.buckets), vec![7]);
        assert_eq!(Manifest::of(&leaves[..3]).differing(&m.buckets), vec![255]);
        assert_eq!(Manifest::from_blob(&m.to_blob()).unwrap(), m);
        assert!(Manifest::from_blob(&[0; 31]).is_none());
    }

    #[test]
    fn bucket_hash_is_pinned() {
        let l = leaf(1, 2);
        let mut want = b"vault.v1.mf-bucket".to_vec();
        want.extend(l.uuid.as_bytes());
        want.extend(2u64.to_be_bytes());
        want.extend([2; 32]);
        assert_eq!(bucket_hash(&[l]), sha256(&want));
    }

    #[test]
    fn signed_manifests_verify_and_round_trip() {
        let mut rng = VaultRng::new().unwrap();
        let id = DeviceIdentity::generate(&mut rng);
        let other = DeviceIdentity::generate(&mut rng);
        let token = Token { epoch: 1, seq: 77 };
        let m = SignedManifest::sign(
            &id,
            Uuid::from_bytes([1; 16]),
            "keychain",
            3,
            token,
            4,
            [9; 32],
            10,
        );
        let back = SignedManifest::decode(&m.body(), &m.signature).unwrap();
        assert_eq!(back, m);
        back.verify(&id.public()).unwrap();
        assert_eq!(
            back.verify(&other.public()),
            Err(ManifestError::BadSignature)
        );
        let mut tampered = back.clone();
        tampered.counter += 1;
        assert_eq!(
            tampered.verify(&id.public()),
            Err(ManifestError::BadSignature)
        );
        let body = m.body();
        assert!(SignedManifest::decode(&body[..body.len() - 1], &m.signature).is_err());
        assert!(SignedManifest::decode(&body, &[0; 63]).is_err());
    }
}
