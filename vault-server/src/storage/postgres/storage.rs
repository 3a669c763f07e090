//! [`Storage`] on PostgreSQL: each method one transaction (or, for a read
//! of one statement, one statement on a pooled connection), the rules
//! from [`rules`] deciding what the SQLite backend decides. Session
//! tokens, relay messages and the manifest caches commit with
//! `synchronous_commit = off`, as SQLite commits them with
//! `synchronous=NORMAL`: a crash can lose the last few, which a device
//! answers by asking again.

use super::tx::{PgTx, pg_err, signed};
use super::{PgStorage, pool_err};
use crate::storage::quota::{QuotaOverrides, Usage};
use crate::storage::{
    AppendError, ChangesError, ChangesPage, Counts, Hash32, InviteError, InviteId, InviteRow,
    IssueError, LogPage, ManifestPutError, ManifestRow, ManifestStored, MemberChange, MemberKeys,
    MemberRow, NewEntry, NewManifest, PeerBytes, Purged, PushError, PushReply, Quotas,
    RegisterError, RelayMessage, ServerManifest, ShareError, ShareRow, Side, Storage, StorageError,
    TaggedRecord, TokenRow, ZoneSeq, rules,
};
use std::path::Path;
use uuid::Uuid;
use vault_core::sync::Token;

fn create(
    tx: &PgTx<'_, '_>,
    circle_id: Uuid,
    genesis: &NewEntry,
    founder: &PeerBytes,
    keys: &MemberKeys,
    now: i64,
) -> Result<(), StorageError> {
    let created = tx.execute(
        "INSERT INTO circles (circle_id, genesis_hash, head_seq, head_hash, created)
         VALUES ($1, $2, $3, $2, $4) ON CONFLICT (circle_id) DO NOTHING",
        &[
            &&circle_id.as_bytes()[..],
            &&genesis.hash[..],
            &signed(genesis.seq, "a seq")?,
            &now,
        ],
    )?;
    if created == 0 {
        return Err(StorageError::Conflict);
    }
    tx.insert_entry(circle_id, genesis)?;
    tx.insert_member(circle_id, founder, keys, genesis.seq)
}

impl Storage for PgStorage {
    fn ping(&self) -> Result<(), StorageError> {
        self.block(async {
            let client = self.pool.get().await.map_err(pool_err)?;
            client.simple_query("SELECT 1").await.map_err(pg_err)?;
            Ok(())
        })
    }

    fn counts(&self) -> Result<Counts, StorageError> {
        self.single(|tx| {
            let rows = tx.query(
                "SELECT (SELECT count(*) FROM circles),
                        (SELECT count(*) FROM members WHERE NOT removed),
                        (SELECT COALESCE(sum(live), 0)::bigint FROM zones),
                        (SELECT COALESCE(sum(bytes), 0)::bigint FROM zones)",
                &[],
            )?;
            let row = rows.first().ok_or(StorageError::NotFound)?;
            let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            Ok(Counts {
                circles: n(0),
                devices: n(1),
                records: n(2),
                bytes: n(3),
            })
        })
    }

    fn create_circle(
        &self,
        circle_id: Uuid,
        genesis: &NewEntry,
        founder: &PeerBytes,
        keys: &MemberKeys,
        now: i64,
    ) -> Result<(), StorageError> {
        self.write(|tx| create(tx, circle_id, genesis, founder, keys, now))
    }

    fn create_circle_registered(
        &self,
        token: &Hash32,
        circle_id: Uuid,
        genesis: &NewEntry,
        founder: &PeerBytes,
        keys: &MemberKeys,
        now: i64,
    ) -> Result<(), RegisterError> {
        self.write(|tx| {
            tx.consume_registration(token, circle_id, now)??;
            create(tx, circle_id, genesis, founder, keys, now).map_err(|e| match e {
                StorageError::Conflict => RegisterError::Exists,
                e => e.into(),
            })
        })
    }

    fn disabled_circles(&self) -> Result<Vec<Uuid>, StorageError> {
        self.single(|tx| {
            tx.query(
                "SELECT circle_id FROM circles WHERE disabled IS NOT NULL",
                &[],
            )?
            .iter()
            .map(|r| super::tx::uuid_of(r.get(0)))
            .collect()
        })
    }

    fn circle_exists(&self, circle_id: Uuid) -> Result<bool, StorageError> {
        self.single(|tx| {
            Ok(!tx
                .query(
                    "SELECT 1 FROM circles WHERE circle_id = $1",
                    &[&&circle_id.as_bytes()[..]],
                )?
                .is_empty())
        })
    }

    fn circle_usage(&self, circle_id: Uuid) -> Result<(Usage, QuotaOverrides), StorageError> {
        self.read(|tx| Ok((tx.circle_usage(circle_id)?, tx.circle_quotas(circle_id)?)))
    }

    fn member(&self, circle_id: Uuid, peer: &PeerBytes) -> Result<MemberRow, StorageError> {
        self.single(|tx| tx.member_row(circle_id, peer))?
            .ok_or(StorageError::NotFound)
    }

    fn append_entry(
        &self,
        circle_id: Uuid,
        signer: &PeerBytes,
        entry: &NewEntry,
        change: &MemberChange,
        quotas: &Quotas,
    ) -> Result<(), AppendError> {
        self.write(|tx| rules::append::append(tx, circle_id, signer, entry, change, quotas))
    }

    fn log(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
        limit: u32,
    ) -> Result<LogPage, StorageError> {
        self.read(|tx| tx.log_page(circle_id, after, limit))
    }

    fn cut_list(&self, circle_id: Uuid, seq: u64, zone: &str) -> Result<Vec<u8>, StorageError> {
        self.single(|tx| tx.cut_list(circle_id, seq, zone))
    }

    fn put_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        expires: i64,
    ) -> Result<(), StorageError> {
        // Any instance may consume it. One statement on an UNLOGGED table:
        // no WAL, no flush; a challenge lost in a crash costs the device
        // one more round trip.
        self.single_relaxed(|tx| {
            tx.execute(
                "INSERT INTO challenges (circle_id, peer_id, challenge, expires)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[
                    &&circle_id.as_bytes()[..],
                    &&peer[..],
                    &&challenge[..],
                    &expires,
                ],
            )?;
            Ok(())
        })
    }

    fn consume_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        now: i64,
    ) -> Result<(), StorageError> {
        if self.single_relaxed(|tx| tx.take_challenge(circle_id, peer, challenge, now))? {
            Ok(())
        } else {
            Err(StorageError::NotFound)
        }
    }

    fn issue_token(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        token_hash: &Hash32,
        now: i64,
        expires: i64,
    ) -> Result<(), IssueError> {
        // One statement: consumes the challenge whatever comes next, and
        // stores the token only for a current member of an enabled circle.
        self.single_relaxed(|tx| {
            tx.issue_token(circle_id, peer, challenge, token_hash, now, expires)
        })
    }

    fn token(&self, token_hash: &Hash32, now: i64) -> Result<TokenRow, StorageError> {
        self.single(|tx| tx.token(token_hash, now))
    }

    fn put_shares(
        &self,
        circle_id: Uuid,
        sender: &PeerBytes,
        shares: &[(PeerBytes, Vec<u8>)],
        now: i64,
    ) -> Result<(), ShareError> {
        self.write(|tx| tx.put_shares(circle_id, sender, shares, now))
    }

    fn shares(
        &self,
        circle_id: Uuid,
        recipient: &PeerBytes,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ShareRow>, StorageError> {
        self.single(|tx| tx.shares(circle_id, recipient, after, limit))
    }

    fn create_invite(
        &self,
        invite_id: &InviteId,
        circle_id: Uuid,
        inviter: &PeerBytes,
        expires: i64,
    ) -> Result<(), StorageError> {
        self.write(|tx| tx.create_invite(invite_id, circle_id, inviter, expires))
    }

    fn join_invite(
        &self,
        invite_id: &InviteId,
        relay_token_hash: &Hash32,
        message: &[u8],
        now: i64,
    ) -> Result<u64, InviteError> {
        self.write(|tx| tx.join(invite_id, relay_token_hash, message, now))
    }

    fn invite(&self, invite_id: &InviteId, now: i64) -> Result<InviteRow, InviteError> {
        let row = self
            .single(|tx| tx.invite_row(invite_id))
            .map_err(|e| match e {
                StorageError::NotFound => InviteError::NotFound,
                other => InviteError::Storage(other),
            })?;
        if row.expires <= now {
            return Err(InviteError::Gone);
        }
        Ok(row)
    }

    fn post_relay(
        &self,
        invite_id: &InviteId,
        side: Side,
        message: &[u8],
        now: i64,
        max_messages: u32,
    ) -> Result<u64, InviteError> {
        self.write_relaxed(|tx| tx.post(invite_id, side, message, now, max_messages))
    }

    fn relay_messages(
        &self,
        invite_id: &InviteId,
        from: Side,
        after: u64,
    ) -> Result<Vec<RelayMessage>, StorageError> {
        self.single(|tx| tx.relay_messages(invite_id, from, after))
    }

    fn purge_expired(&self, now: i64) -> Result<Purged, StorageError> {
        self.write_relaxed(|tx| {
            let run = |sql: &str| -> Result<usize, StorageError> {
                let n = tx.execute(sql, &[&now])?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            };
            Ok(Purged {
                challenges: run("DELETE FROM challenges WHERE expires <= $1")?,
                tokens: run("DELETE FROM tokens WHERE expires <= $1")?,
                invites: run("DELETE FROM invites WHERE expires <= $1")?,
                // Used and revoked ones stay: they say who registered what.
                registration_tokens: run("DELETE FROM registration_tokens
                     WHERE expires <= $1 AND used IS NULL AND revoked IS NULL")?,
            })
        })
    }

    fn backup(&self, _dest: &Path) -> Result<(), StorageError> {
        Err(StorageError::Unsupported(
            "a PostgreSQL database is backed up with pg_dump (see README, \"Backups\")",
        ))
    }

    fn changes(
        &self,
        circle_id: Uuid,
        zone: &str,
        since: Option<Token>,
        after: Option<u64>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<ChangesPage, ChangesError> {
        self.read(|tx| rules::changes::page(tx, circle_id, zone, since, after, limit, max_bytes))
    }

    fn push_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        writer: &PeerBytes,
        records: &[TaggedRecord],
        quotas: &Quotas,
    ) -> Result<PushReply, PushError> {
        // Hashed before a connection is taken.
        let content: Vec<[u8; 32]> = records.iter().map(|r| r.record.content_hash()).collect();
        self.write(|tx| rules::push::push(tx, circle_id, zone, writer, records, &content, quotas))
    }

    fn zone_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: bool,
    ) -> Result<ServerManifest, StorageError> {
        if let Some(m) = self.read(|tx| rules::manifest::cached(tx, circle_id, zone, buckets))? {
            return Ok(m);
        }
        // Bucket hashes are derived data: a lost cache is recomputed.
        self.write_relaxed(|tx| {
            // Taken first: a concurrent refresh or push waits for it.
            if let Some(zone_id) = rules::manifest::ManifestRead::zone(tx, circle_id, zone)?.id {
                tx.execute(
                    "SELECT 1 FROM zones WHERE zone_id = $1 FOR UPDATE",
                    &[&zone_id],
                )?;
            }
            rules::manifest::refresh(tx, circle_id, zone, buckets)
        })
    }

    fn bucket_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: &[u8],
    ) -> Result<Vec<TaggedRecord>, StorageError> {
        self.read(|tx| tx.bucket_records(circle_id, zone, buckets))
    }

    fn put_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        manifest: &NewManifest,
    ) -> Result<ManifestStored, ManifestPutError> {
        self.write(|tx| rules::manifest::put(tx, circle_id, zone, manifest))
    }

    fn manifests(&self, circle_id: Uuid, zone: &str) -> Result<Vec<ManifestRow>, StorageError> {
        self.single(|tx| tx.manifest_rows(circle_id, zone))
    }

    fn zone_seqs(&self, circle_id: Uuid) -> Result<Vec<ZoneSeq>, StorageError> {
        self.single(|tx| tx.zone_seqs(circle_id))
    }
}
