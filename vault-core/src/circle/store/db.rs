//! The circle's tables: the device identity, the circle row, the signed
//! log, the trusted-peers projection and pending epoch keys.

use crate::circle::cache::CircleRow;
use crate::circle::{CircleState, EntryHash, ServerTrust, SignedEntry};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

pub(crate) fn read_circle(conn: &Connection) -> rusqlite::Result<Option<CircleRow>> {
    conn.prepare_cached(
        "SELECT circle_id, server_url, genesis_hash, head_seq, head_hash,
                tls_ca_pem, tls_cert_pin, allow_insecure_http, more_servers
         FROM circle WHERE id = 1",
    )?
    .query_row([], |r| {
        Ok(CircleRow {
            circle_id: Uuid::from_bytes(r.get(0)?),
            server_url: r.get(1)?,
            more_servers: r
                .get::<_, String>(8)?
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            trust: ServerTrust {
                ca_pem: r.get(5)?,
                cert_pin: r.get(6)?,
                allow_insecure_http: r.get(7)?,
            },
            genesis: EntryHash(r.get(2)?),
            head_seq: r.get(3)?,
            head: EntryHash(r.get(4)?),
        })
    })
    .optional()
}

pub(crate) fn insert_circle(conn: &Connection, row: &CircleRow) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO circle (id, circle_id, server_url, genesis_hash, head_seq, head_hash,
                             tls_ca_pem, tls_cert_pin, allow_insecure_http, more_servers)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            row.circle_id.as_bytes(),
            row.server_url,
            row.genesis.0,
            row.head_seq,
            row.head.0,
            row.trust.ca_pem,
            row.trust.cert_pin,
            row.trust.allow_insecure_http,
            row.more_servers.join("\n"),
        ],
    )?;
    Ok(())
}

/// The circle's servers: the first becomes `server_url`, the rest are
/// tried after it.
pub(crate) fn update_servers(
    conn: &Connection,
    first: &str,
    more: &[String],
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE circle SET server_url = ?1, more_servers = ?2 WHERE id = 1",
        params![first, more.join("\n")],
    )?;
    Ok(())
}

pub(crate) fn update_trust(conn: &Connection, trust: &ServerTrust) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE circle SET tls_ca_pem = ?1, tls_cert_pin = ?2, allow_insecure_http = ?3 WHERE id = 1",
        params![trust.ca_pem, trust.cert_pin, trust.allow_insecure_http],
    )?;
    Ok(())
}

pub(crate) fn update_head(conn: &Connection, seq: u64, head: EntryHash) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE circle SET head_seq = ?1, head_hash = ?2 WHERE id = 1",
        params![seq, head.0],
    )?;
    Ok(())
}

/// The stored log, oldest first, as stored bytes (decoded by the caller).
pub(crate) fn read_log(conn: &Connection) -> rusqlite::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    conn.prepare_cached("SELECT entry, signature FROM circle_log ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

pub(crate) fn append_log(conn: &Connection, entries: &[SignedEntry]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO circle_log (seq, entry_hash, prev_hash, entry, signature)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for e in entries {
        stmt.execute(params![
            e.entry().seq,
            e.hash().0,
            e.entry().prev.0,
            e.entry_bytes(),
            &e.signature()[..]
        ])?;
    }
    Ok(())
}

/// Rewrites `trusted_peers` from a verified state.
pub(crate) fn write_peers(conn: &Connection, state: &CircleState) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM trusted_peers", [])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO trusted_peers (peer_id, signing_key, agreement_key, added_by, added_at,
                                    removed_at, name_epoch, sealed_name, added_seq, removed_by,
                                    removed_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (id, m) in state.members().chain(state.removed()) {
        stmt.execute(params![
            id.as_bytes(),
            m.keys.signing,
            m.keys.agreement,
            m.added_by.as_bytes(),
            m.added_at,
            m.removed.map(|r| r.at),
            m.name.epoch(),
            m.name.blob(),
            m.seq,
            m.removed.map(|r| r.by.as_bytes().to_vec()),
            m.removed.map(|r| r.seq),
        ])?;
    }
    Ok(())
}

/// Replaces every stored epoch key (after a change of circle id or a join).
pub(crate) fn replace_epochs(
    conn: &Connection,
    wrapped: &[(u32, Uuid, Vec<u8>)],
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM key_epochs", [])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO key_epochs (epoch, key_uuid, wrapped_vk) VALUES (?1, ?2, ?3)",
    )?;
    for (n, u, w) in wrapped {
        stmt.execute(params![n, u.as_bytes(), w])?;
    }
    Ok(())
}

pub(crate) fn set_meta_circle(
    conn: &Connection,
    circle_id: Uuid,
    current_epoch: u32,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE vault_meta SET circle_id = ?1, current_epoch = ?2 WHERE id = 1",
        params![circle_id.as_bytes(), current_epoch],
    )?;
    Ok(())
}

/// The stored entry's hash at `seq`.
pub(crate) fn hash_at(conn: &Connection, seq: u64) -> rusqlite::Result<Option<EntryHash>> {
    conn.prepare_cached("SELECT entry_hash FROM circle_log WHERE seq = ?1")?
        .query_row([seq], |r| Ok(EntryHash(r.get(0)?)))
        .optional()
}

/// The stored circle for [`crate::LockedVault::info`]: no key needed.
pub(crate) fn summary(conn: &Connection) -> rusqlite::Result<Option<super::CircleSummary>> {
    let Some(row) = read_circle(conn)? else {
        return Ok(None);
    };
    let peer: Vec<u8> = conn.query_row(
        "SELECT peer_id FROM device_identity WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    let peer: [u8; 32] = peer.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "peer_id".into(), rusqlite::types::Type::Blob)
    })?;
    let members: u64 = conn.query_row(
        "SELECT count(*) FROM trusted_peers WHERE removed_seq IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(Some(super::CircleSummary {
        circle_id: row.circle_id,
        servers: std::iter::once(row.server_url.clone())
            .chain(row.more_servers.iter().cloned())
            .collect(),
        server_url: row.server_url,
        insecure_http: row.trust.allow_insecure_http,
        peer_id: crate::circle::PeerId::from_bytes(peer),
        members,
        head_seq: row.head_seq,
    }))
}
