//! Domain separation: every HKDF label, AAD prefix and signature prefix comes from this one list.

/// The namespaces of the vault's key derivations, associated data and
/// signatures. Two uses never share a label, so a value made for one cannot
/// be accepted as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// HKDF info: master key → key-encryption key.
    KeyEncryptionKey,
    /// HKDF info: data key → blind-index key.
    BlindIndex,
    /// SHA-256 prefix of an item blob's key commitment.
    KeyCommitment,
    /// AAD prefix of `encitem`.
    EncItem,
    /// AAD prefix of `wrappedkey`.
    WrappedKey,
    /// AAD prefix of a vault key wrapped under the key-encryption key.
    WrappedVaultKey,
    /// AAD prefix of the data key wrapped under the key-encryption key.
    WrappedDataKey,
    /// HKDF info: export password's master key → export key; also the
    /// export file's AAD prefix.
    Export,
    /// AAD prefix of the device identity keys wrapped under the key-encryption key.
    WrappedIdentity,
    /// SHA-256 prefix of a peer id (over the peer's Ed25519 key).
    PeerId,
    /// Signature prefix of a circle log entry.
    CircleEntry,
    /// SHA-256 prefix of a circle log entry's hash.
    CircleHash,
    /// Signature prefix of a server authentication challenge.
    ServerAuth,
    /// SHA-256 prefix of an epoch commitment (key uuid and vault key).
    EpochCommit,
    /// AAD prefix of a device name sealed under a vault key.
    DeviceName,
    /// HKDF info of a key share's encryption key.
    KeyShare,
    /// Signature prefix of a key share.
    ShareSignature,
    /// HKDF info: invite secret → the invite id the server sees.
    InviteId,
    /// HKDF info: invite secret → the pairing MAC key.
    InviteMac,
    /// HMAC prefix of the joiner's hello.
    PairJoinHello,
    /// HMAC prefix of the inviter's hello (over the transcript).
    PairInviterHello,
    /// SHA-256 prefix of the pairing transcript hash.
    PairTranscript,
    /// HKDF info prefix: pairing key inviter → joiner.
    PairInviterToJoiner,
    /// HKDF info prefix: pairing key joiner → inviter.
    PairJoinerToInviter,
    /// HKDF info prefix: the short authentication string.
    PairSas,
    /// Signature prefix of the joiner's proof (transcript and challenge).
    PairProof,
    /// AAD prefix of the encrypted pairing messages.
    PairMessage,
    /// SHA-256 prefix of a session key's fingerprint (for tests and logs).
    KeyFingerprint,
    /// SHA-256 prefix of the safety number two peers compare.
    SafetyNumber,
    /// SHA-256 prefix of a sync record's content hash (wrappedkey and encitem).
    RecordContent,
    /// Signature prefix of a sync record.
    RecordSignature,
    /// SHA-256 prefix of a manifest bucket's hash.
    ManifestBucket,
    /// SHA-256 prefix of a manifest root.
    ManifestRoot,
    /// Signature prefix of a signed manifest.
    ManifestSignature,
    /// SHA-256 prefix of a removal's cut list (the removed peer's records).
    RemovalCut,
    /// Signature prefix of a joiner's confirmation that it joined (the
    /// circle id and the hash of the entry that added it).
    PairJoined,
}

impl Namespace {
    /// Every namespace, for tests that check the labels are distinct.
    pub const ALL: [Namespace; 36] = [
        Namespace::KeyEncryptionKey,
        Namespace::BlindIndex,
        Namespace::KeyCommitment,
        Namespace::EncItem,
        Namespace::WrappedKey,
        Namespace::WrappedVaultKey,
        Namespace::WrappedDataKey,
        Namespace::Export,
        Namespace::WrappedIdentity,
        Namespace::PeerId,
        Namespace::CircleEntry,
        Namespace::CircleHash,
        Namespace::ServerAuth,
        Namespace::EpochCommit,
        Namespace::DeviceName,
        Namespace::KeyShare,
        Namespace::ShareSignature,
        Namespace::InviteId,
        Namespace::InviteMac,
        Namespace::PairJoinHello,
        Namespace::PairInviterHello,
        Namespace::PairTranscript,
        Namespace::PairInviterToJoiner,
        Namespace::PairJoinerToInviter,
        Namespace::PairSas,
        Namespace::PairProof,
        Namespace::PairMessage,
        Namespace::KeyFingerprint,
        Namespace::SafetyNumber,
        Namespace::RecordContent,
        Namespace::RecordSignature,
        Namespace::ManifestBucket,
        Namespace::ManifestRoot,
        Namespace::ManifestSignature,
        Namespace::RemovalCut,
        Namespace::PairJoined,
    ];

    /// The label's bytes. Short enough that a label plus a 32-byte key fits
    /// one SHA-256 block (55 bytes), which keeps the key commitment cheap.
    pub const fn label(self) -> &'static [u8] {
        match self {
            Namespace::KeyEncryptionKey => b"vault.v1.kek",
            Namespace::BlindIndex => b"vault.v1.blind-index",
            Namespace::KeyCommitment => b"vault.v1.key-commit",
            Namespace::EncItem => b"vault.v1.encitem",
            Namespace::WrappedKey => b"vault.v1.wrappedkey",
            Namespace::WrappedVaultKey => b"vault.v1.wrapped-vk",
            Namespace::WrappedDataKey => b"vault.v1.wrapped-dk",
            Namespace::Export => b"vault.v1.export",
            Namespace::WrappedIdentity => b"vault.v1.wrapped-id",
            Namespace::PeerId => b"vault.v1.peer-id",
            Namespace::CircleEntry => b"vault.v1.circle-entry",
            Namespace::CircleHash => b"vault.v1.circle-hash",
            Namespace::ServerAuth => b"vault.v1.server-auth",
            Namespace::EpochCommit => b"vault.v1.epoch-commit",
            Namespace::DeviceName => b"vault.v1.device-name",
            Namespace::KeyShare => b"vault.v1.key-share",
            Namespace::ShareSignature => b"vault.v1.share-sig",
            Namespace::InviteId => b"vault.v1.invite-id",
            Namespace::InviteMac => b"vault.v1.invite-mac",
            Namespace::PairJoinHello => b"vault.v1.pair-hello-j",
            Namespace::PairInviterHello => b"vault.v1.pair-hello-i",
            Namespace::PairTranscript => b"vault.v1.pair-th",
            Namespace::PairInviterToJoiner => b"vault.v1.pair-i2j",
            Namespace::PairJoinerToInviter => b"vault.v1.pair-j2i",
            Namespace::PairSas => b"vault.v1.pair-sas",
            Namespace::PairProof => b"vault.v1.pair-proof",
            Namespace::PairMessage => b"vault.v1.pair-msg",
            Namespace::KeyFingerprint => b"vault.v1.key-fp",
            Namespace::SafetyNumber => b"vault.v1.safety-num",
            Namespace::RecordContent => b"vault.v1.record-content",
            Namespace::RecordSignature => b"vault.v1.record-sig",
            Namespace::ManifestBucket => b"vault.v1.mf-bucket",
            Namespace::ManifestRoot => b"vault.v1.mf-root",
            Namespace::ManifestSignature => b"vault.v1.mf-sig",
            Namespace::RemovalCut => b"vault.v1.removal-cut",
            Namespace::PairJoined => b"vault.v1.pair-joined",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_fit_one_sha256_block_with_a_key() {
        let mut seen = std::collections::HashSet::new();
        for ns in Namespace::ALL {
            assert!(seen.insert(ns.label()), "{ns:?} reuses a label");
            assert!(ns.label().len() + 32 <= 55, "{ns:?} label too long");
        }
    }

    #[test]
    fn labels_are_pinned() {
        // Changing a label makes every existing vault unreadable and breaks
        // the wire protocol (schema/PROTOCOL.md names three): pin them.
        let all: Vec<&[u8]> = Namespace::ALL.iter().map(|n| n.label()).collect();
        assert_eq!(
            all,
            [
                &b"vault.v1.kek"[..],
                b"vault.v1.blind-index",
                b"vault.v1.key-commit",
                b"vault.v1.encitem",
                b"vault.v1.wrappedkey",
                b"vault.v1.wrapped-vk",
                b"vault.v1.wrapped-dk",
                b"vault.v1.export",
                b"vault.v1.wrapped-id",
                b"vault.v1.peer-id",
                b"vault.v1.circle-entry",
                b"vault.v1.circle-hash",
                b"vault.v1.server-auth",
                b"vault.v1.epoch-commit",
                b"vault.v1.device-name",
                b"vault.v1.key-share",
                b"vault.v1.share-sig",
                b"vault.v1.invite-id",
                b"vault.v1.invite-mac",
                b"vault.v1.pair-hello-j",
                b"vault.v1.pair-hello-i",
                b"vault.v1.pair-th",
                b"vault.v1.pair-i2j",
                b"vault.v1.pair-j2i",
                b"vault.v1.pair-sas",
                b"vault.v1.pair-proof",
                b"vault.v1.pair-msg",
                b"vault.v1.key-fp",
                b"vault.v1.safety-num",
                b"vault.v1.record-content",
                b"vault.v1.record-sig",
                b"vault.v1.mf-bucket",
                b"vault.v1.mf-root",
                b"vault.v1.mf-sig",
                b"vault.v1.removal-cut",
                b"vault.v1.pair-joined",
            ]
        );
    }
}
