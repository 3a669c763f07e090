//! The malicious server's hands: edits to a running server's database
//! behind its back, the same on SQLite and PostgreSQL, keeping the
//! server's own caches consistent the way the server would (a new seq per
//! re-served record, the bucket marked dirty, the cached root cleared, the
//! live count recomputed).

use super::ServerProc;

/// One row of the server's `records` table.
#[derive(Debug, Clone)]
pub struct Rec {
    pub uuid: Vec<u8>,
    pub seq: i64,
    pub gencount: i64,
    pub epoch: i64,
    pub tomb: bool,
    pub circle_pos: i64,
    pub writer: Vec<u8>,
    pub wrappedkey: Vec<u8>,
    pub encitem: Vec<u8>,
    pub signature: Vec<u8>,
}

/// One row of `zone_manifests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub zone_id: i64,
    pub peer_id: Vec<u8>,
    pub counter: i64,
    pub epoch: i64,
    pub token_seq: i64,
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A connection to a server's database.
pub enum ServerDb {
    Sqlite(rusqlite::Connection),
    Postgres {
        runtime: tokio::runtime::Runtime,
        client: tokio_postgres::Client,
    },
}

impl ServerProc {
    /// A connection to this server's database, whichever it is.
    pub fn db(&self) -> ServerDb {
        match &self.pg_url {
            None => ServerDb::Sqlite(self.sql()),
            Some(url) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let client = runtime.block_on(async {
                    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    tokio::spawn(connection);
                    client
                });
                ServerDb::Postgres { runtime, client }
            }
        }
    }
}

const REC_COLUMNS: &str =
    "uuid, seq, gencount, epoch, tomb, circle_pos, writer, wrappedkey, encitem, signature";

const MANIFEST_COLUMNS: &str = "zone_id, peer_id, counter, epoch, token_seq, body, signature";

impl ServerDb {
    /// The record of an item, by its uuid's bytes.
    pub fn rec(&mut self, uuid: &[u8]) -> Option<Rec> {
        let sql = format!("SELECT {REC_COLUMNS} FROM records WHERE uuid = $1");
        match self {
            ServerDb::Sqlite(c) => {
                use rusqlite::OptionalExtension;
                c.query_row(&sql, [uuid], |r| {
                    Ok(Rec {
                        uuid: r.get(0)?,
                        seq: r.get(1)?,
                        gencount: r.get(2)?,
                        epoch: r.get(3)?,
                        tomb: r.get(4)?,
                        circle_pos: r.get(5)?,
                        writer: r.get(6)?,
                        wrappedkey: r.get(7)?,
                        encitem: r.get(8)?,
                        signature: r.get(9)?,
                    })
                })
                .optional()
                .unwrap()
            }
            ServerDb::Postgres { runtime, client } => runtime
                .block_on(client.query_opt(&sql, &[&uuid]))
                .unwrap()
                .map(|r| Rec {
                    uuid: r.get(0),
                    seq: r.get(1),
                    gencount: r.get(2),
                    epoch: r.get(3),
                    tomb: r.get(4),
                    circle_pos: r.get(5),
                    writer: r.get(6),
                    wrappedkey: r.get(7),
                    encitem: r.get(8),
                    signature: r.get(9),
                }),
        }
    }

    /// The (only) zone's id and seq.
    pub fn zone(&mut self) -> (i64, i64) {
        let sql = "SELECT zone_id, seq FROM zones";
        match self {
            ServerDb::Sqlite(c) => c
                .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap(),
            ServerDb::Postgres { runtime, client } => {
                let r = runtime.block_on(client.query_one(sql, &[])).unwrap();
                (r.get(0), r.get(1))
            }
        }
    }

    /// Runs the statements in one transaction.
    fn batch(&mut self, sql: &str) {
        match self {
            ServerDb::Sqlite(c) => c.execute_batch(&format!("BEGIN; {sql}; COMMIT")).unwrap(),
            ServerDb::Postgres { runtime, client } => runtime
                .block_on(client.batch_execute(&format!("BEGIN; {sql}; COMMIT")))
                .unwrap(),
        }
    }

    /// Writes `r` (at `r.seq`) in place of its uuid's record, the zone's
    /// seq set to `zone_seq`, and what the server would update with it.
    pub fn put(&mut self, r: &Rec, zone_seq: i64) {
        let (zone_id, _) = self.zone();
        let content = vault_core::sync::content_hash(&r.wrappedkey, &r.encitem);
        let tomb = match self {
            ServerDb::Sqlite(_) => if r.tomb { "1" } else { "0" }.to_owned(),
            ServerDb::Postgres { .. } => r.tomb.to_string(),
        };
        let sql = format!(
            "DELETE FROM records WHERE zone_id = {zone_id} AND uuid = {uuid};
             INSERT INTO records (zone_id, uuid, seq, gencount, epoch, tomb, circle_pos, writer,
                                  wrappedkey, encitem, signature, content)
             VALUES ({zone_id}, {uuid}, {seq}, {gencount}, {epoch}, {tomb}, {pos}, {writer},
                     {wk}, {ei}, {sig}, {content});
             UPDATE zones SET seq = {zone_seq} WHERE zone_id = {zone_id};
             {touched}",
            uuid = self.blob(&r.uuid),
            seq = r.seq,
            gencount = r.gencount,
            epoch = r.epoch,
            pos = r.circle_pos,
            writer = self.blob(&r.writer),
            wk = self.blob(&r.wrappedkey),
            ei = self.blob(&r.encitem),
            sig = self.blob(&r.signature),
            content = self.blob(&content),
            touched = self.touched(zone_id, &r.uuid),
        );
        self.batch(&sql);
    }

    /// Re-serves `r` as a new change: at the zone's next seq.
    pub fn reserve(&mut self, mut r: Rec) {
        let (_, seq) = self.zone();
        r.seq = seq + 1;
        self.put(&r, seq + 1);
    }

    /// Drops an item's record, without a change.
    pub fn delete(&mut self, uuid: &[u8]) {
        let (zone_id, _) = self.zone();
        assert!(self.rec(uuid).is_some(), "no record to delete");
        let sql = format!(
            "DELETE FROM records WHERE uuid = {}; {}",
            self.blob(uuid),
            self.touched(zone_id, uuid)
        );
        self.batch(&sql);
    }

    /// What the server does after changing records: the touched bucket
    /// dirty, the cached root cleared and the live count recomputed.
    fn touched(&self, zone_id: i64, uuid: &[u8]) -> String {
        let live = match self {
            ServerDb::Sqlite(_) => "tomb = 0",
            ServerDb::Postgres { .. } => "NOT tomb",
        };
        format!(
            "INSERT INTO zone_buckets (zone_id, bucket, hash) VALUES ({zone_id}, {}, NULL)
             ON CONFLICT (zone_id, bucket) DO UPDATE SET hash = NULL;
             UPDATE zones SET root = NULL,
                live = (SELECT count(*) FROM records WHERE zone_id = {zone_id} AND {live})
             WHERE zone_id = {zone_id}",
            uuid[0]
        )
    }

    /// A byte string as an SQL literal of this dialect.
    fn blob(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        match self {
            ServerDb::Sqlite(_) => format!("X'{hex}'"),
            ServerDb::Postgres { .. } => format!("'\\x{hex}'::bytea"),
        }
    }

    /// A peer's stored signed manifest.
    pub fn manifest(&mut self, peer: &[u8]) -> Option<ManifestRow> {
        let sql = format!("SELECT {MANIFEST_COLUMNS} FROM zone_manifests WHERE peer_id = $1");
        match self {
            ServerDb::Sqlite(c) => {
                use rusqlite::OptionalExtension;
                c.query_row(&sql, [peer], |r| {
                    Ok(ManifestRow {
                        zone_id: r.get(0)?,
                        peer_id: r.get(1)?,
                        counter: r.get(2)?,
                        epoch: r.get(3)?,
                        token_seq: r.get(4)?,
                        body: r.get(5)?,
                        signature: r.get(6)?,
                    })
                })
                .optional()
                .unwrap()
            }
            ServerDb::Postgres { runtime, client } => runtime
                .block_on(client.query_opt(&sql, &[&peer]))
                .unwrap()
                .map(|r| ManifestRow {
                    zone_id: r.get(0),
                    peer_id: r.get(1),
                    counter: r.get(2),
                    epoch: r.get(3),
                    token_seq: r.get(4),
                    body: r.get(5),
                    signature: r.get(6),
                }),
        }
    }

    /// Replaces a peer's stored manifest with `row`, or deletes it.
    pub fn set_manifest(&mut self, peer: &[u8], row: Option<&ManifestRow>) {
        let mut sql = format!(
            "DELETE FROM zone_manifests WHERE peer_id = {}",
            self.blob(peer)
        );
        if let Some(m) = row {
            sql += &format!(
                "; INSERT INTO zone_manifests ({MANIFEST_COLUMNS})
                 VALUES ({}, {}, {}, {}, {}, {}, {})",
                m.zone_id,
                self.blob(&m.peer_id),
                m.counter,
                m.epoch,
                m.token_seq,
                self.blob(&m.body),
                self.blob(&m.signature)
            );
        }
        self.batch(&sql);
    }
}
