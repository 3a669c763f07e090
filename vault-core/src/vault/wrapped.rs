//! The blobs wrapped under the key-encryption key that sit outside the
//! header and `key_epochs`: the device identity and the epoch keys a device
//! proposed but the circle log has not yet confirmed. A password change
//! re-wraps all of them.

use crate::circle::PeerId;
use crate::crypto::{DeviceIdentity, EpochKey};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// The stored identity's peer id and wrapped secrets.
pub(crate) fn read_identity(conn: &Connection) -> rusqlite::Result<Option<(PeerId, Vec<u8>)>> {
    conn.query_row(
        "SELECT peer_id, wrapped_keys FROM device_identity WHERE id = 1",
        [],
        |r| Ok((PeerId::from_bytes(r.get(0)?), r.get(1)?)),
    )
    .optional()
}

pub(crate) fn insert_identity(
    conn: &Connection,
    id: &DeviceIdentity,
    wrapped: &[u8],
) -> rusqlite::Result<()> {
    let public = id.public();
    conn.execute(
        "INSERT INTO device_identity (id, peer_id, signing_key, agreement_key, wrapped_keys)
         VALUES (1, ?1, ?2, ?3, ?4)",
        params![
            id.peer_id().as_bytes(),
            public.signing,
            public.agreement,
            wrapped
        ],
    )?;
    Ok(())
}

pub(crate) fn update_identity_wrap(conn: &Connection, wrapped: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE device_identity SET wrapped_keys = ?1 WHERE id = 1",
        [wrapped],
    )?;
    Ok(())
}

pub(crate) fn read_pending(conn: &Connection) -> rusqlite::Result<Vec<(u32, Uuid, Vec<u8>)>> {
    conn.prepare_cached("SELECT epoch, key_uuid, wrapped_vk FROM pending_epochs")?
        .query_map([], |r| {
            Ok((r.get(0)?, Uuid::from_bytes(r.get(1)?), r.get(2)?))
        })?
        .collect()
}

/// Inserts or replaces a pending epoch key.
pub(crate) fn insert_pending(
    conn: &Connection,
    key: &EpochKey,
    wrapped: &[u8],
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO pending_epochs (key_uuid, epoch, wrapped_vk) VALUES (?1, ?2, ?3)",
        params![key.key_uuid().as_bytes(), key.number(), wrapped],
    )?;
    Ok(())
}

pub(crate) fn delete_pending(conn: &Connection, key_uuid: Uuid) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM pending_epochs WHERE key_uuid = ?1",
        [key_uuid.as_bytes()],
    )?;
    Ok(())
}
