//! Item-level point-in-time recovery: every kept version of an item, and
//! an earlier version written back as a new one (which syncs like any
//! edit). Front ends (the CLI's `history` and `restore`, the bindings)
//! share these rules.

use super::UnlockedVault;
use crate::error::ItemError;
use crate::item::Item;
use uuid::Uuid;

/// Why a version cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The version asked for is the current one.
    #[error("gen {0} is the current version: nothing to restore")]
    Current(u64),
    /// The history keeps no such version.
    #[error("no gen {version} in the item's history (kept: {})", kept_list(.kept))]
    NoSuchVersion {
        /// The version asked for.
        version: u64,
        /// The versions the history keeps, newest first.
        kept: Vec<u64>,
    },
    /// The version asked for is a deletion.
    #[error("gen {0} is a deletion; delete the item to delete it")]
    Deletion(u64),
    /// The vault could not be read or written.
    #[error(transparent)]
    Item(#[from] ItemError),
}

fn kept_list(kept: &[u64]) -> String {
    if kept.is_empty() {
        return "none".into();
    }
    kept.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The item the version now lives in: the same uuid, or a new one
    /// when the item was deleted (a deleted uuid stays deleted).
    pub uuid: Uuid,
    /// Its gencount now.
    pub gencount: u64,
    /// Whether a new item was made (the old one was deleted).
    pub new_item: bool,
    /// Whether anything was written (false when the version equals the
    /// current one).
    pub changed: bool,
}

impl UnlockedVault {
    /// Every version of an item, current first (a deleted item's
    /// tombstone first), then its history, newest first.
    pub fn versions(&mut self, uuid: Uuid) -> Result<Vec<Item>, ItemError> {
        let current = self.latest(uuid)?;
        let mut all = self.history(uuid)?;
        all.insert(0, current);
        Ok(all)
    }

    /// Writes gen `version` of item `uuid` back as a new version; a deleted
    /// item comes back as a new item with a new uuid.
    pub fn restore(&mut self, uuid: Uuid, version: u64) -> Result<Restored, RestoreError> {
        let versions = self.versions(uuid)?;
        let current = &versions[0];
        if version == current.gencount {
            return Err(RestoreError::Current(version));
        }
        let old = versions[1..]
            .iter()
            .find(|v| v.gencount == version)
            .ok_or_else(|| RestoreError::NoSuchVersion {
                version,
                kept: versions[1..].iter().map(|v| v.gencount).collect(),
            })?;
        if old.deleted {
            return Err(RestoreError::Deletion(version));
        }
        if current.deleted {
            let uuid = self.add(old.data.clone())?;
            let gencount = self.get(uuid)?.gencount;
            return Ok(Restored {
                uuid,
                gencount,
                new_item: true,
                changed: true,
            });
        }
        if old.data == current.data {
            return Ok(Restored {
                uuid,
                gencount: current.gencount,
                new_item: false,
                changed: false,
            });
        }
        let gencount = self.update(uuid, old.data.clone())?;
        Ok(Restored {
            uuid,
            gencount,
            new_item: false,
            changed: true,
        })
    }
}
