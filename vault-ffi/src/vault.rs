//! The `Vault` object: one vault file, locked or unlocked, behind a lock
//! so that several threads of the host language may share it (calls run
//! one at a time). Items, search, history, TOTP and password changes.

use crate::error::VaultError;
use crate::items::{self, Item, ItemInput, ItemKind, ItemSummary};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;
use vault_core::item::totp;
use vault_core::{KdfParams, LockedVault, Selector, UnlockedVault, Vault as CoreVault};
use zeroize::Zeroizing;

/// A vault file. Created or opened, then unlocked; every item call needs
/// it unlocked ([`VaultError::Locked`] otherwise).
#[derive(uniffi::Object)]
pub struct Vault {
    path: PathBuf,
    state: Mutex<State>,
}

pub(crate) enum State {
    Locked,
    Unlocked(Box<Open>),
}

/// An unlocked vault and, once it synced, its connection.
pub(crate) struct Open {
    vault: UnlockedVault,
    link: Option<crate::sync::Link>,
}

impl Open {
    fn new(vault: UnlockedVault) -> Box<Self> {
        Box::new(Self { vault, link: None })
    }
}

/// What `status` reports; readable while locked.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VaultStatus {
    /// The vault file.
    pub path: String,
    /// Whether this object's keys are out of memory (a running `watch`
    /// keeps its own until cancelled).
    pub locked: bool,
    /// The vault's id.
    pub vault_id: String,
    /// Live internet passwords.
    pub internet_items: u64,
    /// Live generic passwords.
    pub generic_items: u64,
    /// Live keys.
    pub key_items: u64,
    /// The circle's server, when the vault is in a circle.
    pub server_url: Option<String>,
    /// Devices in the circle (0 when not in one).
    pub members: u64,
    /// Local changes not yet synced.
    pub pending: u64,
    /// When the last sync ended (ms since the Unix epoch).
    pub last_sync_ms: Option<i64>,
    /// Records held back by the last syncs, waiting for a decision.
    pub quarantined: u64,
}

/// A TOTP code and how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TotpCode {
    /// The digits.
    pub code: String,
    /// Seconds until the next one.
    pub seconds_left: u64,
    /// The step in seconds.
    pub period: u64,
}

/// What `restore` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Restored {
    /// The item that holds the version now (a new uuid when the item was
    /// deleted).
    pub uuid: String,
    /// Its gencount.
    pub gencount: u64,
    /// Whether a new item was made.
    pub new_item: bool,
    /// Whether anything changed.
    pub changed: bool,
}

/// A master password that crossed the boundary, wiped on drop.
fn password(p: String) -> Zeroizing<String> {
    Zeroizing::new(p)
}

pub(crate) fn uuid(s: &str) -> Result<Uuid, VaultError> {
    Uuid::parse_str(s.trim()).map_err(|_| VaultError::invalid(format!("not a uuid: {s:?}")))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Vault {
    /// The unlocked vault, or [`VaultError::Locked`].
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut UnlockedVault) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        self.with_state(|v, _| f(v))
    }

    /// The unlocked vault and its connection slot, or
    /// [`VaultError::Locked`].
    pub(crate) fn with_state<T>(
        &self,
        f: impl FnOnce(&mut UnlockedVault, &mut Option<crate::sync::Link>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        match &mut *self.state()? {
            State::Unlocked(open) => {
                let Open { vault, link } = &mut **open;
                f(vault, link)
            }
            State::Locked => Err(VaultError::Locked),
        }
    }

    pub(crate) fn state(&self) -> Result<MutexGuard<'_, State>, VaultError> {
        // A panic in an earlier call poisons the lock; the vault's state
        // is in SQLite and transactions, so the next call may go on.
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The vault file's path.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn locked(&self) -> Result<LockedVault, VaultError> {
        Ok(CoreVault::open(&self.path)?)
    }
}

#[uniffi::export]
impl Vault {
    /// Creates a vault file at `path` (refusing an existing one), unlocked,
    /// with PBKDF2-HMAC-SHA256 at 600,000 iterations. The password is
    /// normalized to NFC, so it opens from any platform's keyboard.
    #[uniffi::constructor]
    pub fn create(path: String, password: String) -> Result<Arc<Self>, VaultError> {
        let password = self::password(password);
        if password.is_empty() {
            return Err(VaultError::invalid("the master password is empty"));
        }
        let vault = CoreVault::create(&path, &password, KdfParams::default())?;
        Ok(Arc::new(Self {
            path: vault.path().to_owned(),
            state: Mutex::new(State::Unlocked(Open::new(vault))),
        }))
    }

    /// Opens an existing vault file, locked.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>, VaultError> {
        let locked = CoreVault::open(&path)?;
        Ok(Arc::new(Self {
            path: locked.path().to_owned(),
            state: Mutex::new(State::Locked),
        }))
    }

    /// Unlocks with the master password ([`VaultError::WrongPassword`]
    /// otherwise; nothing is written). Unlocking an unlocked vault checks
    /// the password all the same.
    pub fn unlock(&self, password: String) -> Result<(), VaultError> {
        let password = self::password(password);
        let vault = self.locked()?.unlock(&password)?;
        *self.state()? = State::Unlocked(Open::new(vault));
        Ok(())
    }

    /// Drops this object's keys (wiped from memory) and its sync session.
    /// Items cannot be read through it until the next `unlock`. A running
    /// `watch` holds a handle of its own and keeps syncing until its
    /// `WatchHandle` is cancelled: cancel it before locking.
    pub fn lock(&self) -> Result<(), VaultError> {
        *self.state()? = State::Locked;
        Ok(())
    }

    /// Whether it is locked, the item counts, the circle and sync state.
    pub fn status(&self) -> Result<VaultStatus, VaultError> {
        let locked = matches!(&*self.state()?, State::Locked);
        let info = self.locked()?.info()?;
        let circle = info.circle.as_ref();
        Ok(VaultStatus {
            path: self.path.display().to_string(),
            locked,
            vault_id: info.vault_id.to_string(),
            internet_items: info.counts[0],
            generic_items: info.counts[1],
            key_items: info.counts[2],
            server_url: circle.map(|c| c.server_url.clone()),
            members: circle.map_or(0, |c| c.members),
            pending: info.sync.pending,
            last_sync_ms: info.sync.last_sync_ms,
            quarantined: info.sync.quarantined,
        })
    }

    /// Changes the master password (`current` is checked first). O(1) in
    /// the number of items: only the keys are re-wrapped.
    pub fn change_password(&self, current: String, new: String) -> Result<(), VaultError> {
        let (current, new) = (password(current), password(new));
        if new.is_empty() {
            return Err(VaultError::invalid("the new password is empty"));
        }
        self.with(|v| {
            let kdf = v.kdf_params();
            Ok(v.change_password(&current, &new, kdf)?)
        })
    }

    /// Adds an item; returns its uuid.
    pub fn add(&self, item: ItemInput) -> Result<String, VaultError> {
        let data = items::data_of(item, None)?;
        self.with(|v| Ok(v.add(data)?.to_string()))
    }

    /// Adds items in one transaction (all or none, one disk sync): an
    /// import's call. Returns their uuids, in order.
    pub fn add_batch(&self, items: Vec<ItemInput>) -> Result<Vec<String>, VaultError> {
        let data = items
            .into_iter()
            .map(|i| items::data_of(i, None))
            .collect::<Result<Vec<_>, _>>()?;
        self.with(|v| Ok(v.add_batch(data)?.iter().map(Uuid::to_string).collect()))
    }

    /// The current version of an item, without secret values.
    pub fn get(&self, uuid: String) -> Result<Item, VaultError> {
        let uuid = self::uuid(&uuid)?;
        self.with(|v| Ok(items::item_of(&v.get(uuid)?)))
    }

    /// One secret of an item: `password`, `notes`, `totp`, or a custom
    /// field's name (a key's `private_key` comes from
    /// `get_secret_bytes`). With it, the only calls that hand an item's
    /// secret to the caller.
    pub fn get_secret(&self, uuid: String, field: String) -> Result<String, VaultError> {
        let uuid = self::uuid(&uuid)?;
        if field == "private_key" {
            return Err(VaultError::invalid(
                "a private key is bytes: ask get_secret_bytes(uuid, \"private_key\")",
            ));
        }
        self.with(|v| {
            let item = v.get(uuid)?;
            items::secret_of(&item.data, &field)
                .map(|s| s.expose().to_owned())
                .ok_or_else(|| VaultError::NotFound {
                    message: format!("the item has no field {field:?}"),
                })
        })
    }

    /// A key item's private key bytes (`field` = `private_key`).
    pub fn get_secret_bytes(&self, uuid: String, field: String) -> Result<Vec<u8>, VaultError> {
        let uuid = self::uuid(&uuid)?;
        self.with(|v| match (&v.get(uuid)?.data, field.as_str()) {
            (vault_core::item::ItemData::Key(k), "private_key") => {
                Ok(k.private_key.expose().to_vec())
            }
            _ => Err(VaultError::NotFound {
                message: format!("the item has no byte field {field:?}"),
            }),
        })
    }

    /// Replaces an item's attributes with `item` (secrets left `None`
    /// keep their value); the old version goes to the history. Returns
    /// the new gencount.
    pub fn update(&self, uuid: String, item: ItemInput) -> Result<u64, VaultError> {
        let uuid = self::uuid(&uuid)?;
        self.with(|v| {
            let current = v.get(uuid)?;
            let data = items::data_of(item, Some(&current.data))?;
            Ok(v.update(uuid, data)?)
        })
    }

    /// Deletes an item (a tombstone that syncs; its versions stay in the
    /// history, from which `restore` brings it back).
    pub fn delete(&self, uuid: String) -> Result<(), VaultError> {
        let uuid = self::uuid(&uuid)?;
        self.with(|v| Ok(v.delete(uuid)?))
    }

    /// The one item `query` names, by the rules of `vault get QUERY`: a
    /// uuid or uuid prefix, an exact name or label (any case), the host
    /// of a URL, a unique substring. [`VaultError::NotFound`] or
    /// [`VaultError::Ambiguous`] otherwise; `find_narrowed` picks one of
    /// several by account or kind.
    ///
    /// It takes no optional arguments on purpose: this is the call a front
    /// end makes on every keystroke or autofill, and the Python bindings
    /// lower each optional argument, even `None`, into a buffer allocated
    /// across the boundary (about 6 µs each: with two of them, `find` took
    /// 37 µs instead of 23.5, by scripts/ffi-bench).
    pub fn find(&self, query: String) -> Result<ItemSummary, VaultError> {
        self.with(|v| Ok((&v.resolve_one(&query, Selector::default())?).into()))
    }

    /// `find`, with its matches narrowed to one `account` and/or one
    /// `kind` first.
    #[uniffi::method(default(account = None, kind = None))]
    pub fn find_narrowed(
        &self,
        query: String,
        account: Option<String>,
        kind: Option<ItemKind>,
    ) -> Result<ItemSummary, VaultError> {
        self.with(|v| {
            let selector = Selector {
                account: account.as_deref(),
                class: kind.map(Into::into),
            };
            Ok((&v.resolve_one(&query, selector)?).into())
        })
    }

    /// Every item `query` names under the first rule that matches (at
    /// most 20), as `find` decides.
    #[uniffi::method(default(account = None, kind = None))]
    pub fn find_all(
        &self,
        query: String,
        account: Option<String>,
        kind: Option<ItemKind>,
    ) -> Result<Vec<ItemSummary>, VaultError> {
        self.with(|v| {
            let selector = Selector {
                account: account.as_deref(),
                class: kind.map(Into::into),
            };
            let resolution = v.resolve(&query, selector)?;
            Ok(resolution.matches.iter().map(Into::into).collect())
        })
    }

    /// Items whose name, account, label, URL, folder or visible field
    /// contains `text` (any case).
    pub fn search(&self, text: String) -> Result<Vec<ItemSummary>, VaultError> {
        self.with(|v| Ok(v.search(&text)?.iter().map(Into::into).collect()))
    }

    /// Every live item (of `kind`, if given), sorted by name.
    #[uniffi::method(default(kind = None))]
    pub fn list(&self, kind: Option<ItemKind>) -> Result<Vec<ItemSummary>, VaultError> {
        self.with(|v| {
            Ok(v.list(kind.map(Into::into))?
                .iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Every version of an item, current first (a deleted item's
    /// deletion first), then older ones, newest first.
    pub fn history(&self, uuid: String) -> Result<Vec<Item>, VaultError> {
        let uuid = self::uuid(&uuid)?;
        self.with(|v| Ok(v.versions(uuid)?.iter().map(items::item_of).collect()))
    }

    /// Writes version `gencount` of an item back as its newest version
    /// (a deleted item comes back with a new uuid).
    pub fn restore(&self, uuid: String, gencount: u64) -> Result<Restored, VaultError> {
        let uuid = self::uuid(&uuid)?;
        self.with(|v| {
            let r = v.restore(uuid, gencount).map_err(|e| match e {
                vault_core::RestoreError::Item(i) => VaultError::from(i),
                other => VaultError::invalid(other.to_string()),
            })?;
            Ok(Restored {
                uuid: r.uuid.to_string(),
                gencount: r.gencount,
                new_item: r.new_item,
                changed: r.changed,
            })
        })
    }

    /// The item's current TOTP code.
    pub fn totp(&self, uuid: String) -> Result<TotpCode, VaultError> {
        let uuid = self::uuid(&uuid)?;
        self.with(|v| {
            let item = v.get(uuid)?;
            let seed = totp::seed_of(&item.data)?;
            let code = totp::code_at(seed.expose(), now_secs())?;
            Ok(TotpCode {
                code: code.code,
                seconds_left: code.seconds_left,
                period: code.period,
            })
        })
    }
}
