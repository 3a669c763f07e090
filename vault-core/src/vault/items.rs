//! Item operations of an unlocked vault: add, get, update, delete, exact
//! lookups through the blind indexes, history, list and search.

use super::UnlockedVault;
use super::rows::{
    self, Blind, NewRow, ROW_COLS, Row, blind_account, blind_label, blind_name, blind_of, find_row,
    now_ms, open_row, push_history, put_row, to_item,
};
use super::search::SearchCache;
use crate::crypto::DecryptError;
use crate::error::ItemError;
use crate::item::{Decoded, Item, ItemClass, ItemData, ItemSummary};
use rusqlite::TransactionBehavior;
use uuid::Uuid;

/// An exact lookup through a blind index. Server and relying-party id
/// ignore case and surrounding space; the others match exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Internet passwords for this server.
    Server(&'a str),
    /// Generic passwords for this service.
    Service(&'a str),
    /// Passkeys for this relying party.
    RpId(&'a str),
    /// Items of any class with this account (passkeys: user name).
    Account(&'a str),
    /// Items of any class with this label.
    Label(&'a str),
}

#[derive(Clone, Copy)]
enum Column {
    Name,
    Account,
    Label,
}

impl Column {
    fn sql(self) -> &'static str {
        match self {
            Column::Name => "bi_name",
            Column::Account => "bi_account",
            Column::Label => "bi_label",
        }
    }
}

/// The attribute a blind-index column was computed from.
fn attribute(data: &ItemData, column: Column) -> &str {
    match column {
        Column::Name => data.name(),
        Column::Account => data.account(),
        Column::Label => data.label(),
    }
}

/// The number of live rows of a class (no key needed).
pub(crate) fn count_rows(conn: &rusqlite::Connection, class: ItemClass) -> rusqlite::Result<u64> {
    let sql = format!("SELECT count(*) FROM {} WHERE tomb = 0", class.table());
    conn.query_row(&sql, [], |r| r.get(0))
}

/// The lowest and highest 16-byte uuids that start with `prefix`'s hex
/// digits; `None` if it has anything else, no digit, or too many.
fn uuid_range(prefix: &str) -> Option<([u8; 16], [u8; 16])> {
    let digits: Vec<u8> = prefix
        .chars()
        .filter(|&c| c != '-')
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    let (mut low, mut high) = ([0u8; 16], [0xffu8; 16]);
    for (i, d) in digits.into_iter().enumerate() {
        let (byte, shift) = (i / 2, if i % 2 == 0 { 4 } else { 0 });
        let mask = 0x0f << shift;
        low[byte] = (low[byte] & !mask) | (d << shift);
        high[byte] = (high[byte] & !mask) | (d << shift);
    }
    Some((low, high))
}

impl UnlockedVault {
    /// Adds an item; returns its new uuid.
    pub fn add(&mut self, data: ItemData) -> Result<Uuid, ItemError> {
        let mut uuids = self.add_batch([data])?;
        Ok(uuids.pop().expect("add_batch returns one uuid per item"))
    }

    /// Adds items in one transaction: all or none.
    pub fn add_batch(
        &mut self,
        items: impl IntoIterator<Item = ItemData>,
    ) -> Result<Vec<Uuid>, ItemError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        self.keys.refresh(&tx, self.header.circle_id)?;
        let now = now_ms();
        let mut uuids = Vec::new();
        let mut cached = Vec::new();
        for data in items {
            let uuid = uuid::Builder::from_random_bytes(self.rng.array()).into_uuid();
            let item = Item::new(uuid, data, now);
            let sealed = rows::seal(&self.keys, &mut self.rng, &self.zone, &item, false)?;
            let row = NewRow {
                uuid,
                gencount: item.gencount,
                tomb: false,
                parent_key_uuid: self.keys.current().key_uuid(),
                sealed: &sealed,
                blind: blind_of(&self.keys, &item.data),
            };
            put_row(&tx, item.class(), &row)?;
            super::outbox::mark_local_write(&tx, uuid, None)?;
            uuids.push(uuid);
            if self.search.is_some() {
                cached.push(item);
            }
        }
        tx.commit()?;
        if let Some(cache) = &mut self.search {
            for item in &cached {
                cache.upsert(item);
            }
        }
        Ok(uuids)
    }

    /// The current version of a live item.
    pub fn get(&mut self, uuid: Uuid) -> Result<Item, ItemError> {
        for class in ItemClass::ALL {
            if let Some(row) = find_row(&self.conn, class, uuid)? {
                if row.tomb {
                    return Err(ItemError::NotFound(uuid));
                }
                let decoded = self.open(class, &row)?;
                return Ok(to_item(uuid, row.gencount, decoded));
            }
        }
        Err(ItemError::NotFound(uuid))
    }

    /// The current version of an item, live or deleted: a deleted item
    /// comes back as its tombstone (`deleted` set, attributes empty), so a
    /// front end can show when it was deleted and by which version.
    pub fn latest(&mut self, uuid: Uuid) -> Result<Item, ItemError> {
        for class in ItemClass::ALL {
            if let Some(row) = find_row(&self.conn, class, uuid)? {
                let decoded = self.open(class, &row)?;
                return Ok(to_item(uuid, row.gencount, decoded));
            }
        }
        Err(ItemError::NotFound(uuid))
    }

    /// Replaces an item's attributes with `data` (same class). The previous
    /// version goes to the history; returns the new gencount.
    pub fn update(&mut self, uuid: Uuid, data: ItemData) -> Result<u64, ItemError> {
        self.write_version(uuid, Some(data))
    }

    /// Deletes an item: its row becomes a tombstone (kept for sync) and its
    /// last version goes to the history.
    pub fn delete(&mut self, uuid: Uuid) -> Result<(), ItemError> {
        self.write_version(uuid, None).map(|_| ())
    }

    /// Removes, without a trace, every item the server has never
    /// confirmed a version of: its rows, its history and its sync marks.
    /// For a device that joins a circle and chooses not to share the
    /// items it held alone (nothing of them was ever sent). Returns how
    /// many items went.
    pub fn discard_unsynced_items(&mut self) -> Result<u64, ItemError> {
        const UNSYNCED: &str =
            "uuid NOT IN (SELECT uuid FROM ckmirror WHERE server_gencount IS NOT NULL)";
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut gone = 0;
        for class in ItemClass::ALL {
            let table = class.table();
            gone += tx.execute(
                &format!("DELETE FROM {table} WHERE tomb = 0 AND {UNSYNCED}"),
                [],
            )?;
            tx.execute(&format!("DELETE FROM {table} WHERE {UNSYNCED}"), [])?;
        }
        tx.execute(&format!("DELETE FROM item_history WHERE {UNSYNCED}"), [])?;
        tx.execute(
            &format!("DELETE FROM possible_duplicates WHERE {UNSYNCED} OR other NOT IN (SELECT uuid FROM ckmirror WHERE server_gencount IS NOT NULL)"),
            [],
        )?;
        tx.execute("DELETE FROM ckmirror WHERE server_gencount IS NULL", [])?;
        tx.commit()?;
        self.search = None;
        Ok(gone as u64)
    }

    fn write_version(&mut self, uuid: Uuid, data: Option<ItemData>) -> Result<u64, ItemError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        self.keys.refresh(&tx, self.header.circle_id)?;
        let mut found = None;
        for class in ItemClass::ALL {
            if let Some(row) = find_row(&tx, class, uuid)? {
                found = Some((class, row));
                break;
            }
        }
        let (class, row) = found
            .filter(|(_, r)| !r.tomb)
            .ok_or(ItemError::NotFound(uuid))?;
        if let Some(d) = &data
            && d.class() != class
        {
            return Err(ItemError::ClassChange {
                uuid,
                stored: class,
                given: d.class(),
            });
        }
        let old = open_row(&self.keys, &self.zone, class, &row)?;
        push_history(&tx, class, &row, self.options.history_limit)?;
        let tomb = data.is_none();
        let item = Item {
            uuid,
            gencount: row.gencount + 1,
            created_ms: old.created_ms,
            modified_ms: now_ms(),
            data: data.unwrap_or(old.data),
            unknown: old.unknown,
            deleted: false,
        };
        let sealed = rows::seal(&self.keys, &mut self.rng, &self.zone, &item, tomb)?;
        let new_row = NewRow {
            uuid,
            gencount: item.gencount,
            tomb,
            parent_key_uuid: self.keys.current().key_uuid(),
            sealed: &sealed,
            blind: if tomb {
                Blind::default()
            } else {
                blind_of(&self.keys, &item.data)
            },
        };
        super::outbox::mark_local_write(&tx, uuid, Some(&row))?;
        put_row(&tx, class, &new_row)?;
        tx.commit()?;
        if let Some(cache) = &mut self.search {
            if tomb {
                cache.remove(uuid);
            } else {
                cache.upsert(&item);
            }
        }
        Ok(item.gencount)
    }

    /// Opens a row, reloading the key epochs once if another handle rotated.
    fn open(&mut self, class: ItemClass, row: &Row) -> Result<Decoded, ItemError> {
        match open_row(&self.keys, &self.zone, class, row) {
            Err(ItemError::UnknownKeyEpoch(_)) => {
                self.keys.refresh(&self.conn, self.header.circle_id)?;
                open_row(&self.keys, &self.zone, class, row)
            }
            other => other,
        }
    }

    /// Live items whose attribute equals the lookup's value, found through
    /// the blind-index columns and checked against the decrypted value.
    pub fn find(&mut self, lookup: Lookup<'_>) -> Result<Vec<Item>, ItemError> {
        use ItemClass::{Genp, Inet, Keys};
        let (value, targets): (&str, &[(ItemClass, Column)]) = match lookup {
            Lookup::Server(v) => (v, &[(Inet, Column::Name)]),
            Lookup::Service(v) => (v, &[(Genp, Column::Name)]),
            Lookup::RpId(v) => (v, &[(Keys, Column::Name)]),
            Lookup::Account(v) => (
                v,
                &[
                    (Inet, Column::Account),
                    (Genp, Column::Account),
                    (Keys, Column::Account),
                ],
            ),
            Lookup::Label(v) => (
                v,
                &[
                    (Inet, Column::Label),
                    (Genp, Column::Label),
                    (Keys, Column::Label),
                ],
            ),
        };
        let mut out = Vec::new();
        for &(class, column) in targets {
            let blind = match column {
                Column::Name => blind_name(&self.keys, class, value),
                Column::Account => blind_account(&self.keys, class, value),
                Column::Label => blind_label(&self.keys, class, value),
            };
            let Some(blind) = blind else { continue };
            let sql = format!(
                "SELECT {ROW_COLS} FROM {} WHERE {} = ?1 AND tomb = 0",
                class.table(),
                column.sql()
            );
            let hits: Vec<Row> = self
                .conn
                .prepare_cached(&sql)?
                .query_map([blind], Row::from_sql)?
                .collect::<Result<_, _>>()?;
            for row in hits {
                let decoded = self.open(class, &row)?;
                let matches = match column {
                    Column::Name => {
                        rows::normalize_name(class, attribute(&decoded.data, column))
                            == rows::normalize_name(class, value)
                    }
                    _ => attribute(&decoded.data, column) == value,
                };
                if matches {
                    out.push(to_item(row.uuid, row.gencount, decoded));
                }
            }
        }
        Ok(out)
    }

    /// Earlier versions of an item, newest first (also for a deleted item).
    pub fn history(&mut self, uuid: Uuid) -> Result<Vec<Item>, ItemError> {
        // Row columns first, so `Row::from_sql` reads them; the class last.
        let rows: Vec<(u8, Row)> = self
            .conn
            .prepare_cached(
                "SELECT uuid, gencount, 0, parent_key_uuid, wrappedkey, encitem, class
                 FROM item_history WHERE uuid = ?1 ORDER BY gencount DESC",
            )?
            .query_map([uuid.as_bytes()], |r| Ok((r.get(6)?, Row::from_sql(r)?)))?
            .collect::<Result<_, _>>()?;
        if rows.is_empty() && !self.exists(uuid)? {
            return Err(ItemError::NotFound(uuid));
        }
        let mut out = Vec::with_capacity(rows.len());
        for (class, row) in rows {
            let class = ItemClass::from_u8(class).ok_or(ItemError::Decrypt {
                uuid,
                source: DecryptError::Malformed("unknown item class"),
            })?;
            // A delete that lost to a concurrent edit is kept as its tombstone.
            let decoded = match self.open(class, &row) {
                Err(ItemError::TombstoneMismatch(_)) => self.open(
                    class,
                    &Row {
                        tomb: true,
                        ..row.clone()
                    },
                )?,
                other => other?,
            };
            out.push(to_item(uuid, row.gencount, decoded));
        }
        Ok(out)
    }

    fn exists(&self, uuid: Uuid) -> Result<bool, ItemError> {
        for class in ItemClass::ALL {
            if find_row(&self.conn, class, uuid)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The number of live items of a class.
    pub fn count(&self, class: ItemClass) -> Result<u64, ItemError> {
        Ok(count_rows(&self.conn, class)?)
    }

    /// Live items whose uuid starts with these hex digits (dashes ignored),
    /// at most `limit`, in uuid order: what a front end resolves a short
    /// id with. Anything but hex digits and dashes matches nothing.
    pub fn find_uuid_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Uuid>, ItemError> {
        let Some((low, high)) = uuid_range(prefix) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for class in ItemClass::ALL {
            let sql = format!(
                "SELECT uuid FROM {} WHERE uuid BETWEEN ?1 AND ?2 AND tomb = 0 \
                 ORDER BY uuid LIMIT ?3",
                class.table()
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params![&low[..], &high[..], limit as i64], |r| {
                    r.get::<_, Vec<u8>>(0)
                })?;
            for bytes in rows {
                let bytes = bytes?;
                if let Ok(b) = <[u8; 16]>::try_from(bytes.as_slice()) {
                    out.push(Uuid::from_bytes(b));
                }
            }
        }
        out.sort();
        out.truncate(limit);
        Ok(out)
    }

    /// Summaries of live items (of one class, or all), sorted by name,
    /// account and label.
    pub fn list(&mut self, class: Option<ItemClass>) -> Result<Vec<ItemSummary>, ItemError> {
        Ok(self.cache()?.list(class))
    }

    /// Case-insensitive substring search over the non-secret attributes
    /// (server, service, account, label, protocol, path, URIs, key type,
    /// relying party, user name, custom field names and visible values).
    /// Secrets (passwords, notes, TOTP seeds, keys, hidden fields) are never
    /// searched.
    pub fn search(&mut self, text: &str) -> Result<Vec<ItemSummary>, ItemError> {
        Ok(self.cache()?.search(&text.to_lowercase()))
    }

    /// Items whose ciphertext did not open when the search cache was built:
    /// list and search leave them out; `get` reports why.
    pub fn damaged_items(&mut self) -> Result<Vec<Uuid>, ItemError> {
        Ok(self.cache()?.damaged.clone())
    }

    pub(crate) fn cache(&mut self) -> Result<&mut SearchCache, ItemError> {
        // Cached: this runs on every lookup, and parsing the pragma again
        // each time was a tenth of a `resolve_one` on a warm cache.
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let cache = match self.search.take() {
            Some(c) if c.data_version == version => c,
            _ => {
                self.keys.refresh(&self.conn, self.header.circle_id)?;
                SearchCache::build(&self.path, &self.conn, &self.keys, &self.zone, version)?
            }
        };
        Ok(self.search.insert(cache))
    }
}

#[cfg(test)]
mod tests;
