//! The log a restored server lost: when the server's log ends on an entry
//! of this device's verified log, the entries after it (each removal with
//! its cut lists, rebuilt from the stored rows) for the device to post
//! again. A server's log that is not a prefix (a fork) gets nothing.

use super::cuts::cut_rows;
use super::db;
use crate::circle::cut::CutList;
use crate::circle::{EntryBody, EntryHash, SignedEntry};
use crate::error::CircleError;
use crate::vault::UnlockedVault;

/// An entry to post again, with its cut lists (zone, bytes).
pub type Repost = (SignedEntry, Vec<(String, Vec<u8>)>);

impl UnlockedVault {
    /// The entries after the server's head (`seq`, `hash`) when that head
    /// is an entry of this device's verified log: a server that lost the
    /// end of the log (restored from a backup) gets them posted again.
    /// `None` when the server's head is not on this log. Stops before a
    /// removal whose cut list this device does not hold.
    pub fn log_to_repost(
        &self,
        seq: u64,
        hash: EntryHash,
    ) -> Result<Option<Vec<Repost>>, CircleError> {
        if db::hash_at(&self.conn, seq)? != Some(hash) {
            return Ok(None);
        }
        let mut out = Vec::new();
        for (entry, signature) in db::read_log(&self.conn)? {
            let e = SignedEntry::decode(&entry, &signature)
                .map_err(|_| CircleError::Corrupt("a stored log entry does not decode"))?;
            let at = e.entry().seq;
            if at <= seq {
                continue;
            }
            let mut lists = Vec::new();
            if let EntryBody::Removal { cuts, .. } = &e.entry().body {
                for cut in cuts {
                    let list = CutList::new(&cut.zone, cut_rows(&self.conn, at, &cut.zone)?)?;
                    let bytes = list.to_bytes();
                    if !cut.names(&bytes, &list) {
                        return Ok(Some(out));
                    }
                    lists.push((cut.zone.clone(), bytes));
                }
            }
            out.push((e, lists));
        }
        Ok(Some(out))
    }
}
