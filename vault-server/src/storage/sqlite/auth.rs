//! Session tokens in SQLite (only their SHA-256 is stored).

use super::{blob32, circles, db_err, uuid_of};
use crate::storage::{Hash32, IssueError, PeerBytes, StorageError, TokenRow};
use rusqlite::{Connection, Transaction, params};
use uuid::Uuid;

/// Stores a token for a current member (the challenge was checked).
pub(super) fn issue_token(
    tx: &Transaction<'_>,
    circle_id: Uuid,
    peer: &PeerBytes,
    token_hash: &Hash32,
    expires: i64,
) -> Result<(), IssueError> {
    match circles::member(tx, circle_id, peer) {
        Ok(m) if !m.removed => {}
        Ok(_) | Err(StorageError::NotFound) => return Err(IssueError::NotMember),
        Err(e) => return Err(e.into()),
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
    let (circle, peer, expires): (Vec<u8>, Vec<u8>, i64) = c
        .prepare_cached(
            "SELECT circle_id, peer_id, expires FROM tokens
             WHERE token_hash = ?1 AND expires > ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![token_hash, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
        .map_err(db_err)?;
    Ok(TokenRow {
        circle_id: uuid_of(circle)?,
        peer: blob32(peer)?,
        expires,
    })
}
