//! Error enums, one per operation, that callers can match on. None carries
//! a secret: messages name items by uuid only.

use crate::circle::{ChainError, CutError, EntryError, NameError, PeerId, ShareError};
use crate::crypto::DecryptError;
use crate::item::ItemClass;
use rusqlite::ErrorCode;
use uuid::Uuid;

/// A failure of the SQLite layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Another handle or process held the write lock past the busy timeout.
    #[error("the vault is busy: another writer held it past the timeout")]
    Busy,
    /// SQLite found the file damaged, or a column held a value of the wrong shape.
    #[error("the vault file is corrupt")]
    Corrupt(#[source] rusqlite::Error),
    /// Any other SQLite failure.
    #[error("database error")]
    Sqlite(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StorageError::Busy,
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StorageError::Corrupt(e),
                _ => StorageError::Sqlite(e),
            },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => StorageError::Corrupt(e),
            _ => StorageError::Sqlite(e),
        }
    }
}

/// KDF parameters below the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("KDF iterations {iterations} are outside the allowed range {minimum}..={maximum}")]
pub struct WeakKdf {
    /// What was asked for.
    pub iterations: u32,
    /// The floor.
    pub minimum: u32,
    /// The ceiling.
    pub maximum: u32,
}

/// Why a vault file did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// There is no file at the path.
    #[error("no vault at this path")]
    NotFound,
    /// The file is not a vault (not SQLite, or another application's database).
    #[error("the file is not a vault")]
    NotAVault,
    /// The file is damaged or truncated.
    #[error("the vault file is corrupt or truncated")]
    Corrupt,
    /// A newer version of the library wrote this vault; it was not touched.
    #[error("the vault has schema version {found}; this library reads up to {supported}")]
    NewerSchema {
        /// The file's schema version.
        found: i64,
        /// The newest version this library knows.
        supported: i64,
    },
    /// Migrating an older schema failed; the migration was rolled back.
    #[error("schema migration failed")]
    Migration(#[source] rusqlite_migration::Error),
    /// SQLite failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The file system failed.
    #[error("i/o error on the vault file")]
    Io(#[source] std::io::Error),
}

/// Why a vault could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A file already exists at the path; it was not touched.
    #[error("a file already exists at this path")]
    AlreadyExists,
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    /// SQLite failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Applying the schema failed.
    #[error("schema migration failed")]
    Migration(#[source] rusqlite_migration::Error),
    /// The file system failed.
    #[error("i/o error on the vault file")]
    Io(#[source] std::io::Error),
}

/// Why unlocking failed. Nothing is written in any case.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    /// The password is wrong (or the header's KDF parameters were altered,
    /// which the password's key detects the same way).
    #[error("wrong password")]
    WrongPassword,
    /// A session key of another vault, or from before a password change.
    #[error("the session key does not open this vault")]
    WrongSessionKey,
    /// The header names a KDF this library does not know.
    #[error("unsupported KDF (id {0})")]
    UnsupportedKdf(i64),
    /// The header or a key epoch is damaged.
    #[error("the vault's keys are damaged: {0}")]
    Corrupt(&'static str),
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random(#[source] getrandom::Error),
    /// SQLite failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why an item operation failed. A failed write changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// No live item has this uuid.
    #[error("no item {0}")]
    NotFound(Uuid),
    /// The item's ciphertext did not open: tampered, or moved from another
    /// item, version or epoch.
    #[error("item {uuid} failed to decrypt")]
    Decrypt {
        /// The item.
        uuid: Uuid,
        /// What failed.
        #[source]
        source: DecryptError,
    },
    /// The sealed class differs from the table the row sits in.
    #[error("item {uuid} is sealed as {sealed} but stored in {table}")]
    ClassMismatch {
        /// The item.
        uuid: Uuid,
        /// The table the row was read from.
        table: ItemClass,
        /// The class inside the ciphertext.
        sealed: ItemClass,
    },
    /// The row's tombstone flag differs from the sealed one.
    #[error("item {0} has a tombstone flag that does not match its ciphertext")]
    TombstoneMismatch(Uuid),
    /// An update tried to change an item's class.
    #[error("item {uuid} is {stored}; it cannot become {given}")]
    ClassChange {
        /// The item.
        uuid: Uuid,
        /// Its class.
        stored: ItemClass,
        /// The class of the new attributes.
        given: ItemClass,
    },
    /// The row names a key epoch this vault does not hold.
    #[error("item {0} is wrapped by an unknown key epoch")]
    UnknownKeyEpoch(Uuid),
    /// Another handle changed the password; unlock again to see new epochs.
    #[error("the vault's keys changed in another session; unlock again")]
    KeysChanged,
    /// The item is larger than the 1 MiB limit.
    #[error("the item is too large")]
    TooLarge,
    /// SQLite failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rusqlite::Error> for ItemError {
    fn from(e: rusqlite::Error) -> Self {
        ItemError::Storage(e.into())
    }
}

/// Why a password change or a vault-key rotation failed. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyChangeError {
    /// The current password given is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// A vault in a circle rotates its key through the circle's log
    /// (`prepare_new_epoch`), never alone.
    #[error("the vault belongs to a circle: start a new epoch through the circle")]
    InCircle,
    /// An item's key could not be re-wrapped (it is damaged).
    #[error(transparent)]
    Item(#[from] ItemError),
    /// SQLite failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rusqlite::Error> for KeyChangeError {
    fn from(e: rusqlite::Error) -> Self {
        KeyChangeError::Storage(e.into())
    }
}

impl From<rusqlite::Error> for UnlockError {
    fn from(e: rusqlite::Error) -> Self {
        UnlockError::Storage(e.into())
    }
}

/// Why a circle operation failed. A failed operation writes nothing.
#[derive(Debug, thiserror::Error)]
pub enum CircleError {
    /// The vault belongs to no circle.
    #[error("the vault belongs to no circle")]
    NoCircle,
    /// The vault already belongs to a circle.
    #[error("the vault already belongs to a circle")]
    AlreadyInCircle,
    /// A server list that cannot be stored (empty, a repeat).
    #[error("bad server list: {0}")]
    ServerList(&'static str),
    /// This device is not (or no longer) a member of the circle.
    #[error("this device is not a member of the circle")]
    NotMember,
    /// The peer named is not a current member.
    #[error("peer {0} is not a current member")]
    UnknownPeer(PeerId),
    /// The log holds no add-peer entry for this device's exact keys.
    #[error("the circle's log does not add this device")]
    NotInvited,
    /// The genesis given is not one this vault prepared.
    #[error("the genesis entry was not prepared by this vault")]
    ForeignGenesis,
    /// The log or the entries given do not verify.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A key share did not open or does not match the chain.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// An entry could not be built or parsed.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A device name could not be sealed.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The vault key of an epoch the operation needs is not held here.
    #[error("this device does not hold the key of epoch {0}")]
    MissingEpoch(u32),
    /// The stored circle log does not verify: the file was altered.
    #[error("the stored circle log is damaged: {0}")]
    Corrupt(&'static str),
    /// An item's key could not be re-wrapped (it is damaged).
    #[error(transparent)]
    Item(#[from] ItemError),
    /// A removal's cut list is malformed or not the one its entry names.
    #[error(transparent)]
    Cut(#[from] CutError),
    /// No removal entry with a cut sits at that seq of the log.
    #[error("entry {0} of the log is not a removal with a cut")]
    NotARemoval(u64),
    /// SQLite failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rusqlite::Error> for CircleError {
    fn from(e: rusqlite::Error) -> Self {
        CircleError::Storage(e.into())
    }
}
