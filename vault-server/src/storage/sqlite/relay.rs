//! Key shares, invites and the pairing relay in SQLite. An invite is
//! claimed by one conditional `UPDATE`, so of two joins exactly one wins.

use super::{blob32, circles, db_err, seq_of, seq_to_sql, uuid_of};
use crate::storage::{
    Hash32, InviteError, InviteId, InviteRow, PeerBytes, RelayMessage, ShareError, ShareRow, Side,
    StorageError,
};
use rusqlite::{Connection, Transaction, params};
use uuid::Uuid;

fn side_code(side: Side) -> i64 {
    match side {
        Side::Inviter => 0,
        Side::Joiner => 1,
    }
}

fn is_current(c: &Connection, circle_id: Uuid, peer: &PeerBytes) -> Result<bool, StorageError> {
    match circles::member(c, circle_id, peer) {
        Ok(m) => Ok(!m.removed),
        Err(StorageError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) fn put_shares(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    sender: &PeerBytes,
    shares: &[(PeerBytes, Vec<u8>)],
    now: i64,
) -> Result<(), ShareError> {
    if !is_current(tx, circle_id, sender)? {
        return Err(ShareError::SenderNotMember);
    }
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO shares (circle_id, recipient, sender, blob, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db_err)?;
    for (recipient, blob) in shares {
        if !is_current(tx, circle_id, recipient)? {
            return Err(ShareError::RecipientNotMember);
        }
        insert
            .execute(params![circle_id.as_bytes(), recipient, sender, blob, now])
            .map_err(db_err)?;
    }
    Ok(())
}

pub(super) fn shares(
    c: &Connection,
    circle_id: Uuid,
    recipient: &PeerBytes,
    after: i64,
    limit: u32,
) -> Result<Vec<ShareRow>, StorageError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, sender, blob FROM shares
             WHERE circle_id = ?1 AND recipient = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(
            params![circle_id.as_bytes(), recipient, after, i64::from(limit)],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get(2)?)),
        )
        .map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, sender, blob) = row.map_err(db_err)?;
        out.push(ShareRow {
            id,
            sender: blob32(sender)?,
            blob,
        });
    }
    Ok(out)
}

pub(super) fn create_invite(
    tx: &Transaction<'_>,
    invite_id: &InviteId,
    circle_id: Uuid,
    inviter: &PeerBytes,
    expires: i64,
) -> Result<(), StorageError> {
    let n = tx
        .prepare_cached(
            "INSERT INTO invites (invite_id, circle_id, inviter, expires) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (invite_id) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![invite_id, circle_id.as_bytes(), inviter, expires]))
        .map_err(db_err)?;
    if n == 0 {
        return Err(StorageError::Conflict);
    }
    Ok(())
}

pub(super) fn invite(c: &Connection, invite_id: &InviteId) -> Result<InviteRow, StorageError> {
    let (circle, inviter, expires, relay): (Vec<u8>, Vec<u8>, i64, Option<Vec<u8>>) = c
        .prepare_cached(
            "SELECT circle_id, inviter, expires, relay_token_hash FROM invites
             WHERE invite_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([invite_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
        })
        .map_err(db_err)?;
    Ok(InviteRow {
        circle_id: uuid_of(circle)?,
        inviter: blob32(inviter)?,
        expires,
        relay_token_hash: relay.map(blob32).transpose()?,
    })
}

/// The invite's state for a writer: `NotFound`, `Gone` (expired), or ok.
fn check_live(tx: &Transaction<'_>, invite_id: &InviteId, now: i64) -> Result<(), InviteError> {
    match invite(tx, invite_id) {
        Ok(row) if row.expires > now => Ok(()),
        Ok(_) => Err(InviteError::Gone),
        Err(StorageError::NotFound) => Err(InviteError::NotFound),
        Err(e) => Err(e.into()),
    }
}

fn insert_message(
    tx: &Transaction<'_>,
    invite_id: &InviteId,
    side: Side,
    message: &[u8],
) -> Result<u64, StorageError> {
    let seq: i64 = tx
        .prepare_cached(
            "UPDATE invites SET last_seq = last_seq + 1 WHERE invite_id = ?1 RETURNING last_seq",
        )
        .and_then(|mut s| s.query_row([invite_id], |r| r.get(0)))
        .map_err(db_err)?;
    tx.prepare_cached(
        "INSERT INTO relay_messages (invite_id, seq, side, message) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![invite_id, seq, side_code(side), message]))
    .map_err(db_err)?;
    seq_of(seq)
}

pub(super) fn join(
    tx: &Transaction<'_>,
    invite_id: &InviteId,
    relay_token_hash: &Hash32,
    message: &[u8],
    now: i64,
) -> Result<u64, InviteError> {
    let claimed = tx
        .prepare_cached(
            "UPDATE invites SET joined = 1, relay_token_hash = ?2
             WHERE invite_id = ?1 AND joined = 0 AND expires > ?3",
        )
        .and_then(|mut s| s.execute(params![invite_id, relay_token_hash, now]))
        .map_err(db_err)?;
    if claimed != 1 {
        check_live(tx, invite_id, now)?;
        // Live but not claimable: it was joined already.
        return Err(InviteError::Gone);
    }
    Ok(insert_message(tx, invite_id, Side::Joiner, message)?)
}

pub(super) fn post(
    tx: &Transaction<'_>,
    invite_id: &InviteId,
    side: Side,
    message: &[u8],
    now: i64,
    max_messages: u32,
) -> Result<u64, InviteError> {
    check_live(tx, invite_id, now)?;
    let count: i64 = tx
        .prepare_cached("SELECT count(*) FROM relay_messages WHERE invite_id = ?1")
        .and_then(|mut s| s.query_row([invite_id], |r| r.get(0)))
        .map_err(db_err)?;
    if count >= i64::from(max_messages) {
        return Err(InviteError::Full);
    }
    Ok(insert_message(tx, invite_id, side, message)?)
}

pub(super) fn messages(
    c: &Connection,
    invite_id: &InviteId,
    from: Side,
    after: u64,
) -> Result<Vec<RelayMessage>, StorageError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT seq, message FROM relay_messages
             WHERE invite_id = ?1 AND side = ?2 AND seq > ?3 ORDER BY seq",
        )
        .map_err(db_err)?;
    let after = seq_to_sql(after.min(i64::MAX as u64))?;
    let rows = stmt
        .query_map(params![invite_id, side_code(from), after], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1)?))
        })
        .map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, message) = row.map_err(db_err)?;
        out.push(RelayMessage {
            seq: seq_of(seq)?,
            message,
        });
    }
    Ok(out)
}
