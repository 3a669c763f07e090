//! Key changes: a new master password (re-wraps the data key and the vault
//! keys: O(1) in the number of items), the same re-wrap under the NFC form
//! of a password a vault from before normalization was derived from raw,
//! and vault-key rotation (a new epoch; every content key re-wrapped in one
//! transaction, no `encitem` touched).

use super::KdfParams;
use super::UnlockedVault;
use super::header::{Header, KDF_PBKDF2_SHA256, SALT_LEN};
use super::keyring::Keyring;
use super::wrapped;
use crate::crypto::{
    DeviceIdentity, EpochKey, KdfPassword, KeyEncryptionKey, MasterKey, VaultRng,
    rewrap_content_key, unwrap_data_key, unwrap_vault_key, wrap_data_key, wrap_vault_key,
};
use crate::error::{ItemError, KeyChangeError, StorageError};
use rusqlite::{Connection, TransactionBehavior, params};
use uuid::Uuid;

impl UnlockedVault {
    /// Changes the master password. `current` is checked first; `kdf` sets
    /// the new parameters (a new salt is always drawn). Both passwords go to
    /// the KDF in Unicode NFC; `current` may also be the raw form a vault
    /// created before that normalization was derived from.
    pub fn change_password(
        &mut self,
        current: &str,
        new: &str,
        kdf: KdfParams,
    ) -> Result<(), KeyChangeError> {
        let current = KdfPassword::new(current);
        let new = KdfPassword::new(new);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read the header inside the transaction: another handle may have
        // changed the password since this one unlocked.
        let header = Header::read(&tx)?
            .ok_or(StorageError::Corrupt(rusqlite::Error::QueryReturnedNoRows))?;
        let iterations =
            u32::try_from(header.iterations).map_err(|_| KeyChangeError::WrongPassword)?;
        // Lazily: the raw form's KDF runs only if the NFC form fails.
        let current_kek = [Some(current.nfc()), current.legacy()]
            .into_iter()
            .flatten()
            .map(|pw| {
                MasterKey::derive(pw.as_bytes(), &header.salt, iterations).key_encryption_key()
            })
            .find(|kek| unwrap_data_key(kek, &header.canonical(), &header.wrapped_dk).is_ok())
            .ok_or(KeyChangeError::WrongPassword)?;
        self.keys.kek = current_kek;
        let (header, kek) = rewrap_password(
            &tx,
            &mut self.keys,
            &self.identity,
            &mut self.rng,
            header,
            new.nfc(),
            kdf,
        )?;
        tx.commit()?;
        self.keys.kek = kek;
        self.header = header;
        Ok(())
    }

    /// Called when only the raw form of the password opened this vault (its
    /// keys were wrapped before passwords were normalized): re-wraps them
    /// under `nfc`, the NFC form, with the same iterations and a new salt,
    /// so every keyboard's form of the password opens it with one KDF. Best
    /// effort: a storage failure (busy, read-only) leaves the old wrap,
    /// which still opens, for a later unlock to retry.
    pub(crate) fn adopt_normalized_password(&mut self, nfc: &str) {
        // The error says nothing secret, and the unlock succeeded anyway.
        let _ = self.try_adopt_normalized_password(nfc);
    }

    fn try_adopt_normalized_password(&mut self, nfc: &str) -> Result<(), KeyChangeError> {
        // The same iterations: the header below must equal this one to go on.
        let kdf = self.kdf_params();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let header = Header::read(&tx)?
            .ok_or(StorageError::Corrupt(rusqlite::Error::QueryReturnedNoRows))?;
        if header.canonical() != self.header.canonical()
            || header.wrapped_dk != self.header.wrapped_dk
        {
            // Another handle re-wrapped (or changed the password) since this
            // one read the header. Take up its wrap if the NFC form opens
            // it, so this handle wraps any key it makes under the key every
            // other handle unlocks with; if it does not, the password
            // changed, and this handle stays as any handle does then.
            drop(tx);
            let Some(iterations) = u32::try_from(header.iterations)
                .ok()
                .filter(|i| (1..=KdfParams::MAX_ITERATIONS).contains(i))
            else {
                return Ok(());
            };
            let kek =
                MasterKey::derive(nfc.as_bytes(), &header.salt, iterations).key_encryption_key();
            if unwrap_data_key(&kek, &header.canonical(), &header.wrapped_dk).is_ok() {
                self.keys.kek = kek;
                self.header.kdf_alg = header.kdf_alg;
                self.header.iterations = header.iterations;
                self.header.salt = header.salt;
                self.header.wrapped_dk = header.wrapped_dk;
            }
            return Ok(());
        }
        let (header, kek) = rewrap_password(
            &tx,
            &mut self.keys,
            &self.identity,
            &mut self.rng,
            header,
            nfc,
            kdf,
        )?;
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

/// The write half of a password change, inside the caller's transaction
/// `tx`: `header` was read in `tx` and `keys.kek` was checked to open it.
/// Draws a new salt, derives the key of `new` (already NFC) with `kdf`, and
/// re-wraps under it the data key, every epoch's vault key, the device
/// identity and the pending epoch keys: O(1) in the number of items.
/// Returns the new header and key-encryption key, for the caller to install
/// once `tx` commits.
fn rewrap_password(
    tx: &Connection,
    keys: &mut Keyring,
    identity: &DeviceIdentity,
    rng: &mut VaultRng,
    mut header: Header,
    new: &str,
    kdf: KdfParams,
) -> Result<(Header, KeyEncryptionKey), KeyChangeError> {
    keys.refresh(tx, header.circle_id)?;
    header.kdf_alg = KDF_PBKDF2_SHA256;
    header.iterations = kdf.iterations().into();
    header.salt = rng.array::<SALT_LEN>().to_vec();
    let kek =
        MasterKey::derive(new.as_bytes(), &header.salt, kdf.iterations()).key_encryption_key();
    header.wrapped_dk = wrap_data_key(&kek, &keys.dk, &header.canonical(), rng);
    header.update_kdf(tx)?;
    for epoch in &keys.epochs {
        let wrapped = wrap_vault_key(&kek, epoch, header.circle_id, rng);
        tx.execute(
            "UPDATE key_epochs SET wrapped_vk = ?1 WHERE epoch = ?2",
            params![wrapped, epoch.number()],
        )?;
    }
    let wrapped_identity = identity.wrap(&kek, header.vault_id, rng);
    wrapped::update_identity_wrap(tx, &wrapped_identity)?;
    for (number, key_uuid, blob) in wrapped::read_pending(tx)? {
        // A pending key that no longer opens is useless: drop it.
        match unwrap_vault_key(&keys.kek, number, key_uuid, header.circle_id, &blob) {
            Ok(pending) => {
                let wrapped = wrap_vault_key(&kek, &pending, header.circle_id, rng);
                wrapped::insert_pending(tx, &pending, &wrapped)?;
            }
            Err(_) => wrapped::delete_pending(tx, key_uuid)?,
        }
    }
    Ok((header, kek))
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
