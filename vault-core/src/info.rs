//! What a locked vault tells without its password: the header, item
//! counts, the stored circle and the sync status. It reads the tables of
//! every subsystem, so it sits above them all.

use crate::LockedVault;
use crate::circle::CircleSummary;
use crate::crypto::DEFAULT_ZONE;
use crate::error::OpenError;
use crate::item::ItemClass;
use crate::vault::header::Header;
use crate::vault::items;
use uuid::Uuid;

/// A vault's header as read from a locked file ([`LockedVault::info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultInfo {
    /// The vault's id.
    pub vault_id: Uuid,
    /// PBKDF2-HMAC-SHA256 iterations of the current password.
    pub kdf_iterations: u32,
    /// The current key epoch's number.
    pub key_epoch: u32,
    /// Live items per class, in [`ItemClass::ALL`] order.
    pub counts: [u64; 3],
    /// The circle this vault belongs to, as last verified.
    pub circle: Option<CircleSummary>,
    /// Local changes waiting, the last sync and the quarantine.
    pub sync: crate::sync::SyncStatus,
}

impl LockedVault {
    /// What the header says, before any key is derived: nothing here is
    /// authenticated until an unlock succeeds.
    pub fn info(&self) -> Result<VaultInfo, OpenError> {
        let header = Header::read(&self.conn)
            .map_err(|e| OpenError::Storage(e.into()))?
            .ok_or(OpenError::Corrupt)?;
        let mut counts = [0u64; 3];
        for (n, class) in ItemClass::ALL.into_iter().enumerate() {
            counts[n] =
                items::count_rows(&self.conn, class).map_err(|e| OpenError::Storage(e.into()))?;
        }
        let circle = crate::circle::store::db::summary(&self.conn)
            .map_err(|e| OpenError::Storage(e.into()))?;
        let sync = crate::sync::engine::status(&self.conn, DEFAULT_ZONE).map_err(|e| match e {
            crate::sync::SyncError::Storage(s) => OpenError::Storage(s),
            _ => OpenError::Corrupt,
        })?;
        Ok(VaultInfo {
            vault_id: header.vault_id,
            kdf_iterations: u32::try_from(header.iterations).unwrap_or(u32::MAX),
            key_epoch: header.current_epoch,
            counts,
            circle,
            sync,
        })
    }
}
