//! Domain separation: every HKDF label and every AAD prefix comes from this one list.

/// The namespaces of the vault's key derivations and associated data. Two
/// uses never share a label, so a value made for one cannot be accepted as
/// the other.
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
}

impl Namespace {
    /// Every namespace, for tests that check the labels are distinct.
    pub const ALL: [Namespace; 8] = [
        Namespace::KeyEncryptionKey,
        Namespace::BlindIndex,
        Namespace::KeyCommitment,
        Namespace::EncItem,
        Namespace::WrappedKey,
        Namespace::WrappedVaultKey,
        Namespace::WrappedDataKey,
        Namespace::Export,
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
        // Changing a label makes every existing vault unreadable: pin them.
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
            ]
        );
    }
}
