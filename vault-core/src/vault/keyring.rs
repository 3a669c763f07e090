//! The keys an unlocked vault holds: key-encryption key, data key,
//! blind-index key and every epoch's vault key.

use crate::crypto::{DataKey, EpochKey, IndexKey, KeyEncryptionKey, unwrap_vault_key};
use crate::error::ItemError;
use rusqlite::Connection;
use uuid::Uuid;

pub(crate) struct Keyring {
    pub kek: KeyEncryptionKey,
    pub dk: DataKey,
    pub index: IndexKey,
    pub epochs: Vec<EpochKey>,
    /// Position of the current epoch in `epochs`.
    current: usize,
}

/// Why the key epochs did not load.
pub(crate) enum EpochLoadError {
    Sqlite(rusqlite::Error),
    /// A wrapped vault key did not open, or the current epoch is missing.
    Damaged,
}

impl From<rusqlite::Error> for EpochLoadError {
    fn from(e: rusqlite::Error) -> Self {
        EpochLoadError::Sqlite(e)
    }
}

impl Keyring {
    pub fn new(
        kek: KeyEncryptionKey,
        dk: DataKey,
        epochs: Vec<EpochKey>,
        current_epoch: u32,
    ) -> Result<Self, EpochLoadError> {
        let current = position(&epochs, current_epoch)?;
        let index = dk.index_key();
        Ok(Self {
            kek,
            dk,
            index,
            epochs,
            current,
        })
    }

    pub fn current(&self) -> &EpochKey {
        &self.epochs[self.current]
    }

    pub fn epoch(&self, key_uuid: Uuid) -> Option<&EpochKey> {
        self.epochs.iter().find(|e| e.key_uuid == key_uuid)
    }

    /// Adds a new epoch and makes it current.
    pub fn push_current(&mut self, epoch: EpochKey) {
        self.epochs.push(epoch);
        self.current = self.epochs.len() - 1;
    }

    /// Adds epochs (keys received from the circle) without changing the current one.
    pub fn install(&mut self, epochs: Vec<EpochKey>) {
        self.epochs.extend(epochs);
    }

    /// Makes epoch `number` current.
    pub fn set_current(&mut self, number: u32) -> Result<(), EpochLoadError> {
        self.current = position(&self.epochs, number)?;
        Ok(())
    }

    /// Replaces every epoch (a join adopts the circle's keys).
    pub fn replace(&mut self, epochs: Vec<EpochKey>, current: u32) -> Result<(), EpochLoadError> {
        let at = position(&epochs, current)?;
        self.epochs = epochs;
        self.current = at;
        Ok(())
    }

    /// Reloads the epochs if another handle rotated the vault key since we
    /// unlocked. Runs inside the caller's write transaction.
    pub fn refresh(&mut self, conn: &Connection, circle_id: Uuid) -> Result<(), ItemError> {
        let current: u32 = conn.query_row(
            "SELECT current_epoch FROM vault_meta WHERE id = 1",
            [],
            |r| r.get(0),
        )?;
        if current == self.current().number {
            return Ok(());
        }
        let epochs = load_epochs(conn, &self.kek, circle_id).map_err(|e| match e {
            EpochLoadError::Sqlite(e) => ItemError::from(e),
            EpochLoadError::Damaged => ItemError::KeysChanged,
        })?;
        self.current = position(&epochs, current).map_err(|_| ItemError::KeysChanged)?;
        self.epochs = epochs;
        Ok(())
    }
}

fn position(epochs: &[EpochKey], number: u32) -> Result<usize, EpochLoadError> {
    epochs
        .iter()
        .position(|e| e.number == number)
        .ok_or(EpochLoadError::Damaged)
}

pub(crate) fn load_epochs(
    conn: &Connection,
    kek: &KeyEncryptionKey,
    circle_id: Uuid,
) -> Result<Vec<EpochKey>, EpochLoadError> {
    let mut stmt =
        conn.prepare_cached("SELECT epoch, key_uuid, wrapped_vk FROM key_epochs ORDER BY epoch")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            Uuid::from_bytes(r.get(1)?),
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (number, key_uuid, blob) = row?;
        let epoch = unwrap_vault_key(kek, number, key_uuid, circle_id, &blob)
            .map_err(|_| EpochLoadError::Damaged)?;
        out.push(epoch);
    }
    Ok(out)
}
