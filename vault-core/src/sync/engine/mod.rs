//! The sync round: check, pull, push, catch up, verify the zone against
//! peers' signed manifests, sign. Network calls go through a
//! [`Transport`]; each step commits before the next call, so a round cut
//! short anywhere resumes from the stored token and outbox.

mod anchor;
mod apply;
pub(crate) mod db;
mod decide;
mod quarantine;
mod removal;
mod signers;
mod stage;
mod verify;

use crate::circle::store::{chain_key, load as load_circle};
use crate::circle::{CircleState, PeerId};
use crate::crypto::{DeviceIdentity, VaultRng};
use crate::error::ItemError;
use crate::sync::{
    Phase, Progress, PushResult, Restored, SealedRecord, SyncError, SyncReport, SyncStatus,
    TaggedRecord, Token, Transport, TransportError, UnsignedRecord, content_hash, decode_records,
};
use crate::vault::UnlockedVault;
use crate::vault::keyring::Keyring;
use crate::vault::outbox;
use crate::vault::rows::{Row, now_ms};
use apply::{Applier, Ctx, local_row};
use db::{self as sync_db, SyncState};
pub use decide::Decided;
pub use quarantine::{Decision, Effect, Preview, QuarantineEntry, QuarantineError, waivable};
pub use removal::PreparedRemoval;
use rusqlite::TransactionBehavior;
use std::collections::HashSet;
use uuid::Uuid;

/// Records per page of the changes feed.
pub(crate) const PAGE: u32 = 1000;
/// Records per push.
const BATCH: usize = 500;
/// Batches not saved whole (conflicts) before giving up on a zone that
/// keeps conflicting.
const MAX_PUSH_ROUNDS: u32 = 16;

pub(crate) struct Round<'a> {
    pub(crate) conn: &'a rusqlite::Connection,
    pub(crate) keys: &'a Keyring,
    pub(crate) rng: &'a mut VaultRng,
    pub(crate) identity: &'a DeviceIdentity,
    pub(crate) history_limit: u32,
    pub(crate) transport: &'a mut dyn Transport,
    pub(crate) zone: String,
    pub(crate) circle: CircleState,
    pub(crate) me: PeerId,
    pub(crate) state: SyncState,
    pub(crate) report: SyncReport,
    /// The zone's head as the server last announced it (its manifest, or
    /// a push's answer): no changes page may run past it.
    pub(crate) head: Token,
    /// While reading a restored zone anew: the items the server served.
    pub(crate) restoring: Option<HashSet<Uuid>>,
    /// What this round's pulls staged, kept with its signature verdicts so
    /// the settle need not read the stage back and check it again.
    pub(crate) pulled: Option<stage::Pulled>,
}

impl UnlockedVault {
    /// One sync round with the circle's server: pull, merge, push, verify,
    /// sign. Records that fail verification are quarantined and reported
    /// in the [`SyncReport`]; a zone that disagrees with what this device
    /// or a current member signed is a [`ZoneError`](crate::sync::ZoneError), and nothing pulled
    /// in a round that fails is applied: a round cut short resumes from
    /// its stage, one the server lied to starts afresh.
    pub fn sync(&mut self, transport: &mut dyn Transport) -> Result<SyncReport, SyncError> {
        let (_, circle) = load_circle(&self.conn, &self.circle)?.ok_or(SyncError::NoCircle)?;
        let me = self.identity.peer_id();
        if !circle.is_member(&me) {
            return Err(SyncError::NotMember);
        }
        self.keys.refresh(&self.conn, self.header.circle_id)?;
        let zone = self.zone.clone();
        let state = sync_db::state(&self.conn, &zone)?;
        let mut round = Round {
            conn: &self.conn,
            keys: &self.keys,
            rng: &mut self.rng,
            identity: &self.identity,
            history_limit: self.options.history_limit,
            transport,
            zone,
            circle,
            me,
            state,
            report: SyncReport::default(),
            head: Token::default(),
            restoring: None,
            pulled: None,
        };
        let mut result = round.run();
        // A round the server lied to drops what it staged, so the next
        // honest answer is read afresh; one cut short keeps it and resumes.
        if matches!(
            result,
            Err(SyncError::Zone(_) | SyncError::Transport(TransportError::Malformed(_)))
        ) && let Err(e) = round.with_tx(|r, conn| Ok(sync_db::clear_stage(conn, &r.zone)?))
        {
            result = Err(e);
        }
        let report = round.report;
        self.search = None;
        result.map(|()| report)
    }

    /// The outbox, the last sync and the quarantine.
    pub fn sync_status(&self) -> Result<SyncStatus, SyncError> {
        status(&self.conn, &self.zone)
    }

    /// Pairs of items flagged as possible duplicates by sync.
    pub fn possible_duplicates(&self) -> Result<Vec<(Uuid, Uuid)>, SyncError> {
        Ok(sync_db::duplicates(&self.conn)?)
    }
}

pub(crate) fn status(conn: &rusqlite::Connection, zone: &str) -> Result<SyncStatus, SyncError> {
    let state = sync_db::state(conn, zone)?;
    Ok(SyncStatus {
        pending: outbox::pending_count(conn)?,
        last_sync_ms: state.last_sync_ms,
        token: state.token,
        quarantined: sync_db::quarantine_count(conn)?,
        divergence_ms: state.divergence_ms,
    })
}

impl Round<'_> {
    fn run(&mut self) -> Result<(), SyncError> {
        let own =
            self.with_tx(|r, conn| Ok(sync_db::own_manifest(conn, &r.zone, &mut r.state)?))?;
        let check = self.call(|t, z| t.manifest(z, false))?;
        self.head = check.token;
        let pending = outbox::pending_count(self.conn)?;
        let quarantined = sync_db::quarantine_count(self.conn)?;
        let signed = sync_db::stored_manifest(self.conn, &self.zone, self.me.as_bytes())?;
        // The last manifest this device signed still describes the zone and
        // the circle (a removal since must be attested anew).
        let current = signed
            .is_some_and(|m| m.token == self.state.token && m.circle_pos == self.circle.head().0);
        if check.token == self.state.token && current {
            // Records decided on that the server still holds explain a root
            // of its that differs from this device's.
            let same = self.same_root(check.root, &own)?;
            if same && pending == 0 && quarantined == 0 {
                // Nothing new, if the peers agree: one round trip.
                let trusted = self.check_manifests(check.manifests)?;
                self.compare(&trusted, &own)?;
                return self.finish();
            }
            if !same {
                self.check_divergence(&own)?;
            }
        }
        if check.token.epoch != self.state.token.epoch || check.token.seq < self.state.token.seq {
            // A restored or rolled-back zone: read it whole again. Versions
            // below what is held are refused record by record; on a zone
            // restored to a new epoch, this device's versions go back up.
            if self.state.token != Token::default() && check.token.epoch != self.state.token.epoch {
                self.restoring = Some(HashSet::new());
                self.report.restored = Some(Restored {
                    from_epoch: self.state.token.epoch,
                    to_epoch: check.token.epoch,
                    reuploaded: 0,
                });
            }
            self.state.token = Token {
                epoch: check.token.epoch,
                seq: 0,
            };
        }
        self.retry_quarantine()?;
        // Verify, then apply: what the pull stages is applied only by a
        // settle whose zone checks pass, before anything is pushed on top.
        self.pull()?;
        let mut settled = false;
        if self.staged()?.is_some() {
            self.settle()?;
            settled = true;
        }
        // After any push, catch up: the push's own saves, and the records
        // its conflicts returned, sit past the token until pulled.
        let pushed = self.push()?;
        if pushed {
            self.pull()?;
        }
        if pushed || !settled || self.staged()?.is_some() {
            self.settle()?;
        }
        self.sign()?;
        self.finish()
    }

    fn finish(&mut self) -> Result<(), SyncError> {
        self.state.last_sync_ms = Some(now_ms());
        let (zone, state) = (&self.zone, &self.state);
        sync_db::put_state(self.conn, zone, state)?;
        self.report.token = self.state.token;
        Ok(())
    }

    /// Calls the transport, counting the request.
    pub(crate) fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Transport, &str) -> Result<T, TransportError>,
    ) -> Result<T, SyncError> {
        self.report.requests += 1;
        Ok(f(&mut *self.transport, &self.zone)?)
    }

    /// Runs `f` in one write transaction (inside the caller's, if one is
    /// open: a settle applies and checks in one).
    pub(crate) fn with_tx<T>(
        &mut self,
        f: impl FnOnce(&mut Self, &rusqlite::Connection) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        let conn = self.conn;
        if !conn.is_autocommit() {
            return f(self, conn);
        }
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let out = f(self, &tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Applies records in one transaction, their signatures checked first
    /// unless `verdicts` (one per record, from [`signers::Signers`]) are given.
    pub(crate) fn apply_all(
        &mut self,
        records: &[TaggedRecord],
        verdicts: Option<&[Option<bool>]>,
        allow_removed: bool,
    ) -> Result<(), SyncError> {
        let checked;
        let verdicts = match verdicts {
            Some(v) if v.len() == records.len() => v,
            _ => {
                checked = signers::Signers::of(&self.circle, &self.zone).verdicts(records);
                &checked
            }
        };
        self.with_tx(|r, conn| {
            let mut applier = Applier {
                ctx: Ctx {
                    conn,
                    keys: r.keys,
                    zone: &r.zone,
                    circle: &r.circle,
                    me: r.me,
                    history_limit: r.history_limit,
                },
                rng: &mut *r.rng,
                state: &mut r.state,
                report: &mut r.report,
                quarantine: sync_db::quarantine_count(conn)? > 0,
                restoring: r.restoring.as_mut(),
            };
            for (rec, ok) in records.iter().zip(verdicts) {
                applier.apply(rec, allow_removed, *ok)?;
            }
            sync_db::put_state(conn, &r.zone, &r.state)?;
            Ok(())
        })
    }

    /// Re-checks quarantined records (a key share or a circle entry may
    /// have arrived since).
    fn retry_quarantine(&mut self) -> Result<(), SyncError> {
        let rows = sync_db::undecided(self.conn, &self.zone)?;
        let mut records = Vec::new();
        for row in rows {
            if let Ok(mut list) = decode_records(&row.record) {
                records.append(&mut list);
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        // Records that now pass count as pulled; those still refused are
        // reported again by this round.
        self.apply_all(&records, None, false)?;
        Ok(())
    }

    /// Pushes the outbox in batches; conflicts are merged and pushed again.
    /// Only batches the server did not save whole count towards
    /// [`MAX_PUSH_ROUNDS`]: an outbox of any size goes up in one round.
    /// Returns whether anything was sent.
    fn push(&mut self) -> Result<bool, SyncError> {
        let mut sent_any = false;
        let mut unsettled = 0;
        let mut total = outbox::pending_count(self.conn)?;
        let mut done = 0;
        loop {
            let outbox = outbox::outbox(self.conn, BATCH)?;
            if outbox.is_empty() {
                return Ok(sent_any);
            }
            sent_any = true;
            if unsettled == MAX_PUSH_ROUNDS {
                return Err(SyncError::Unsettled(MAX_PUSH_ROUNDS));
            }
            let batch = self.build_batch(&outbox)?;
            let reply = self.call(|t, z| t.push(z, &batch))?;
            done += batch.len() as u64;
            total = total.max(done);
            self.transport.progress(Progress {
                phase: Phase::Push,
                done,
                total,
            });
            if reply.results.len() != batch.len() {
                return Err(
                    TransportError::Malformed("the push reply does not match the batch").into(),
                );
            }
            let mut saved_seqs = Vec::new();
            let mut conflicts = Vec::new();
            self.with_tx(|r, conn| {
                for (sent, result) in batch.iter().zip(&reply.results) {
                    match result {
                        PushResult::Saved { uuid, seq } if *uuid == sent.record.uuid() => {
                            r.confirm(conn, &sent.record, *seq)?;
                            saved_seqs.push(*seq);
                        }
                        // The server already holds this very record: a
                        // batch sent again after its answer was lost.
                        PushResult::Conflict {
                            uuid,
                            current: Some(rec),
                        } if *uuid == sent.record.uuid() && rec.record == sent.record => {
                            r.confirm(conn, &sent.record, rec.tag)?;
                            saved_seqs.push(rec.tag);
                        }
                        PushResult::Conflict { uuid, current } if *uuid == sent.record.uuid() => {
                            match current {
                                Some(rec) if rec.record.uuid() == *uuid => {
                                    conflicts.push((**rec).clone())
                                }
                                Some(_) => {
                                    return Err(TransportError::Malformed(
                                        "a conflict names another record",
                                    )
                                    .into());
                                }
                                None => sync_db::clear_change_tag(conn, *uuid)?,
                            }
                        }
                        _ => {
                            return Err(TransportError::Malformed(
                                "the push reply is out of order",
                            )
                            .into());
                        }
                    }
                }
                Ok(())
            })?;
            if saved_seqs.len() < batch.len() {
                unsettled += 1;
            }
            self.report.pushed += saved_seqs.len();
            self.report.records_received += conflicts.len();
            // Our own saves right after our token: the token moves past
            // them without pulling them back.
            saved_seqs.sort_unstable();
            let contiguous = saved_seqs
                .iter()
                .enumerate()
                .all(|(i, s)| *s == self.state.token.seq + 1 + i as u64);
            if !saved_seqs.is_empty()
                && contiguous
                && reply.token.epoch == self.state.token.epoch
                && reply.token.seq == self.state.token.seq + saved_seqs.len() as u64
            {
                self.state.token = reply.token;
                sync_db::put_state(self.conn, &self.zone, &self.state)?;
            }
            if reply.token.epoch == self.head.epoch && reply.token.seq > self.head.seq {
                self.head = reply.token;
            }
            if !conflicts.is_empty() {
                self.apply_all(&conflicts, None, false)?;
            }
        }
    }

    /// Signs the outbox's items as records, each on the change tag its
    /// edit is based on.
    fn build_batch(&mut self, outbox: &[(Uuid, u64)]) -> Result<Vec<TaggedRecord>, SyncError> {
        let circle_id = self.circle.circle_id();
        let pos = self.circle.head().0;
        let mut batch = Vec::with_capacity(outbox.len());
        for &(uuid, tag) in outbox {
            let Some((_, row)) = local_row(self.conn, uuid)? else {
                // An outbox mark with no item (it never existed here).
                sync_db::set_server(self.conn, uuid, &sync_db::ServerVersion::NONE, false, None)?;
                continue;
            };
            let epoch = self
                .keys
                .epoch(row.parent_key_uuid)
                .ok_or(ItemError::UnknownKeyEpoch(uuid))?
                .number();
            let record = record_of(&row, epoch, pos)?.sign(self.identity, circle_id, &self.zone);
            batch.push(TaggedRecord { tag, record });
        }
        Ok(batch)
    }

    /// The server saved `sent` at `seq`. If the item changed locally since
    /// the batch was built, the change still waits, now based on `sent`.
    fn confirm(
        &mut self,
        conn: &rusqlite::Connection,
        sent: &SealedRecord,
        seq: u64,
    ) -> Result<(), SyncError> {
        let leaf = (!sent.tomb()).then(|| sent.content_hash());
        let now = local_row(conn, sent.uuid())?;
        let unchanged = now.as_ref().is_some_and(|(_, row)| {
            row.gencount == sent.gencount()
                && content_hash(&row.wrappedkey, &row.encitem) == sent.content_hash()
        });
        // The base is the version sent, wrapped by the key of its own epoch
        // (the newer local edit may be under a newer one).
        let sent_key = chain_key(self.keys, &self.circle, sent.epoch()).map(|k| k.key_uuid());
        let base = sent_key
            .filter(|_| !unchanged && !sent.tomb())
            .map(|parent_key_uuid| outbox::Base {
                gencount: sent.gencount(),
                parent_key_uuid,
                wrappedkey: sent.wrappedkey().to_vec(),
                encitem: sent.encitem().to_vec(),
            });
        sync_db::set_server(
            conn,
            sent.uuid(),
            &sync_db::ServerVersion {
                gencount: sent.gencount(),
                seq,
                writer: Some(self.me),
                leaf,
            },
            !unchanged,
            base.as_ref(),
        )?;
        self.state.mark(sent.bucket());
        Ok(())
    }
}

/// A local row as a record, to be signed.
fn record_of(row: &Row, epoch: u32, circle_pos: u64) -> Result<UnsignedRecord, SyncError> {
    UnsignedRecord::new(
        row.uuid,
        row.gencount,
        epoch,
        row.tomb,
        circle_pos,
        row.wrappedkey.clone(),
        row.encitem.clone(),
    )
    .map_err(|_| SyncError::Item(ItemError::TooLarge))
}
