//! One pulled record: verified (writer, position, signature, epoch,
//! ciphertext in its context, class, gencount), then applied to the item
//! tables, merged with a waiting local edit, or quarantined.
//! (Over 500 lines: each check on a pulled record sits next to the next, in the order they run.)

use super::db::{self as sync_db, SyncState};
use crate::circle::store::{chain_key, cuts as cut_db};
use crate::circle::{CircleState, PeerId};
use crate::crypto::{ItemContext, SealedItem, VaultRng, open_item_into};
use crate::item::merge::{Version, merge3};
use crate::item::{self, Decoded, Item, ItemClass};
use crate::sync::{
    Quarantined, RecordError, SealedRecord, SyncError, SyncReport, TaggedRecord, ZoneError,
    content_hash, encode_records,
};
use crate::vault::keyring::Keyring;
use crate::vault::outbox::{self, Base, Mirror};
use crate::vault::rows::{
    self, Blind, NewRow, Row, blind_of, now_ms, open_row, push_history, put_row,
};
use rusqlite::Connection;
use rusqlite::OptionalExtension;
use std::collections::HashSet;
use std::sync::LazyLock;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The most records one round may refuse (other than those waiting for
/// their epoch key) before it stops with [`ZoneError::TooManyRefused`].
pub(crate) const MAX_REFUSED_PER_ROUND: usize = 1000;
/// The most rows the quarantine holds; a refusal past it stops the round.
pub(crate) const MAX_QUARANTINE: u64 = 10_000;
/// What a pulled record is checked against.
pub(crate) struct Ctx<'a> {
    pub conn: &'a Connection,
    pub keys: &'a Keyring,
    pub zone: &'a str,
    pub circle: &'a CircleState,
    pub me: PeerId,
    pub history_limit: u32,
}

/// A record that passed verification, decrypted.
pub(crate) struct Opened {
    pub decoded: Decoded,
    /// The uuid of the epoch key that wraps it.
    pub key_uuid: Uuid,
}

/// What happened to a pulled record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The device already held this version.
    Held,
    /// Applied as the item's new version.
    Applied,
    /// Merged with a waiting local edit.
    Merged,
    /// Refused and kept aside.
    Quarantined,
    /// Older than what this device holds, on a restored server: this
    /// device's version goes back up.
    Reuploaded,
}

impl Ctx<'_> {
    /// Every check but the gencount (which needs the mirror) and the class
    /// against a held item. With `allow_removed`, a writer removed since is
    /// accepted (the caller has a current member's attestation).
    pub fn verify(
        &self,
        rec: &SealedRecord,
        allow_removed: bool,
        signature_ok: Option<bool>,
    ) -> Result<Opened, RecordError> {
        let member = self
            .circle
            .peer(&rec.writer())
            .ok_or(RecordError::UnknownWriter(rec.writer()))?;
        if rec.circle_pos() > self.circle.head().0 || !member.member_at(rec.circle_pos()) {
            return Err(RecordError::NotMemberAt {
                writer: rec.writer(),
                pos: rec.circle_pos(),
            });
        }
        match member.removed {
            Some(r) if r.cut => self.on_cut_list(rec, r.seq)?,
            Some(_) if !allow_removed => return Err(RecordError::RemovedWriter(rec.writer())),
            _ => {}
        }
        let signed = match signature_ok {
            Some(ok) => ok,
            None => rec
                .verify_signature(self.circle.circle_id(), self.zone, &member.keys)
                .is_ok(),
        };
        if !signed {
            return Err(RecordError::BadSignature);
        }
        self.open(rec)
    }

    /// The record's ciphertext opened in its context (zone, uuid,
    /// gencount) under the key of its epoch, and its tombstone flag
    /// checked against the sealed one.
    pub fn open(&self, rec: &SealedRecord) -> Result<Opened, RecordError> {
        let key = chain_key(self.keys, self.circle, rec.epoch())
            .ok_or(RecordError::UnknownEpoch(rec.epoch()))?;
        let ctx = ItemContext {
            zone: self.zone,
            uuid: rec.uuid(),
            gencount: rec.gencount(),
        };
        let mut plain = Zeroizing::new(Vec::with_capacity(rec.encitem().len()));
        open_item_into(key, &ctx, rec.wrappedkey(), rec.encitem(), &mut plain)
            .map_err(RecordError::Decrypt)?;
        let decoded = item::decode(&plain).map_err(RecordError::Decrypt)?;
        if decoded.tomb != rec.tomb() {
            return Err(RecordError::TombstoneMismatch);
        }
        Ok(Opened {
            decoded,
            key_uuid: key.key_uuid(),
        })
    }
}

impl Ctx<'_> {
    /// A record of a peer removed by entry `removal` is accepted exactly
    /// when its cut list names this version (uuid, gencount, content).
    fn on_cut_list(&self, rec: &SealedRecord, removal: u64) -> Result<(), RecordError> {
        let missing = || RecordError::CutListMissing(rec.writer());
        let row =
            cut_db::cut_row(self.conn, removal, self.zone, rec.uuid()).map_err(|_| missing())?;
        let content = if rec.tomb() {
            [0; 32]
        } else {
            rec.content_hash()
        };
        match row {
            Some(r) if r.gencount == rec.gencount() && r.content == content => Ok(()),
            Some(_) => Err(RecordError::AfterRemoval(rec.writer())),
            None if cut_db::has_cut_list(self.conn, removal, self.zone)
                .map_err(|_| missing())? =>
            {
                Err(RecordError::AfterRemoval(rec.writer()))
            }
            None => Err(missing()),
        }
    }
}

/// The item row a uuid has in any table.
/// One statement over the three tables: a pulled record is looked up
/// once per apply.
pub(crate) fn local_row(
    conn: &Connection,
    uuid: Uuid,
) -> rusqlite::Result<Option<(ItemClass, Row)>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let selects: Vec<String> = (ItemClass::ALL.iter().enumerate())
            .map(|(i, c)| {
                format!(
                    "SELECT {}, {i} FROM {} WHERE uuid = ?1",
                    rows::ROW_COLS,
                    c.table()
                )
            })
            .collect();
        selects.join(" UNION ALL ")
    });
    conn.prepare_cached(&SQL)?
        .query_row([uuid.as_bytes()], |r| {
            let class = ItemClass::ALL
                .get(r.get::<_, usize>(6)?)
                .copied()
                .ok_or(rusqlite::Error::IntegralValueOutOfRange(6, 3))?;
            Ok((class, Row::from_sql(r)?))
        })
        .optional()
}

fn record_row(rec: &SealedRecord, key_uuid: Uuid) -> Row {
    Row {
        uuid: rec.uuid(),
        gencount: rec.gencount(),
        tomb: rec.tomb(),
        parent_key_uuid: key_uuid,
        wrappedkey: rec.wrappedkey().to_vec(),
        encitem: rec.encitem().to_vec(),
    }
}

fn record_base(rec: &SealedRecord, key_uuid: Uuid) -> Base {
    Base {
        gencount: rec.gencount(),
        parent_key_uuid: key_uuid,
        wrappedkey: rec.wrappedkey().to_vec(),
        encitem: rec.encitem().to_vec(),
    }
}

/// Applies pulled records one by one (see [`apply`]), quarantining those
/// that fail.
pub(crate) struct Applier<'a> {
    pub ctx: Ctx<'a>,
    pub rng: &'a mut VaultRng,
    pub state: &'a mut SyncState,
    pub report: &'a mut SyncReport,
    /// Whether the quarantine may hold versions to supersede.
    pub quarantine: bool,
    /// In the settle that reads a restored zone anew: the items the server
    /// served (it lacks every other version this device holds), and a
    /// version it holds older than this device's goes back up instead of
    /// being refused.
    pub restoring: Option<&'a mut HashSet<Uuid>>,
}

impl Applier<'_> {
    /// Verifies and applies one record; a record that fails verification is
    /// quarantined and reported, and only a storage or local failure is an
    /// error.
    pub fn apply(
        &mut self,
        tagged: &TaggedRecord,
        allow_removed: bool,
        signature_ok: Option<bool>,
    ) -> Result<Outcome, SyncError> {
        let rec = &tagged.record;
        let conn = self.ctx.conn;
        if let Some(seen) = self.restoring.as_mut() {
            seen.insert(rec.uuid());
        }
        let mirror = outbox::mirror(conn, rec.uuid())?.unwrap_or_default();
        let leaf = (!rec.tomb()).then(|| rec.content_hash());
        if mirror.server_gencount == Some(rec.gencount()) && mirror.server_leaf == leaf {
            if mirror.change_tag != Some(tagged.tag) {
                sync_db::set_server(
                    conn,
                    rec.uuid(),
                    &sync_db::ServerVersion {
                        gencount: rec.gencount(),
                        seq: tagged.tag,
                        writer: Some(rec.writer()),
                        leaf,
                    },
                    mirror.pending,
                    mirror.base.as_ref(),
                )?;
            }
            return Ok(Outcome::Held);
        }
        if let Some(held) = mirror.server_gencount
            && rec.gencount() <= held
        {
            if self.restoring.is_some() && rec.gencount() < held {
                return self.reupload(tagged, &mirror, held);
            }
            return self.refuse(
                tagged,
                RecordError::Rollback {
                    held,
                    got: rec.gencount(),
                },
            );
        }
        let opened = match self.ctx.verify(rec, allow_removed, signature_ok) {
            Ok(o) => o,
            Err(e) => return self.refuse(tagged, e),
        };
        let local = local_row(conn, rec.uuid())?;
        if let Some((held, _)) = &local
            && *held != opened.decoded.class
        {
            let e = RecordError::ClassMismatch {
                held: *held,
                sealed: opened.decoded.class,
            };
            return self.refuse(tagged, e);
        }
        if self.quarantine {
            sync_db::unquarantine(conn, self.ctx.zone, rec.uuid(), rec.gencount())?;
            // Superseded in this round: no longer held aside.
            let (uuid, gencount) = (rec.uuid(), rec.gencount());
            self.report
                .quarantined
                .retain(|q| q.uuid != uuid || q.gencount > gencount);
        }
        self.state.mark(rec.bucket());
        if let Some((_, row)) = &local
            && row.gencount == rec.gencount()
            && row.tomb == rec.tomb()
            && content_hash(&row.wrappedkey, &row.encitem) == rec.content_hash()
        {
            // This device's own version, saved by a push whose reply was lost.
            sync_db::set_server(
                conn,
                rec.uuid(),
                &sync_db::ServerVersion {
                    gencount: rec.gencount(),
                    seq: tagged.tag,
                    writer: Some(rec.writer()),
                    leaf,
                },
                false,
                None,
            )?;
            return Ok(Outcome::Held);
        }
        let outcome = match local {
            Some((class, row)) if mirror.pending => {
                self.merge(tagged, &opened, class, row, &mirror)?
            }
            local => {
                self.put_remote(tagged, &opened, local.as_ref().map(|(_, r)| r))?;
                Outcome::Applied
            }
        };
        self.report.pulled += 1;
        Ok(outcome)
    }

    /// A restored server holds an older version than this device: the
    /// mirror takes the server's version as it is (so the push goes on its
    /// change tag), and the item this device holds waits to go back up.
    /// The older version is refused, and reported as a rollback.
    fn reupload(
        &mut self,
        tagged: &TaggedRecord,
        mirror: &Mirror,
        held: u64,
    ) -> Result<Outcome, SyncError> {
        let rec = &tagged.record;
        sync_db::set_server(
            self.ctx.conn,
            rec.uuid(),
            &sync_db::ServerVersion {
                gencount: rec.gencount(),
                seq: tagged.tag,
                writer: Some(rec.writer()),
                leaf: (!rec.tomb()).then(|| rec.content_hash()),
            },
            true,
            mirror.base.as_ref(),
        )?;
        self.state.mark(rec.bucket());
        self.report.rolled_back.push(Quarantined {
            uuid: rec.uuid(),
            gencount: rec.gencount(),
            writer: rec.writer(),
            reason: RecordError::Rollback {
                held,
                got: rec.gencount(),
            },
        });
        Ok(Outcome::Reuploaded)
    }

    fn refuse(&mut self, tagged: &TaggedRecord, reason: RecordError) -> Result<Outcome, SyncError> {
        let rec = &tagged.record;
        // A record waiting for its epoch key is no alarm; any other refusal
        // counts, and past the caps the round stops (and, settling, keeps
        // nothing) rather than fill the vault with a server's junk.
        if !matches!(reason, RecordError::UnknownEpoch(_)) {
            let refused = self
                .report
                .quarantined
                .iter()
                .filter(|q| !matches!(q.reason, RecordError::UnknownEpoch(_)))
                .count();
            if refused >= MAX_REFUSED_PER_ROUND
                || sync_db::quarantine_count(self.ctx.conn)? >= MAX_QUARANTINE
            {
                return Err(ZoneError::TooManyRefused(MAX_REFUSED_PER_ROUND).into());
            }
        }
        // Past a removal's cut there is nothing to wait for: decided at
        // once (dropped), reported the first time only.
        let decided = matches!(reason, RecordError::AfterRemoval(_));
        self.quarantine = true;
        let new = sync_db::quarantine(
            self.ctx.conn,
            self.ctx.zone,
            tagged,
            &encode_records(std::slice::from_ref(tagged)),
            &reason.to_string(),
            decided.then_some("dropped"),
            now_ms(),
        )?;
        let entry = Quarantined {
            uuid: rec.uuid(),
            gencount: rec.gencount(),
            writer: rec.writer(),
            reason,
        };
        // A record decided on before (re-served) is no news either way.
        match (decided, new) {
            (false, true) => self.report.quarantined.push(entry),
            (true, true) => self.report.dropped.push(entry),
            (_, false) => {}
        }
        Ok(Outcome::Quarantined)
    }

    /// Makes the record the item's version (the replaced row goes to the
    /// history), with nothing waiting locally.
    pub(crate) fn put_remote(
        &mut self,
        tagged: &TaggedRecord,
        opened: &Opened,
        before: Option<&Row>,
    ) -> Result<(), SyncError> {
        let rec = &tagged.record;
        let conn = self.ctx.conn;
        let class = opened.decoded.class;
        let blind = if rec.tomb() {
            Blind::default()
        } else {
            blind_of(self.ctx.keys, &opened.decoded.data)
        };
        if let Some(row) = before {
            push_history(conn, class, row, self.ctx.history_limit)?;
        } else if !rec.tomb() {
            self.flag_duplicates(rec.uuid(), &opened.decoded, &blind)?;
        }
        let sealed = SealedItem::from_parts(rec.wrappedkey().to_vec(), rec.encitem().to_vec());
        put_row(
            conn,
            class,
            &NewRow {
                uuid: rec.uuid(),
                gencount: rec.gencount(),
                tomb: rec.tomb(),
                parent_key_uuid: opened.key_uuid,
                sealed: &sealed,
                blind,
            },
        )?;
        let leaf = (!rec.tomb()).then(|| rec.content_hash());
        sync_db::set_server(
            conn,
            rec.uuid(),
            &sync_db::ServerVersion {
                gencount: rec.gencount(),
                seq: tagged.tag,
                writer: Some(rec.writer()),
                leaf,
            },
            false,
            None,
        )?;
        Ok(())
    }

    /// A remote version met a local edit that waits: three-way merge, per
    /// field; a delete racing an edit keeps the edit. Every version that
    /// lost something goes to the history.
    pub(crate) fn merge(
        &mut self,
        tagged: &TaggedRecord,
        opened: &Opened,
        class: ItemClass,
        local_row: Row,
        mirror: &Mirror,
    ) -> Result<Outcome, SyncError> {
        let rec = &tagged.record;
        let conn = self.ctx.conn;
        let limit = self.ctx.history_limit;
        let remote_row = record_row(rec, opened.key_uuid);
        self.report.merged += 1;
        match (local_row.tomb, rec.tomb()) {
            // Both deleted, or the local delete lost to a remote edit: the
            // remote version stands, the local one is kept in history.
            (true, _) => {
                self.put_remote(tagged, opened, Some(&local_row))?;
                return Ok(Outcome::Merged);
            }
            // A remote delete loses to the local edit.
            (false, true) => {
                push_history(conn, class, &remote_row, limit)?;
                let local = self.open_local(class, &local_row)?;
                self.write_merged(tagged, opened, class, &local_row, local)?;
                return Ok(Outcome::Merged);
            }
            (false, false) => {}
        }
        let local = self.open_local(class, &local_row)?;
        let remote = rows::to_item(rec.uuid(), rec.gencount(), clone_decoded(&opened.decoded));
        let base = mirror.base.as_ref().and_then(|b| {
            let row = Row {
                uuid: rec.uuid(),
                gencount: b.gencount,
                tomb: false,
                parent_key_uuid: b.parent_key_uuid,
                wrappedkey: b.wrappedkey.clone(),
                encitem: b.encitem.clone(),
            };
            open_row(self.ctx.keys, self.ctx.zone, class, &row)
                .ok()
                .map(|d| rows::to_item(rec.uuid(), b.gencount, d))
        });
        let me = self.ctx.me;
        let merged = merge3(
            base.as_ref(),
            Version {
                item: &local,
                writer: &me,
            },
            Version {
                item: &remote,
                writer: &rec.writer(),
            },
        )
        .map_err(|_| crate::error::ItemError::ClassChange {
            uuid: rec.uuid(),
            stored: class,
            given: opened.decoded.class,
        })?;
        self.report.conflicts += merged.conflicts.len();
        if !merged.conflicts.is_empty() {
            let fields = merged.conflicts.iter().map(|c| c.field.clone()).collect();
            self.report.conflicted.push((rec.uuid(), fields));
        }
        if merged.data == remote.data && merged.unknown == remote.unknown {
            // Nothing of the local edit survives: the remote version stands.
            self.put_remote(tagged, opened, Some(&local_row))?;
            return Ok(Outcome::Merged);
        }
        if merged.local_lost {
            push_history(conn, class, &local_row, limit)?;
        }
        if merged.remote_lost {
            push_history(conn, class, &remote_row, limit)?;
        }
        let item = Item {
            uuid: rec.uuid(),
            gencount: 0,
            created_ms: merged.created_ms,
            // The later side's time, not the merge's: a merge is no new edit,
            // and must not win a later conflict against an edit made after
            // the ones it merged.
            modified_ms: merged.modified_ms,
            data: merged.data,
            unknown: merged.unknown,
            deleted: false,
        };
        self.write_merged(tagged, opened, class, &local_row, item)?;
        Ok(Outcome::Merged)
    }

    fn open_local(&self, class: ItemClass, row: &Row) -> Result<Item, SyncError> {
        let d = open_row(self.ctx.keys, self.ctx.zone, class, row)?;
        Ok(rows::to_item(row.uuid, row.gencount, d))
    }

    /// Writes `item` as a new local version above both sides, waiting to
    /// be pushed on top of the remote version (the new base).
    fn write_merged(
        &mut self,
        tagged: &TaggedRecord,
        opened: &Opened,
        class: ItemClass,
        local_row: &Row,
        mut item: Item,
    ) -> Result<(), SyncError> {
        let rec = &tagged.record;
        item.gencount = local_row.gencount.max(rec.gencount()) + 1;
        let sealed = rows::seal(self.ctx.keys, self.rng, self.ctx.zone, &item, false)?;
        put_row(
            self.ctx.conn,
            class,
            &NewRow {
                uuid: rec.uuid(),
                gencount: item.gencount,
                tomb: false,
                parent_key_uuid: self.ctx.keys.current().key_uuid(),
                sealed: &sealed,
                blind: blind_of(self.ctx.keys, &item.data),
            },
        )?;
        let leaf = (!rec.tomb()).then(|| rec.content_hash());
        let base = (!rec.tomb()).then(|| record_base(rec, opened.key_uuid));
        sync_db::set_server(
            self.ctx.conn,
            rec.uuid(),
            &sync_db::ServerVersion {
                gencount: rec.gencount(),
                seq: tagged.tag,
                writer: Some(rec.writer()),
                leaf,
            },
            true,
            base.as_ref(),
        )?;
        Ok(())
    }

    /// A new item that has the same name (server, service or relying
    /// party) and account as a live item here: both are kept and the pair
    /// is flagged.
    fn flag_duplicates(&mut self, uuid: Uuid, d: &Decoded, blind: &Blind) -> Result<(), SyncError> {
        let (Some(name), Some(account)) = (blind.name, blind.account) else {
            return Ok(());
        };
        let class = d.class;
        let sql = format!(
            "SELECT {} FROM {} WHERE bi_name = ?1 AND bi_account = ?2 AND tomb = 0 AND uuid != ?3",
            rows::ROW_COLS,
            class.table()
        );
        let hits: Vec<Row> = self
            .ctx
            .conn
            .prepare_cached(&sql)?
            .query_map(
                rusqlite::params![name, account, uuid.as_bytes()],
                Row::from_sql,
            )?
            .collect::<Result<_, _>>()?;
        for row in hits {
            let Ok(other) = open_row(self.ctx.keys, self.ctx.zone, class, &row) else {
                continue;
            };
            let same = rows::normalize_name(class, other.data.name())
                == rows::normalize_name(class, d.data.name())
                && other.data.account() == d.data.account();
            if same && sync_db::add_duplicate(self.ctx.conn, uuid, row.uuid)? {
                let pair = if uuid < row.uuid {
                    (uuid, row.uuid)
                } else {
                    (row.uuid, uuid)
                };
                self.report.duplicates.push(pair);
            }
        }
        Ok(())
    }
}

fn clone_decoded(d: &Decoded) -> Decoded {
    Decoded {
        class: d.class,
        tomb: d.tomb,
        created_ms: d.created_ms,
        modified_ms: d.modified_ms,
        data: d.data.clone(),
        unknown: d.unknown.clone(),
    }
}
