//! A PostgreSQL transaction as the rules' backend: each primitive one
//! statement, run to completion on the storage's runtime (the caller is
//! not on it: the storage interface is synchronous), and what several
//! rules' primitives share.

use crate::storage::quota::{QuotaOverrides, Usage};
use crate::storage::{StorageError, TaggedRecord};
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use uuid::Uuid;
use vault_core::circle::PeerId;
use vault_core::sync::{RecordParts, SealedRecord};

pub(super) fn pg_err(e: tokio_postgres::Error) -> StorageError {
    StorageError::Backend(Box::new(e))
}

/// A value out of the range the schema's CHECKs allow.
pub(super) fn range_err(what: &'static str) -> StorageError {
    StorageError::Backend(format!("a stored {what} is out of range").into())
}

pub(super) fn unsigned(v: i64, what: &'static str) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| range_err(what))
}

pub(super) fn signed(v: u64, what: &'static str) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Backend(format!("{what} is 2^63 or more").into()))
}

/// Where a [`PgTx`]'s statements run.
pub(super) enum Conn<'t, 'c> {
    /// In a transaction.
    Tx(&'t deadpool_postgres::Transaction<'c>),
    /// On a pooled connection, each statement on its own (for reads of
    /// one statement, which see one snapshot anyway).
    Client(&'t deadpool_postgres::ClientWrapper),
}

/// A transaction (or a connection) as the rules' backend: each primitive
/// one statement, prepared once per connection and run on `runtime`.
pub(super) struct PgTx<'t, 'c> {
    pub runtime: &'t Runtime,
    pub conn: Conn<'t, 'c>,
}

impl PgTx<'_, '_> {
    pub(super) fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        self.runtime
            .block_on(async {
                match self.conn {
                    Conn::Tx(tx) => tx.query(&tx.prepare_cached(sql).await?, params).await,
                    Conn::Client(c) => c.query(&c.prepare_cached(sql).await?, params).await,
                }
            })
            .map_err(pg_err)
    }

    pub(super) fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        self.runtime
            .block_on(async {
                match self.conn {
                    Conn::Tx(tx) => tx.execute(&tx.prepare_cached(sql).await?, params).await,
                    Conn::Client(c) => c.execute(&c.prepare_cached(sql).await?, params).await,
                }
            })
            .map_err(pg_err)
    }
}

/// The columns [`tagged_of`] reads, in its order.
pub(super) const RECORD_COLUMNS: &str =
    "seq, uuid, gencount, epoch, tomb, circle_pos, writer, wrappedkey, encitem, signature";

/// A stored record, `tag` being its seq.
pub(super) fn tagged_of(r: &tokio_postgres::Row) -> Result<TaggedRecord, StorageError> {
    let writer: [u8; 32] = r
        .get::<_, &[u8]>(6)
        .try_into()
        .map_err(|_| range_err("writer"))?;
    let signature: [u8; 64] = r
        .get::<_, &[u8]>(9)
        .try_into()
        .map_err(|_| range_err("signature"))?;
    let record = SealedRecord::from_parts(RecordParts {
        uuid: uuid_of(r.get(1))?,
        gencount: unsigned(r.get(2), "gencount")?,
        epoch: u32::try_from(r.get::<_, i64>(3)).map_err(|_| range_err("epoch"))?,
        tomb: r.get(4),
        circle_pos: unsigned(r.get(5), "circle position")?,
        writer: PeerId::from_bytes(writer),
        wrappedkey: r.get(7),
        encitem: r.get(8),
        signature,
    })
    .map_err(|e| StorageError::Backend(Box::new(e)))?;
    Ok(TaggedRecord {
        tag: unsigned(r.get(0), "seq")?,
        record,
    })
}

/// A 32-byte column.
pub(super) fn bytes32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], StorageError> {
    bytes.try_into().map_err(|_| range_err(what))
}

pub(super) fn uuid_params(uuids: &[Uuid]) -> Vec<&[u8]> {
    uuids.iter().map(|u| &u.as_bytes()[..]).collect()
}

pub(super) fn uuid_of(bytes: &[u8]) -> Result<Uuid, StorageError> {
    Uuid::from_slice(bytes).map_err(|_| range_err("uuid"))
}

impl PgTx<'_, '_> {
    /// The circle's current members, live records and bytes.
    pub(super) fn circle_usage(&self, circle_id: Uuid) -> Result<Usage, StorageError> {
        let rows = self.query(
            "SELECT (SELECT count(*) FROM members WHERE circle_id = $1 AND NOT removed),
                    (SELECT COALESCE(sum(live), 0)::bigint FROM zones WHERE circle_id = $1),
                    (SELECT COALESCE(sum(bytes), 0)::bigint FROM zones WHERE circle_id = $1)",
            &[&&circle_id.as_bytes()[..]],
        )?;
        let r = rows.first().ok_or(StorageError::NotFound)?;
        Ok(Usage {
            devices: unsigned(r.get(0), "device count")?,
            records: unsigned(r.get(1), "record count")?,
            bytes: unsigned(r.get(2), "byte count")?,
        })
    }

    /// The circle's own quota limits (none for an unknown circle).
    pub(super) fn circle_quotas(&self, circle_id: Uuid) -> Result<QuotaOverrides, StorageError> {
        let rows = self.query(
            "SELECT max_devices, max_records, max_bytes FROM circles WHERE circle_id = $1",
            &[&&circle_id.as_bytes()[..]],
        )?;
        let Some(r) = rows.first() else {
            return Ok(QuotaOverrides::default());
        };
        let limit = |i: usize| -> Result<Option<u64>, StorageError> {
            r.get::<_, Option<i64>>(i)
                .map(|v| unsigned(v, "quota"))
                .transpose()
        };
        Ok(QuotaOverrides {
            max_devices: limit(0)?,
            max_records: limit(1)?,
            max_bytes: limit(2)?,
        })
    }
}
