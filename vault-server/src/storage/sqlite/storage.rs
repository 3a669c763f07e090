//! [`Storage`] on SQLite: each method one transaction on the writer (with
//! the durability its data needs) or one read on a reader connection,
//! the sync rules being the ones both backends share ([`rules`]).
//! Challenges live in memory ([`MemoryChallenges`](crate::storage::challenges::MemoryChallenges)).

use super::*;

impl Storage for SqliteStorage {
    fn ping(&self) -> Result<(), StorageError> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM circles", [], |r| r.get::<_, i64>(0))
                .map_err(db_err)
                .map(|_| ())
        })
    }

    fn counts(&self) -> Result<Counts, StorageError> {
        self.read(|c| {
            let (circles, devices, records, bytes): (i64, i64, i64, i64) = c
                .prepare_cached(
                    "SELECT (SELECT count(*) FROM circles),
                            (SELECT count(*) FROM members WHERE removed = 0),
                            (SELECT COALESCE(sum(live), 0) FROM zones),
                            (SELECT COALESCE(sum(bytes), 0) FROM zones)",
                )
                .and_then(|mut s| {
                    s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                })
                .map_err(db_err)?;
            Ok(Counts {
                circles: seq_of(circles)?,
                devices: seq_of(devices)?,
                records: seq_of(records)?,
                bytes: seq_of(bytes)?,
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
        self.write(Durability::Full, |tx| {
            circles::create(tx, circle_id, genesis, founder, keys, now)
        })
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
        self.write(Durability::Full, |tx| {
            admin::consume(tx, token, circle_id, now)??;
            circles::create(tx, circle_id, genesis, founder, keys, now).map_err(|e| match e {
                StorageError::Conflict => RegisterError::Exists,
                e => e.into(),
            })
        })
    }

    fn disabled_circles(&self) -> Result<Vec<Uuid>, StorageError> {
        self.read(auth::disabled_circles)
    }

    fn circle_usage(
        &self,
        circle_id: Uuid,
    ) -> Result<(crate::storage::quota::Usage, crate::storage::QuotaOverrides), StorageError> {
        self.read(|c| {
            Ok((
                circles::usage(c, circle_id)?,
                circles::quota_overrides(c, circle_id)?,
            ))
        })
    }

    fn circle_exists(&self, circle_id: Uuid) -> Result<bool, StorageError> {
        self.read(|c| circles::exists(c, circle_id))
    }

    fn member(&self, circle_id: Uuid, peer: &PeerBytes) -> Result<MemberRow, StorageError> {
        self.read(|c| circles::member(c, circle_id, peer))
    }

    fn append_entry(
        &self,
        circle_id: Uuid,
        signer: &PeerBytes,
        entry: &NewEntry,
        change: &MemberChange,
        quotas: &Quotas,
    ) -> Result<(), AppendError> {
        self.write(Durability::Full, |tx| {
            let mut backend = circles::SqliteAppend(tx);
            rules::append::append(&mut backend, circle_id, signer, entry, change, quotas)
        })
    }

    fn log(
        &self,
        circle_id: Uuid,
        after: Option<u64>,
        limit: u32,
    ) -> Result<LogPage, StorageError> {
        self.read(|c| circles::log(c, circle_id, after, limit))
    }

    fn cut_list(&self, circle_id: Uuid, seq: u64, zone: &str) -> Result<Vec<u8>, StorageError> {
        self.read(|c| circles::cut_list(c, circle_id, seq, zone))
    }

    fn put_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        expires: i64,
    ) -> Result<(), StorageError> {
        self.challenges.put(circle_id, peer, challenge, expires);
        Ok(())
    }

    fn consume_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        now: i64,
    ) -> Result<(), StorageError> {
        if self.challenges.take(circle_id, peer, challenge, now) {
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
        // Used up whatever happens next.
        if !self.challenges.take(circle_id, peer, challenge, now) {
            return Err(IssueError::Challenge);
        }
        self.write(Durability::Relaxed, |tx| {
            auth::issue_token(tx, circle_id, peer, token_hash, now, expires)
        })
    }

    fn token(&self, token_hash: &Hash32, now: i64) -> Result<TokenRow, StorageError> {
        self.read(|c| auth::token(c, token_hash, now))
    }

    fn put_shares(
        &self,
        circle_id: Uuid,
        sender: &PeerBytes,
        shares: &[(PeerBytes, Vec<u8>)],
        now: i64,
    ) -> Result<(), ShareError> {
        self.write(Durability::Full, |tx| {
            relay::put_shares(tx, circle_id, sender, shares, now)
        })
    }

    fn shares(
        &self,
        circle_id: Uuid,
        recipient: &PeerBytes,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ShareRow>, StorageError> {
        self.read(|c| relay::shares(c, circle_id, recipient, after, limit))
    }

    fn create_invite(
        &self,
        invite_id: &InviteId,
        circle_id: Uuid,
        inviter: &PeerBytes,
        expires: i64,
    ) -> Result<(), StorageError> {
        self.write(Durability::Full, |tx| {
            relay::create_invite(tx, invite_id, circle_id, inviter, expires)
        })
    }

    fn join_invite(
        &self,
        invite_id: &InviteId,
        relay_token_hash: &Hash32,
        message: &[u8],
        now: i64,
    ) -> Result<u64, InviteError> {
        self.write(Durability::Full, |tx| {
            relay::join(tx, invite_id, relay_token_hash, message, now)
        })
    }

    fn invite(&self, invite_id: &InviteId, now: i64) -> Result<InviteRow, InviteError> {
        self.read(|c| relay::invite(c, invite_id))
            .map_err(|e| match e {
                StorageError::NotFound => InviteError::NotFound,
                other => InviteError::Storage(other),
            })
            .and_then(|row| {
                if row.expires <= now {
                    Err(InviteError::Gone)
                } else {
                    Ok(row)
                }
            })
    }

    fn post_relay(
        &self,
        invite_id: &InviteId,
        side: Side,
        message: &[u8],
        now: i64,
        max_messages: u32,
    ) -> Result<u64, InviteError> {
        self.write(Durability::Relaxed, |tx| {
            relay::post(tx, invite_id, side, message, now, max_messages)
        })
    }

    fn relay_messages(
        &self,
        invite_id: &InviteId,
        from: Side,
        after: u64,
    ) -> Result<Vec<RelayMessage>, StorageError> {
        self.read(|c| relay::messages(c, invite_id, from, after))
    }

    fn purge_expired(&self, now: i64) -> Result<Purged, StorageError> {
        let challenges = self.challenges.purge(now);
        self.write(Durability::Relaxed, |tx| {
            let run = |sql: &str| tx.execute(sql, [now]).map_err(db_err);
            Ok(Purged {
                challenges,
                tokens: run("DELETE FROM tokens WHERE expires <= ?1")?,
                invites: run("DELETE FROM invites WHERE expires <= ?1")?,
                // Used and revoked ones stay: they say who registered what.
                registration_tokens: run("DELETE FROM registration_tokens
                     WHERE expires <= ?1 AND used IS NULL AND revoked IS NULL")?,
            })
        })
    }

    fn backup(&self, dest: &Path) -> Result<(), StorageError> {
        backup_database(&self.path, dest)
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
        self.read(|c| {
            // One read transaction: the zone's row and the page are one
            // snapshot.
            let tx = c.unchecked_transaction().map_err(db_err)?;
            rules::changes::page(
                &mut manifests::SqliteManifests(&tx),
                circle_id,
                zone,
                since,
                after,
                limit,
                max_bytes,
            )
        })
    }

    fn push_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        writer: &PeerBytes,
        records: &[TaggedRecord],
        quotas: &Quotas,
    ) -> Result<PushReply, PushError> {
        // Hashed before the writer lock is taken.
        let content: Vec<[u8; 32]> = records.iter().map(|r| r.record.content_hash()).collect();
        self.write(Durability::Full, |tx| {
            let mut backend = zones::SqlitePush(tx);
            rules::push::push(
                &mut backend,
                circle_id,
                zone,
                writer,
                records,
                &content,
                quotas,
            )
        })
    }

    fn zone_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: bool,
    ) -> Result<ServerManifest, StorageError> {
        let cached = self.read(|c| {
            // One read transaction: the row, the buckets and the peers'
            // manifests are one snapshot.
            let tx = c.unchecked_transaction().map_err(db_err)?;
            rules::manifest::cached(
                &mut manifests::SqliteManifests(&tx),
                circle_id,
                zone,
                buckets,
            )
        })?;
        if let Some(m) = cached {
            return Ok(m);
        }
        // Bucket hashes are derived data: a lost cache is recomputed.
        self.write(Durability::Relaxed, |tx| {
            rules::manifest::refresh(
                &mut manifests::SqliteManifests(tx),
                circle_id,
                zone,
                buckets,
            )
        })
    }

    fn bucket_records(
        &self,
        circle_id: Uuid,
        zone: &str,
        buckets: &[u8],
    ) -> Result<Vec<TaggedRecord>, StorageError> {
        self.read(|c| zones::bucket_records(c, circle_id, zone, buckets))
    }

    fn put_manifest(
        &self,
        circle_id: Uuid,
        zone: &str,
        manifest: &NewManifest,
    ) -> Result<ManifestStored, ManifestPutError> {
        self.write(Durability::Full, |tx| {
            rules::manifest::put(
                &mut manifests::SqliteManifests(tx),
                circle_id,
                zone,
                manifest,
            )
        })
    }

    fn manifests(&self, circle_id: Uuid, zone: &str) -> Result<Vec<ManifestRow>, StorageError> {
        self.read(|c| manifests::list(c, circle_id, zone))
    }

    fn zone_seqs(&self, circle_id: Uuid) -> Result<Vec<ZoneSeq>, StorageError> {
        self.read(|c| zones::zone_seqs(c, circle_id))
    }
}
