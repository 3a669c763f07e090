//! The outbox and the server's confirmed version of each item (`ckmirror`):
//! every local write marks its item here in the same transaction, keeping
//! the server's version as the merge base. The sync engine
//! ([`crate::sync::engine`]) reads and clears these marks.

use super::rows::Row;
use crate::sync::Digest;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// An item's `ckmirror` row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mirror {
    /// The server version's gencount, if the server has confirmed one.
    pub server_gencount: Option<u64>,
    /// The server version's sequence (its change tag).
    pub change_tag: Option<u64>,
    /// The server version's content hash (`None` for a tombstone).
    pub server_leaf: Option<Digest>,
    /// A local edit waits to be pushed.
    pub pending: bool,
    /// The version the waiting edit started from, sealed.
    pub base: Option<Base>,
}

/// A sealed base version kept for the three-way merge.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub gencount: u64,
    pub parent_key_uuid: Uuid,
    pub wrappedkey: Vec<u8>,
    pub encitem: Vec<u8>,
}

fn leaf_of(v: Option<Vec<u8>>) -> Option<Digest> {
    v.and_then(|b| b.try_into().ok())
}

pub(crate) fn mirror(conn: &Connection, uuid: Uuid) -> rusqlite::Result<Option<Mirror>> {
    conn.prepare_cached(
        "SELECT server_gencount, change_tag, server_leaf, upload_pending,
                base_parent_key_uuid, base_wrappedkey, base_encitem
         FROM ckmirror WHERE uuid = ?1",
    )?
    .query_row([uuid.as_bytes()], |r| {
        let server_gencount: Option<u64> = r.get(0)?;
        let base = match (r.get::<_, Option<[u8; 16]>>(4)?, r.get(5)?, r.get(6)?) {
            (Some(p), Some(wk), Some(ek)) => Some(Base {
                gencount: server_gencount.unwrap_or(0),
                parent_key_uuid: Uuid::from_bytes(p),
                wrappedkey: wk,
                encitem: ek,
            }),
            _ => None,
        };
        Ok(Mirror {
            server_gencount,
            change_tag: r.get(1)?,
            server_leaf: leaf_of(r.get(2)?),
            pending: r.get(3)?,
            base,
        })
    })
    .optional()
}

/// Records a local write of `uuid` in the outbox. `before` is the row the
/// write replaces: if it was the server's version, it becomes the base the
/// edit is merged against.
pub(crate) fn mark_local_write(
    conn: &Connection,
    uuid: Uuid,
    before: Option<&Row>,
) -> rusqlite::Result<()> {
    let keep_base = match (before, mirror(conn, uuid)?) {
        (Some(row), Some(m)) => {
            !m.pending && m.server_gencount == Some(row.gencount) && m.server_leaf.is_some()
        }
        _ => false,
    };
    if let (true, Some(row)) = (keep_base, before) {
        conn.prepare_cached(
            "UPDATE ckmirror SET upload_pending = 1, base_parent_key_uuid = ?2,
                 base_wrappedkey = ?3, base_encitem = ?4 WHERE uuid = ?1",
        )?
        .execute(params![
            uuid.as_bytes(),
            row.parent_key_uuid.as_bytes(),
            row.wrappedkey,
            row.encitem
        ])?;
    } else {
        conn.prepare_cached(
            "INSERT INTO ckmirror (uuid, upload_pending) VALUES (?1, 1)
             ON CONFLICT (uuid) DO UPDATE SET upload_pending = 1",
        )?
        .execute([uuid.as_bytes()])?;
    }
    Ok(())
}

/// Items waiting in the outbox, with the change tag each edit is based on.
pub(crate) fn outbox(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<(Uuid, u64)>> {
    conn.prepare_cached(
        "SELECT uuid, coalesce(change_tag, 0) FROM ckmirror
         WHERE upload_pending = 1 ORDER BY uuid LIMIT ?1",
    )?
    .query_map([limit as i64], |r| {
        Ok((Uuid::from_bytes(r.get(0)?), r.get(1)?))
    })?
    .collect()
}

pub(crate) fn pending_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM ckmirror WHERE upload_pending = 1")?
        .query_row([], |r| r.get(0))
}
