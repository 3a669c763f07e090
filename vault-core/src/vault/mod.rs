//! The vault file: create, open, unlock, lock. A [`LockedVault`] can only
//! be unlocked; items are read and written through an [`UnlockedVault`].
//!
//! Owns the file and its tables' storage: schema and migrations
//! (`schema`), the header (`header`), the keys in memory (`keyring`) and
//! the blobs wrapped under the key-encryption key (`wrapped`), item rows and
//! their blind indexes (`rows`), items, lookups and history (`items`),
//! the QUERY resolver (`resolve`), restoring a version (`restore`), the
//! search cache (`search`), password changes and key rotation (`rekey`),
//! export files (`export`), and the outbox every local write marks
//! (`outbox`). `UnlockedVault`'s circle methods live in `circle/store`, its
//! sync methods in `sync/engine`: those sit above this layer, which imports
//! only `crypto`, `wire`, `secret`, `item`, `circle`, `sync` (formats) and
//! `error` (`tests/layering.rs`).

pub mod export;
pub(crate) mod header;
pub(crate) mod items;
pub(crate) mod keyring;
#[cfg(test)]
mod legacy_password_tests;
pub(crate) mod outbox;
pub(crate) mod rekey;
pub(crate) mod resolve;
pub(crate) mod restore;
pub(crate) mod rows;
pub(crate) mod schema;
pub(crate) mod search;
pub(crate) mod wrapped;

pub use header::KdfParams;
pub use items::Lookup;
pub use resolve::{MAX_REPORTED, MIN_UUID_PREFIX, MatchRule, Resolution, ResolveError, Selector};
pub use restore::{RestoreError, Restored};
pub use schema::{DEFAULT_BUSY_TIMEOUT, SCHEMA_VERSION};

use crate::crypto::{
    DEFAULT_ZONE, DataKey, DeviceIdentity, EpochKey, KdfPassword, KeyEncryptionKey, MasterKey,
    SessionKey, VaultRng, unwrap_data_key, wrap_data_key, wrap_vault_key,
};
use crate::error::{CreateError, OpenError, StorageError, UnlockError};
use header::{HEADER_FORMAT, Header, KDF_PBKDF2_SHA256, SALT_LEN};
use keyring::{EpochLoadError, Keyring, load_epochs};
use rusqlite::{Connection, TransactionBehavior, params};
use search::SearchCache;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// How a vault handle behaves.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// How long a write waits for another handle's lock before
    /// [`StorageError::Busy`].
    pub busy_timeout: Duration,
    /// How many earlier versions of each item are kept.
    pub history_limit: u32,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            history_limit: 20,
        }
    }
}

/// Entry points: create a vault file or open one.
#[derive(Debug)]
pub struct Vault;

impl Vault {
    /// Creates a vault at `path` (refusing an existing file) and returns it
    /// unlocked. Use [`KdfParams::default`] (PBKDF2, 600,000 iterations).
    /// The KDF takes the password in Unicode NFC, so the same password typed
    /// on a keyboard that composes accents and on one that decomposes them
    /// (macOS, iOS) opens the vault.
    pub fn create(
        path: impl AsRef<Path>,
        password: &str,
        kdf: KdfParams,
    ) -> Result<UnlockedVault, CreateError> {
        Self::create_with(path, password, kdf, VaultOptions::default())
    }

    /// [`Vault::create`] with options.
    pub fn create_with(
        path: impl AsRef<Path>,
        password: &str,
        kdf: KdfParams,
        options: VaultOptions,
    ) -> Result<UnlockedVault, CreateError> {
        let path = path.as_ref();
        let conn = schema::create_new(path, options.busy_timeout).inspect_err(|e| {
            if !matches!(e, CreateError::AlreadyExists) {
                remove_vault_files(path);
            }
        })?;
        let password = KdfPassword::new(password);
        init_keys(conn, path, password.nfc().as_bytes(), kdf, options)
            .inspect_err(|_| remove_vault_files(path))
    }

    /// Opens an existing vault, locked. Nothing is written unless the file
    /// has an older schema, which is migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<LockedVault, OpenError> {
        Self::open_with(path, VaultOptions::default())
    }

    /// [`Vault::open`] with options.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: VaultOptions,
    ) -> Result<LockedVault, OpenError> {
        let path = path.as_ref();
        let conn = schema::open_existing(path, options.busy_timeout)?;
        match Header::read(&conn) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(OpenError::Corrupt),
            Err(e) => {
                return Err(match StorageError::from(e) {
                    StorageError::Corrupt(_) => OpenError::Corrupt,
                    other => OpenError::Storage(other),
                });
            }
        }
        Ok(LockedVault {
            conn,
            path: absolute(path),
            options,
        })
    }
}

/// The vault's absolute path: the search cache's workers reopen the file
/// by path, which must not depend on a later change of directory.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

fn remove_vault_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Writes the header and the first keys. `kdf_input` is what PBKDF2 takes:
/// the password's NFC form (unit tests pass raw bytes to build a vault as
/// one made before normalization).
fn init_keys(
    mut conn: Connection,
    path: &Path,
    kdf_input: &[u8],
    kdf: KdfParams,
    options: VaultOptions,
) -> Result<UnlockedVault, CreateError> {
    let mut rng = VaultRng::new().map_err(CreateError::Random)?;
    let vault_id = Uuid::from_bytes(rng.array());
    let mut header = Header {
        vault_id,
        format: HEADER_FORMAT,
        kdf_alg: KDF_PBKDF2_SHA256,
        iterations: kdf.iterations().into(),
        salt: rng.array::<SALT_LEN>().to_vec(),
        wrapped_dk: Vec::new(),
        current_epoch: 1,
        circle_id: vault_id,
    };
    let kek = MasterKey::derive(kdf_input, &header.salt, kdf.iterations()).key_encryption_key();
    let dk = DataKey::generate(&mut rng);
    header.wrapped_dk = wrap_data_key(&kek, &dk, &header.canonical(), &mut rng);
    let epoch = EpochKey::generate(1, &mut rng);
    let wrapped_vk = wrap_vault_key(&kek, &epoch, header.circle_id, &mut rng);
    let identity = DeviceIdentity::generate(&mut rng);
    let wrapped_id = identity.wrap(&kek, vault_id, &mut rng);
    let tx = conn.transaction().map_err(StorageError::from)?;
    header.insert(&tx).map_err(StorageError::from)?;
    wrapped::insert_identity(&tx, &identity, &wrapped_id).map_err(StorageError::from)?;
    tx.execute(
        "INSERT INTO key_epochs (epoch, key_uuid, wrapped_vk) VALUES (?1, ?2, ?3)",
        params![epoch.number(), epoch.key_uuid().as_bytes(), wrapped_vk],
    )
    .map_err(StorageError::from)?;
    tx.commit().map_err(StorageError::from)?;
    let keys = match Keyring::new(kek, dk, vec![epoch], 1) {
        Ok(k) => k,
        Err(_) => unreachable!("epoch 1 was just created"),
    };
    Ok(UnlockedVault {
        conn,
        path: absolute(path),
        options,
        header,
        keys,
        rng,
        zone: DEFAULT_ZONE.to_owned(),
        search: None,
        identity,
        circle: std::cell::RefCell::new(None),
    })
}

/// Loads the device identity, or creates it (a vault from before schema 2)
/// in its own transaction.
fn load_identity(
    conn: &mut Connection,
    kek: &KeyEncryptionKey,
    vault_id: Uuid,
    rng: &mut VaultRng,
) -> Result<DeviceIdentity, UnlockError> {
    let open = |peer_id, blob: Vec<u8>| {
        DeviceIdentity::unwrap(kek, vault_id, &peer_id, &blob)
            .map_err(|_| UnlockError::Corrupt("the device identity does not open"))
    };
    if let Some((peer_id, blob)) = wrapped::read_identity(conn)? {
        return open(peer_id, blob);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another handle may have created it since the read above.
    if let Some((peer_id, blob)) = wrapped::read_identity(&tx)? {
        return open(peer_id, blob);
    }
    let identity = DeviceIdentity::generate(rng);
    let wrapped = identity.wrap(kek, vault_id, rng);
    wrapped::insert_identity(&tx, &identity, &wrapped)?;
    tx.commit()?;
    Ok(identity)
}

/// An open vault whose keys are not in memory. It can only be unlocked.
pub struct LockedVault {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) options: VaultOptions,
}

impl std::fmt::Debug for LockedVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedVault")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LockedVault {
    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Derives the keys from `password` and unlocks. A wrong password is
    /// [`UnlockError::WrongPassword`] and writes nothing; open the file again
    /// to retry.
    ///
    /// The key is derived from the password's Unicode NFC form. A vault
    /// whose password was set before that normalization was derived from
    /// the raw bytes: when the NFC form fails and the password as given
    /// differs from it, the raw form is tried too, and if it opens, the keys
    /// are re-wrapped under the NFC form (as a password change to the same
    /// password would, same iterations, new salt). That write is best
    /// effort: if the file is busy or read-only the unlock still succeeds
    /// and a later unlock tries again.
    pub fn unlock(self, password: &str) -> Result<UnlockedVault, UnlockError> {
        let header = self.header()?;
        // The header is authenticated only once the key is derived, so bound
        // the work a damaged header can ask for first.
        let iterations = u32::try_from(header.iterations)
            .ok()
            .filter(|i| (1..=KdfParams::MAX_ITERATIONS).contains(i))
            .ok_or(UnlockError::Corrupt("KDF iterations out of range"))?;
        let password = KdfPassword::new(password);
        let kek = MasterKey::derive(password.nfc().as_bytes(), &header.salt, iterations)
            .key_encryption_key();
        if let Ok(dk) = unwrap_data_key(&kek, &header.canonical(), &header.wrapped_dk) {
            return self.unlock_with_keys(header, kek, dk);
        }
        // The second KDF runs only for a password NFC changes.
        let Some(raw) = password.legacy() else {
            return Err(UnlockError::WrongPassword);
        };
        let kek = MasterKey::derive(raw.as_bytes(), &header.salt, iterations).key_encryption_key();
        let dk = unwrap_data_key(&kek, &header.canonical(), &header.wrapped_dk)
            .map_err(|_| UnlockError::WrongPassword)?;
        let mut vault = self.unlock_with_keys(header, kek, dk)?;
        vault.adopt_normalized_password(password.nfc());
        Ok(vault)
    }

    /// Unlocks with a key an earlier unlock of this vault handed out
    /// ([`UnlockedVault::session_key`]), skipping the KDF. A key of another
    /// vault, or one made stale by a password change, is
    /// [`UnlockError::WrongSessionKey`].
    pub fn unlock_with_session_key(self, key: &SessionKey) -> Result<UnlockedVault, UnlockError> {
        let header = self.header()?;
        if key.vault_id() != header.vault_id {
            return Err(UnlockError::WrongSessionKey);
        }
        self.unlock_with_kek(
            header,
            key.key_encryption_key(),
            UnlockError::WrongSessionKey,
        )
    }

    fn header(&self) -> Result<Header, UnlockError> {
        let header = Header::read(&self.conn)?.ok_or(UnlockError::Corrupt("no header"))?;
        if header.kdf_alg != KDF_PBKDF2_SHA256 {
            return Err(UnlockError::UnsupportedKdf(header.kdf_alg));
        }
        Ok(header)
    }

    fn unlock_with_kek(
        self,
        header: Header,
        kek: KeyEncryptionKey,
        wrong_key: UnlockError,
    ) -> Result<UnlockedVault, UnlockError> {
        let dk = unwrap_data_key(&kek, &header.canonical(), &header.wrapped_dk)
            .map_err(|_| wrong_key)?;
        self.unlock_with_keys(header, kek, dk)
    }

    /// The rest of an unlock, once `kek` opened the header's data key `dk`.
    fn unlock_with_keys(
        self,
        header: Header,
        kek: KeyEncryptionKey,
        dk: DataKey,
    ) -> Result<UnlockedVault, UnlockError> {
        let epochs = load_epochs(&self.conn, &kek, header.circle_id).map_err(|e| match e {
            EpochLoadError::Sqlite(e) => UnlockError::Storage(e.into()),
            EpochLoadError::Damaged => UnlockError::Corrupt("a vault key does not open"),
        })?;
        let mut rng = VaultRng::new().map_err(UnlockError::Random)?;
        let mut conn = self.conn;
        let identity = load_identity(&mut conn, &kek, header.vault_id, &mut rng)?;
        let keys = Keyring::new(kek, dk, epochs, header.current_epoch)
            .map_err(|_| UnlockError::Corrupt("the current key epoch is missing"))?;
        Ok(UnlockedVault {
            conn,
            path: self.path,
            options: self.options,
            header,
            keys,
            rng,
            zone: DEFAULT_ZONE.to_owned(),
            search: None,
            identity,
            circle: std::cell::RefCell::new(None),
        })
    }
}

/// A vault with its keys in memory. Dropping it, or [`UnlockedVault::lock`],
/// zeroizes every key and the decrypted search cache.
pub struct UnlockedVault {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) options: VaultOptions,
    pub(crate) header: Header,
    pub(crate) keys: Keyring,
    pub(crate) rng: VaultRng,
    pub(crate) zone: String,
    pub(crate) search: Option<SearchCache>,
    pub(crate) identity: DeviceIdentity,
    /// The verified circle log, cached until the stored head moves.
    pub(crate) circle: std::cell::RefCell<Option<crate::circle::cache::LogCache>>,
}

impl std::fmt::Debug for UnlockedVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockedVault")
            .field("path", &self.path)
            .field("epoch", &self.keys.current().number())
            .finish_non_exhaustive()
    }
}

impl UnlockedVault {
    /// Drops the keys (zeroized) and returns the locked handle.
    pub fn lock(self) -> LockedVault {
        LockedVault {
            conn: self.conn,
            path: self.path,
            options: self.options,
        }
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The vault's id (random, fixed at creation).
    pub fn vault_id(&self) -> Uuid {
        self.header.vault_id
    }

    /// The current key epoch's number.
    pub fn key_epoch(&self) -> u32 {
        self.keys.current().number()
    }

    /// A key that unlocks this vault without the password, until the
    /// password changes: what the CLI's agent holds. See [`SessionKey`].
    pub fn session_key(&self) -> SessionKey {
        SessionKey::new(self.header.vault_id, &self.keys.kek)
    }

    /// The KDF parameters of the current password.
    pub fn kdf_params(&self) -> KdfParams {
        KdfParams::stored(u32::try_from(self.header.iterations).unwrap_or(u32::MAX))
    }
}
