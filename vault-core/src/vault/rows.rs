//! Rows of the item tables: reading, sealing, writing, and the blind-index
//! columns. Shared by the item operations, search and key rotation.

use super::keyring::Keyring;
use crate::crypto::VaultRng;
use crate::crypto::{ItemContext, SealedItem, open_item_into};
use crate::error::ItemError;
use crate::item::{self, Decoded, Item, ItemClass, ItemData};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;
use zeroize::Zeroizing;

/// The columns every item query selects, in [`Row`] order.
pub(crate) const ROW_COLS: &str = "uuid, gencount, tomb, parent_key_uuid, wrappedkey, encitem";

/// One item row, still sealed.
#[derive(Clone)]
pub(crate) struct Row {
    pub uuid: Uuid,
    pub gencount: u64,
    pub tomb: bool,
    pub parent_key_uuid: Uuid,
    pub wrappedkey: Vec<u8>,
    pub encitem: Vec<u8>,
}

impl Row {
    pub fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            uuid: Uuid::from_bytes(r.get(0)?),
            gencount: r.get(1)?,
            tomb: r.get(2)?,
            parent_key_uuid: Uuid::from_bytes(r.get(3)?),
            wrappedkey: r.get(4)?,
            encitem: r.get(5)?,
        })
    }
}

pub(crate) fn find_row(
    conn: &Connection,
    class: ItemClass,
    uuid: Uuid,
) -> rusqlite::Result<Option<Row>> {
    let sql = format!("SELECT {ROW_COLS} FROM {} WHERE uuid = ?1", class.table());
    conn.prepare_cached(&sql)?
        .query_row([uuid.as_bytes()], Row::from_sql)
        .optional()
}

/// A row's plaintext columns and borrowed blobs.
pub(crate) struct RowRef<'a> {
    pub uuid: Uuid,
    pub gencount: u64,
    pub parent_key_uuid: Uuid,
    pub wrappedkey: &'a [u8],
    pub encitem: &'a [u8],
}

/// Opens a row's blobs in their context (zone, uuid, gencount, epoch) into
/// `out`: the padded plaintext, not yet parsed.
pub(crate) fn open_plain(
    keys: &Keyring,
    zone: &str,
    row: &RowRef<'_>,
    out: &mut Vec<u8>,
) -> Result<(), ItemError> {
    let uuid = row.uuid;
    let epoch = keys
        .epoch(row.parent_key_uuid)
        .ok_or(ItemError::UnknownKeyEpoch(uuid))?;
    let ctx = ItemContext {
        zone,
        uuid,
        gencount: row.gencount,
    };
    open_item_into(epoch, &ctx, row.wrappedkey, row.encitem, out)
        .map_err(|source| ItemError::Decrypt { uuid, source })
}

/// Checks that what is sealed inside a row matches where it sits: the class
/// against the table, the tombstone flag against the column.
pub(crate) fn check_placement(
    uuid: Uuid,
    table: ItemClass,
    sealed: ItemClass,
    row_tomb: bool,
    sealed_tomb: bool,
) -> Result<(), ItemError> {
    if sealed != table {
        return Err(ItemError::ClassMismatch {
            uuid,
            table,
            sealed,
        });
    }
    if sealed_tomb != row_tomb {
        return Err(ItemError::TombstoneMismatch(uuid));
    }
    Ok(())
}

/// Opens and parses a row, checking its placement.
pub(crate) fn open_row(
    keys: &Keyring,
    zone: &str,
    table: ItemClass,
    row: &Row,
) -> Result<Decoded, ItemError> {
    let mut plain = Zeroizing::new(Vec::with_capacity(row.encitem.len()));
    let view = RowRef {
        uuid: row.uuid,
        gencount: row.gencount,
        parent_key_uuid: row.parent_key_uuid,
        wrappedkey: &row.wrappedkey,
        encitem: &row.encitem,
    };
    open_plain(keys, zone, &view, &mut plain)?;
    let decoded = item::decode(&plain).map_err(|source| ItemError::Decrypt {
        uuid: row.uuid,
        source,
    })?;
    check_placement(row.uuid, table, decoded.class, row.tomb, decoded.tomb)?;
    Ok(decoded)
}

pub(crate) fn to_item(uuid: Uuid, gencount: u64, d: Decoded) -> Item {
    Item {
        uuid,
        gencount,
        created_ms: d.created_ms,
        modified_ms: d.modified_ms,
        data: d.data,
        unknown: d.unknown,
        deleted: d.tomb,
    }
}

/// Seals an item version (or, with `tomb`, its tombstone) under the
/// current epoch.
pub(crate) fn seal(
    keys: &Keyring,
    rng: &mut VaultRng,
    zone: &str,
    item: &Item,
    tomb: bool,
) -> Result<SealedItem, ItemError> {
    item.seal_version(tomb, keys.current(), zone, rng)
        .map_err(|_| ItemError::TooLarge)
}

#[derive(Clone, Copy)]
#[repr(u8)]
enum BlindField {
    Name = 1,
    Account = 2,
    Label = 3,
}

/// The blind-index columns of a row: `None` for an empty attribute and for
/// tombstones.
#[derive(Default, Clone, Copy)]
pub(crate) struct Blind {
    pub name: Option<i64>,
    pub account: Option<i64>,
    pub label: Option<i64>,
}

/// Host names and relying-party ids compare without case or surrounding
/// space; every other attribute compares exactly.
pub(crate) fn normalize_name(class: ItemClass, value: &str) -> std::borrow::Cow<'_, str> {
    match class {
        ItemClass::Inet | ItemClass::Keys => value.trim().to_lowercase().into(),
        ItemClass::Genp => value.into(),
    }
}

fn blind_value(keys: &Keyring, class: ItemClass, field: BlindField, value: &str) -> Option<i64> {
    (!value.is_empty()).then(|| {
        keys.index
            .blind(&[&[class as u8, field as u8], value.as_bytes()])
    })
}

pub(crate) fn blind_name(keys: &Keyring, class: ItemClass, value: &str) -> Option<i64> {
    blind_value(keys, class, BlindField::Name, &normalize_name(class, value))
}

pub(crate) fn blind_account(keys: &Keyring, class: ItemClass, value: &str) -> Option<i64> {
    blind_value(keys, class, BlindField::Account, value)
}

pub(crate) fn blind_label(keys: &Keyring, class: ItemClass, value: &str) -> Option<i64> {
    blind_value(keys, class, BlindField::Label, value)
}

pub(crate) fn blind_of(keys: &Keyring, data: &ItemData) -> Blind {
    let class = data.class();
    let (name, account, label) = match data {
        ItemData::Inet(i) => (&i.server, &i.account, &i.label),
        ItemData::Genp(g) => (&g.service, &g.account, &g.label),
        ItemData::Key(k) => (&k.rp_id, &k.user_name, &k.label),
    };
    Blind {
        name: blind_name(keys, class, name),
        account: blind_account(keys, class, account),
        label: blind_label(keys, class, label),
    }
}

pub(crate) struct NewRow<'a> {
    pub uuid: Uuid,
    pub gencount: u64,
    pub tomb: bool,
    pub parent_key_uuid: Uuid,
    pub sealed: &'a SealedItem,
    pub blind: Blind,
}

/// Writes an item row: inserts a new uuid, or replaces the row that has it.
pub(crate) fn put_row(
    conn: &Connection,
    class: ItemClass,
    row: &NewRow<'_>,
) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO {} (uuid, gencount, tomb, parent_key_uuid, wrappedkey, encitem, bi_name, bi_account, bi_label)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (uuid) DO UPDATE SET
             gencount = excluded.gencount, tomb = excluded.tomb, parent_key_uuid = excluded.parent_key_uuid,
             wrappedkey = excluded.wrappedkey, encitem = excluded.encitem,
             bi_name = excluded.bi_name, bi_account = excluded.bi_account, bi_label = excluded.bi_label",
        class.table()
    );
    conn.prepare_cached(&sql)?.execute(params![
        row.uuid.as_bytes(),
        row.gencount,
        row.tomb,
        row.parent_key_uuid.as_bytes(),
        row.sealed.wrappedkey(),
        row.sealed.encitem(),
        row.blind.name,
        row.blind.account,
        row.blind.label
    ])?;
    Ok(())
}

/// Moves a row's sealed version into `item_history` as it is, then keeps
/// only the newest `limit` versions of that item.
pub(crate) fn push_history(
    conn: &Connection,
    class: ItemClass,
    row: &Row,
    limit: u32,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO item_history (uuid, class, gencount, parent_key_uuid, wrappedkey, encitem)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        row.uuid.as_bytes(),
        class as u8,
        row.gencount,
        row.parent_key_uuid.as_bytes(),
        row.wrappedkey,
        row.encitem
    ])?;
    conn.prepare_cached(
        "DELETE FROM item_history WHERE uuid = ?1 AND id NOT IN
           (SELECT id FROM item_history WHERE uuid = ?1 ORDER BY gencount DESC LIMIT ?2)",
    )?
    .execute(params![row.uuid.as_bytes(), limit])?;
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
