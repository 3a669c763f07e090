//! The decrypted search cache: each live item's summary and lowercased
//! non-secret text. Built on first use after unlock, kept in step with this
//! handle's writes, rebuilt when another handle commits (`PRAGMA
//! data_version`), and zeroized on drop.
//!
//! The build is the one full scan of the vault, so it runs on every core:
//! each worker reads its own rowid ranges through its own read-only
//! connection and decrypts straight from SQLite's buffers.

use super::keyring::Keyring;
use super::resolve::MatchKeys;
use super::rows::{RowRef, check_placement, open_plain};
use crate::error::ItemError;
use crate::item::{self, Item, ItemClass, ItemSummary};
use memchr::memmem;
use rusqlite::{Connection, OpenFlags, params};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use uuid::Uuid;
use zeroize::Zeroizing;

pub(crate) struct Entry {
    pub summary: ItemSummary,
    text: Zeroizing<String>,
    /// What the resolver compares a query with.
    pub keys: MatchKeys,
}

impl Entry {
    fn from_plain(
        uuid: Uuid,
        plain: &[u8],
        table: ItemClass,
        row_tomb: bool,
    ) -> Result<Entry, ItemError> {
        let s = item::summarize(plain).map_err(|source| ItemError::Decrypt { uuid, source })?;
        check_placement(uuid, table, s.class, row_tomb, s.tomb)?;
        let keys = MatchKeys::new(&s.name, &s.label, &s.account, &s.locations);
        Ok(Entry {
            keys,
            summary: ItemSummary {
                uuid,
                class: s.class,
                name: s.name,
                account: s.account,
                label: s.label,
                folder: s.folder,
                modified_ms: s.modified_ms,
            },
            text: Zeroizing::new(s.text),
        })
    }

    fn from_item(item: &Item) -> Option<Entry> {
        let plain = item::encode(
            item.class(),
            Some(&item.data),
            item.created_ms,
            item.modified_ms,
            &item.unknown,
        )
        .ok()?;
        Entry::from_plain(item.uuid, &plain, item.class(), false).ok()
    }
}

pub(crate) struct SearchCache {
    pub data_version: i64,
    entries: Vec<Entry>,
    pos: HashMap<Uuid, usize>,
    pub damaged: Vec<Uuid>,
    /// Every entry's folded names in one buffer, for the resolver's
    /// substring rule: one vectorized scan instead of a search per item.
    /// Built at the first such query, dropped by any change.
    names: Option<Haystack>,
    /// The exact rule's index, built at its first use: entries by a keyed
    /// hash of each folded name and label (hashes, not the names, so no
    /// further plaintext copy is kept; a hit is compared in full).
    exact: Option<HashMap<u64, Vec<usize>>>,
    exact_keys: RandomState,
}

/// The entries' `MatchKeys::joined`, end to end; `starts[i]` is where
/// entry `i`'s begins.
struct Haystack {
    bytes: Zeroizing<Vec<u8>>,
    starts: Vec<usize>,
}

/// A slice of one table for one worker.
#[derive(Clone, Copy)]
struct Range {
    class: ItemClass,
    lo: i64,
    hi: i64,
}

type Scanned = Vec<Result<Entry, Uuid>>;

fn blob<'a>(r: &'a rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'a [u8]> {
    r.get_ref(i)?.as_blob().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, e.into())
    })
}

fn scan(path: &Path, ranges: &[Range], keys: &Keyring, zone: &str) -> rusqlite::Result<Scanned> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    let mut out = Vec::new();
    let mut plain = Zeroizing::new(Vec::with_capacity(1024));
    for r in ranges {
        // NOT INDEXED: a partial index matches `tomb = 0` and would turn this
        // sequential scan into a random rowid lookup per row.
        let sql = format!(
            "SELECT uuid, gencount, tomb, parent_key_uuid, wrappedkey, encitem FROM {} NOT INDEXED
             WHERE rowid BETWEEN ?1 AND ?2 AND tomb = 0",
            r.class.table()
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params![r.lo, r.hi])?;
        while let Some(row) = rows.next()? {
            let uuid = Uuid::from_bytes(row.get(0)?);
            let view = RowRef {
                uuid,
                gencount: row.get(1)?,
                parent_key_uuid: Uuid::from_bytes(row.get(3)?),
                wrappedkey: blob(row, 4)?,
                encitem: blob(row, 5)?,
            };
            let entry = open_plain(keys, zone, &view, &mut plain)
                .and_then(|()| Entry::from_plain(uuid, &plain, r.class, row.get(2)?));
            out.push(entry.map_err(|_| uuid));
        }
    }
    Ok(out)
}

impl SearchCache {
    pub fn build(
        path: &Path,
        conn: &Connection,
        keys: &Keyring,
        zone: &str,
        data_version: i64,
    ) -> Result<Self, ItemError> {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let mut plan: Vec<Vec<Range>> = vec![Vec::new(); workers];
        for class in ItemClass::ALL {
            let sql = format!("SELECT min(rowid), max(rowid) FROM {}", class.table());
            let (lo, hi): (Option<i64>, Option<i64>) =
                conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (Some(lo), Some(hi)) = (lo, hi) else {
                continue;
            };
            let step = (hi - lo) / workers as i64 + 1;
            for (w, ranges) in plan.iter_mut().enumerate() {
                let start = lo + w as i64 * step;
                if start <= hi {
                    ranges.push(Range {
                        class,
                        lo: start,
                        hi: (start + step - 1).min(hi),
                    });
                }
            }
        }
        let scanned: Vec<rusqlite::Result<Scanned>> = std::thread::scope(|s| {
            let handles: Vec<_> = plan
                .iter()
                .map(|ranges| s.spawn(move || scan(path, ranges, keys, zone)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut cache = SearchCache {
            data_version,
            entries: Vec::new(),
            pos: HashMap::new(),
            damaged: Vec::new(),
            names: None,
            exact: None,
            exact_keys: RandomState::new(),
        };
        for part in scanned {
            for result in part? {
                match result {
                    Ok(entry) => cache.push(entry),
                    Err(uuid) => cache.damaged.push(uuid),
                }
            }
        }
        cache.damaged.sort();
        Ok(cache)
    }

    /// The indexes (into [`entries`](Self::entries)) of the entries whose
    /// name, label or account contains `needle` (folded as they are).
    pub fn names_containing(&mut self, needle: &str) -> Vec<usize> {
        if needle.is_empty() || needle.contains('\n') {
            return Vec::new();
        }
        let entries = &self.entries;
        let hay = self.names.get_or_insert_with(|| {
            let mut bytes = Zeroizing::new(Vec::new());
            let mut starts = Vec::with_capacity(entries.len());
            for e in entries {
                starts.push(bytes.len());
                bytes.extend_from_slice(e.keys.joined().as_bytes());
                bytes.push(b'\n');
            }
            Haystack { bytes, starts }
        });
        let mut hits: Vec<usize> = memmem::find_iter(&hay.bytes, needle.as_bytes())
            .map(|at| hay.starts.partition_point(|&s| s <= at) - 1)
            .collect();
        hits.dedup();
        hits
    }

    /// The indexes of the entries whose folded name or label may equal
    /// `folded` (a hash match: the caller compares).
    pub fn exact_candidates(&mut self, folded: &str) -> &[usize] {
        let (entries, keys) = (&self.entries, &self.exact_keys);
        let index = self.exact.get_or_insert_with(|| {
            let mut index: HashMap<u64, Vec<usize>> = HashMap::with_capacity(entries.len());
            for (i, e) in entries.iter().enumerate() {
                let (name, label) = (e.keys.name(), e.keys.label());
                for key in [name, label].into_iter().filter(|k| !k.is_empty()) {
                    let slot = index.entry(keys.hash_one(key)).or_default();
                    // A label equal to the name: listed once.
                    if slot.last() != Some(&i) {
                        slot.push(i);
                    }
                }
            }
            index
        });
        index
            .get(&self.exact_keys.hash_one(folded))
            .map_or(&[], Vec::as_slice)
    }

    fn push(&mut self, entry: Entry) {
        self.names = None;
        self.exact = None;
        self.pos.insert(entry.summary.uuid, self.entries.len());
        self.entries.push(entry);
    }

    pub fn upsert(&mut self, item: &Item) {
        let Some(entry) = Entry::from_item(item) else {
            return;
        };
        self.names = None;
        self.exact = None;
        match self.pos.get(&item.uuid) {
            Some(&i) => self.entries[i] = entry,
            None => self.push(entry),
        }
    }

    pub fn remove(&mut self, uuid: Uuid) {
        if let Some(i) = self.pos.remove(&uuid) {
            self.names = None;
            self.exact = None;
            self.entries.swap_remove(i);
            if let Some(moved) = self.entries.get(i) {
                self.pos.insert(moved.summary.uuid, i);
            }
        }
    }

    pub fn search(&self, needle_lower: &str) -> Vec<ItemSummary> {
        let finder = memmem::Finder::new(needle_lower.as_bytes());
        self.collect(|e| finder.find(e.text.as_bytes()).is_some())
    }

    /// Every live entry, in no particular order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry of a live item.
    pub fn entry(&self, uuid: Uuid) -> Option<&Entry> {
        self.pos.get(&uuid).map(|&i| &self.entries[i])
    }

    pub fn list(&self, class: Option<ItemClass>) -> Vec<ItemSummary> {
        self.collect(|e| class.is_none_or(|c| e.summary.class == c))
    }

    fn collect(&self, keep: impl Fn(&Entry) -> bool) -> Vec<ItemSummary> {
        let mut out: Vec<ItemSummary> = self
            .entries
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.summary.clone())
            .collect();
        out.sort_by(|a, b| {
            (&a.name, &a.account, &a.label, a.uuid).cmp(&(&b.name, &b.account, &b.label, b.uuid))
        });
        out
    }
}
