//! Key changes: a new master password (re-wraps the data key and the vault
//! keys: O(1) in the number of items) and vault-key rotation (a new epoch;
//! every content key re-wrapped in one transaction, no `encitem` touched).

use super::KdfParams;
use super::UnlockedVault;
use super::header::{Header, KDF_PBKDF2_SHA256, SALT_LEN};
use super::keyring::Keyring;
use super::wrapped;
use crate::crypto::{
    EpochKey, MasterKey, VaultRng, rewrap_content_key, unwrap_data_key, unwrap_vault_key,
    wrap_data_key, wrap_vault_key,
};
use crate::error::{ItemError, KeyChangeError, StorageError};
use rusqlite::{Connection, TransactionBehavior, params};
use uuid::Uuid;

impl UnlockedVault {
    /// Changes the master password. `current` is checked first; `kdf` sets
    /// the new parameters (a new salt is always drawn).
    pub fn change_password(
        &mut self,
        current: &str,
        new: &str,
        kdf: KdfParams,
    ) -> Result<(), KeyChangeError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read the header inside the transaction: another handle may have
        // changed the password since this one unlocked.
        let mut header = Header::read(&tx)?
            .ok_or(StorageError::Corrupt(rusqlite::Error::QueryReturnedNoRows))?;
        let iterations =
            u32::try_from(header.iterations).map_err(|_| KeyChangeError::WrongPassword)?;
        let current_kek =
            MasterKey::derive(current.as_bytes(), &header.salt, iterations).key_encryption_key();
        unwrap_data_key(&current_kek, &header.canonical(), &header.wrapped_dk)
            .map_err(|_| KeyChangeError::WrongPassword)?;
        self.keys.kek = current_kek;
        self.keys.refresh(&tx, header.circle_id)?;

        header.kdf_alg = KDF_PBKDF2_SHA256;
        header.iterations = kdf.iterations().into();
        header.salt = self.rng.array::<SALT_LEN>().to_vec();
        let kek =
            MasterKey::derive(new.as_bytes(), &header.salt, kdf.iterations()).key_encryption_key();
        header.wrapped_dk = wrap_data_key(&kek, &self.keys.dk, &header.canonical(), &mut self.rng);
        header.update_kdf(&tx)?;
        for epoch in &self.keys.epochs {
            let wrapped = wrap_vault_key(&kek, epoch, header.circle_id, &mut self.rng);
            tx.execute(
                "UPDATE key_epochs SET wrapped_vk = ?1 WHERE epoch = ?2",
                params![wrapped, epoch.number()],
            )?;
        }
        let identity = self.identity.wrap(&kek, header.vault_id, &mut self.rng);
        wrapped::update_identity_wrap(&tx, &identity)?;
        for (number, key_uuid, blob) in wrapped::read_pending(&tx)? {
            // A pending key that no longer opens is useless: drop it.
            match unwrap_vault_key(&self.keys.kek, number, key_uuid, header.circle_id, &blob) {
                Ok(pending) => {
                    let wrapped = wrap_vault_key(&kek, &pending, header.circle_id, &mut self.rng);
                    wrapped::insert_pending(&tx, &pending, &wrapped)?;
                }
                Err(_) => wrapped::delete_pending(&tx, key_uuid)?,
            }
        }
        tx.commit()?;
        self.keys.kek = kek;
        self.header = header;
        Ok(())
    }

    /// Starts a new key epoch: a fresh vault key wraps every content key of
    /// every item and history version, in one transaction. Returns the new
    /// epoch's number.
    pub fn rotate_vault_key(&mut self) -> Result<u32, KeyChangeError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if in_circle(&tx)? {
            return Err(KeyChangeError::InCircle);
        }
        self.keys.refresh(&tx, self.header.circle_id)?;
        let number = self
            .keys
            .epochs
            .iter()
            .map(|e| e.number())
            .max()
            .unwrap_or(0)
            + 1;
        let new = EpochKey::generate(number, &mut self.rng);
        let wrapped = wrap_vault_key(&self.keys.kek, &new, self.header.circle_id, &mut self.rng);
        tx.execute(
            "INSERT INTO key_epochs (epoch, key_uuid, wrapped_vk) VALUES (?1, ?2, ?3)",
            params![number, new.key_uuid().as_bytes(), wrapped],
        )?;
        tx.execute(
            "UPDATE vault_meta SET current_epoch = ?1 WHERE id = 1",
            [number],
        )?;
        rewrap_all(&tx, &self.keys, &new, &mut self.rng)?;
        tx.commit()?;
        self.keys.push_current(new);
        self.header.current_epoch = number;
        Ok(number)
    }
}

/// Re-wraps the content key of every item and history version to `to`,
/// from whichever epoch of `keys` wraps it now. Runs inside the caller's
/// transaction; no `encitem` is touched.
pub(crate) fn rewrap_all(
    tx: &Connection,
    keys: &Keyring,
    to: &EpochKey,
    rng: &mut VaultRng,
) -> Result<(), ItemError> {
    for (table, id) in [
        ("inet", "rowid"),
        ("genp", "rowid"),
        ("keys", "rowid"),
        ("item_history", "id"),
    ] {
        let rows: Vec<(i64, Uuid, Uuid, Vec<u8>)> = tx
            .prepare(&format!(
                "SELECT {id}, uuid, parent_key_uuid, wrappedkey FROM {table}"
            ))?
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    Uuid::from_bytes(r.get(1)?),
                    Uuid::from_bytes(r.get(2)?),
                    r.get(3)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut update = tx.prepare(&format!(
            "UPDATE {table} SET parent_key_uuid = ?1, wrappedkey = ?2 WHERE {id} = ?3"
        ))?;
        for (rowid, uuid, parent, wrappedkey) in rows {
            if parent == to.key_uuid() {
                continue;
            }
            let from = keys.epoch(parent).ok_or(ItemError::UnknownKeyEpoch(uuid))?;
            let rewrapped = rewrap_content_key(from, to, uuid, &wrappedkey, rng)
                .map_err(|source| ItemError::Decrypt { uuid, source })?;
            update.execute(params![to.key_uuid().as_bytes(), rewrapped, rowid])?;
        }
    }
    Ok(())
}

/// Whether this vault belongs to a circle: there, a new epoch goes through
/// the circle log instead.
fn in_circle(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM circle)", [], |r| r.get(0))
}
