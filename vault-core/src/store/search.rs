//! The decrypted search cache: each live item's summary and lowercased
//! non-secret text. Built on first use after unlock (decrypting in
//! parallel), kept in step with this handle's writes, rebuilt when another
//! handle commits (`PRAGMA data_version`), and zeroized on drop.

use super::keyring::Keyring;
use super::rows::{ROW_COLS, Row, open_row};
use crate::error::ItemError;
use crate::item::{Item, ItemClass, ItemData, ItemSummary};
use memchr::memmem;
use rusqlite::Connection;
use std::collections::HashMap;
use uuid::Uuid;
use zeroize::Zeroizing;

struct Entry {
    summary: ItemSummary,
    text: Zeroizing<String>,
}

impl Entry {
    fn new(uuid: Uuid, data: &ItemData, modified_ms: i64) -> Self {
        Entry {
            summary: data.summary(uuid, modified_ms),
            text: Zeroizing::new(data.search_text()),
        }
    }
}

pub(crate) struct SearchCache {
    pub data_version: i64,
    entries: Vec<Entry>,
    pos: HashMap<Uuid, usize>,
    pub damaged: Vec<Uuid>,
}

impl SearchCache {
    pub fn build(
        conn: &Connection,
        keys: &Keyring,
        zone: &str,
        data_version: i64,
    ) -> Result<Self, ItemError> {
        let mut rows: Vec<(ItemClass, Row)> = Vec::new();
        for class in ItemClass::ALL {
            let sql = format!("SELECT {ROW_COLS} FROM {} WHERE tomb = 0", class.table());
            let mut stmt = conn.prepare_cached(&sql)?;
            for row in stmt.query_map([], Row::from_sql)? {
                rows.push((class, row?));
            }
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let chunk = rows.len().div_ceil(threads).max(1);
        let opened: Vec<Vec<Result<Entry, Uuid>>> = std::thread::scope(|s| {
            let handles: Vec<_> = rows
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(class, row)| match open_row(keys, zone, *class, row) {
                                Ok(d) => Ok(Entry::new(row.uuid, &d.data, d.modified_ms)),
                                Err(_) => Err(row.uuid),
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut cache = SearchCache {
            data_version,
            entries: Vec::with_capacity(rows.len()),
            pos: HashMap::with_capacity(rows.len()),
            damaged: Vec::new(),
        };
        for result in opened.into_iter().flatten() {
            match result {
                Ok(entry) => cache.push(entry),
                Err(uuid) => cache.damaged.push(uuid),
            }
        }
        Ok(cache)
    }

    fn push(&mut self, entry: Entry) {
        self.pos.insert(entry.summary.uuid, self.entries.len());
        self.entries.push(entry);
    }

    pub fn upsert(&mut self, item: &Item) {
        let entry = Entry::new(item.uuid, &item.data, item.modified_ms);
        match self.pos.get(&item.uuid) {
            Some(&i) => self.entries[i] = entry,
            None => self.push(entry),
        }
    }

    pub fn remove(&mut self, uuid: Uuid) {
        if let Some(i) = self.pos.remove(&uuid) {
            self.entries.swap_remove(i);
            if let Some(moved) = self.entries.get(i) {
                self.pos.insert(moved.summary.uuid, i);
            }
        }
    }

    pub fn search(&self, needle_lower: &str) -> Vec<ItemSummary> {
        let finder = memmem::Finder::new(needle_lower.as_bytes());
        let mut out: Vec<ItemSummary> = self
            .entries
            .iter()
            .filter(|e| finder.find(e.text.as_bytes()).is_some())
            .map(|e| e.summary.clone())
            .collect();
        sort(&mut out);
        out
    }

    pub fn list(&self, class: Option<ItemClass>) -> Vec<ItemSummary> {
        let mut out: Vec<ItemSummary> = self
            .entries
            .iter()
            .filter(|e| class.is_none_or(|c| e.summary.class == c))
            .map(|e| e.summary.clone())
            .collect();
        sort(&mut out);
        out
    }
}

fn sort(items: &mut [ItemSummary]) {
    items.sort_by(|a, b| {
        (&a.name, &a.account, &a.label, a.uuid).cmp(&(&b.name, &b.account, &b.label, b.uuid))
    });
}
