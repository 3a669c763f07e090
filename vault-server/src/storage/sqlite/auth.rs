//! Session tokens in SQLite (only their SHA-256 is stored).

use super::{blob32, circles, db_err, uuid_of};
use crate::storage::registration::LAST_ACTIVE_GRAIN;
use crate::storage::{Hash32, IssueError, PeerBytes, StorageError, TokenRow};
use rusqlite::{Connection, Transaction, params};
use uuid::Uuid;

/// Stores a token for a current member (the challenge was checked).
pub(super) fn issue_token(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    peer: &PeerBytes,
    token_hash: &Hash32,
    now: i64,
    expires: i64,
) -> Result<(), IssueError> {
    match circles::member(tx, circle_id, peer) {
        Ok(m) if !m.removed => {}
        Ok(_) | Err(StorageError::NotFound) => return Err(IssueError::NotMember),
        Err(e) => return Err(e.into()),
    }
    // A disabled circle issues no tokens; an enabled one notes the login
    // (to within LAST_ACTIVE_GRAIN).
    let (disabled, last_active): (bool, Option<i64>) = tx
        .prepare_cached(
            "SELECT disabled IS NOT NULL, last_active FROM circles WHERE circle_id = ?1",
        )
        .and_then(|mut s| s.query_row([circle_id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(db_err)?;
    if disabled {
        return Err(IssueError::Disabled);
    }
    if last_active.is_none_or(|at| at <= now - LAST_ACTIVE_GRAIN) {
        tx.prepare_cached("UPDATE circles SET last_active = ?2 WHERE circle_id = ?1")
            .and_then(|mut s| s.execute(params![circle_id.as_bytes(), now]))
            .map_err(db_err)?;
    }
    tx.prepare_cached(
        "INSERT INTO tokens (token_hash, circle_id, peer_id, expires) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![token_hash, circle_id.as_bytes(), peer, expires]))
    .map_err(db_err)?;
    Ok(())
}

pub(super) fn token(
    c: &Connection,
    token_hash: &Hash32,
    now: i64,
) -> Result<TokenRow, StorageError> {
    let (circle, peer, expires, disabled): (Vec<u8>, Vec<u8>, i64, bool) = c
        .prepare_cached(
            "SELECT t.circle_id, t.peer_id, t.expires, c.disabled IS NOT NULL
             FROM tokens t JOIN circles c ON c.circle_id = t.circle_id
             WHERE t.token_hash = ?1 AND t.expires > ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![token_hash, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
        })
        .map_err(db_err)?;
    Ok(TokenRow {
        circle_id: uuid_of(circle)?,
        peer: blob32(peer)?,
        expires,
        disabled,
    })
}

/// The circles an admin disabled.
pub(super) fn disabled_circles(c: &Connection) -> Result<Vec<Uuid>, StorageError> {
    let mut stmt = c
        .prepare_cached("SELECT circle_id FROM circles WHERE disabled IS NOT NULL")
        .map_err(db_err)?;
    let ids = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    ids.into_iter().map(uuid_of).collect()
}
