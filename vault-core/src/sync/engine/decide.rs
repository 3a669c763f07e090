//! The two decisions on a quarantined record, each in one transaction
//! that also marks the uuid's quarantined rows decided (so they are not
//! checked, reported or counted again, and the device signs manifests
//! again):
//!
//! - accept: the record's content, merged with a local edit that waits
//!   (as a sync would have merged it), becomes this device's own new
//!   version, at a gencount above the record and the version held;
//! - drop: this device re-signs the version it holds at a gencount above
//!   the record's, or, holding none, writes a tombstone.
//!
//! Either waits in the outbox on the record's change tag, so the next
//! sync replaces the record on the server without a conflict, and every
//! peer takes it as a current member's version. A re-signed version keeps
//! its content's times: a decision is no new edit, and must not win a
//! later merge against an edit made after the content it keeps.

use super::apply::{Applier, Ctx, local_row};
use super::db as sync_db;
use super::quarantine::{Decision, QuarantineError, assess, open, stored, waivable};
use crate::circle::store::load as load_circle;
use crate::crypto::VaultRng;
use crate::error::ItemError;
use crate::item::{Item, ItemClass, ItemData};
use crate::sync::{RecordError, SyncError, SyncReport, TaggedRecord};
use crate::vault::UnlockedVault;
use crate::vault::keyring::Keyring;
use crate::vault::outbox;
use crate::vault::rows::{self, Blind, NewRow, blind_of, now_ms, open_row, put_row};
use rusqlite::{Connection, TransactionBehavior, params};
use uuid::Uuid;

/// A decision made: what this device will push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided {
    /// The item.
    pub uuid: Uuid,
    /// The decision.
    pub decision: Decision,
    /// The gencount of this device's version waiting in the outbox.
    pub gencount: u64,
    /// That version is a tombstone.
    pub tomb: bool,
    /// Quarantined records of the uuid decided (the newest takes the
    /// decision; older ones are dropped, superseded with it).
    pub records: usize,
}

impl UnlockedVault {
    /// Accepts the newest quarantined record of `uuid`: refused
    /// ([`QuarantineError::NotAcceptable`]) unless its signature verifies
    /// under its writer's key from the circle log, it opens in its context
    /// under a held epoch key, it does not roll back the version held, and
    /// its only faults are its writer's standing
    /// ([`waivable`](crate::sync::waivable)). Its content (merged with a
    /// waiting local edit, as a sync would) becomes this device's new
    /// version, pushed by the next sync.
    pub fn quarantine_accept(&mut self, uuid: Uuid) -> Result<Decided, QuarantineError> {
        self.decide(uuid, Decision::Accepted)
    }

    /// Drops the quarantined records of `uuid`, whatever their fault: the
    /// version this device holds is re-signed at a gencount above theirs
    /// (a local edit waiting stays as it is), or, holding none, a
    /// tombstone is written; the next sync pushes it on the newest
    /// record's change tag.
    pub fn quarantine_drop(&mut self, uuid: Uuid) -> Result<Decided, QuarantineError> {
        self.decide(uuid, Decision::Dropped)
    }

    fn decide(&mut self, uuid: Uuid, decision: Decision) -> Result<Decided, QuarantineError> {
        let (_, circle) = load_circle(&self.conn, &self.circle)
            .map_err(SyncError::from)?
            .ok_or(SyncError::NoCircle)?;
        let me = self.identity.peer_id();
        if !circle.is_member(&me) {
            return Err(SyncError::NotMember.into());
        }
        self.keys.refresh(&self.conn, self.header.circle_id)?;
        let zone = self.zone.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<_> = stored(&tx, &zone, Some(uuid))?;
        let undecided: Vec<&TaggedRecord> = rows
            .iter()
            .filter(|r| r.decision.is_none())
            .map(|r| &r.tagged)
            .collect();
        let Some(newest) = undecided.iter().max_by_key(|t| t.tag).copied() else {
            return Err(match rows.iter().rev().find_map(|r| r.decision) {
                Some(decision) => QuarantineError::Decided { uuid, decision },
                None => QuarantineError::NotFound(uuid),
            });
        };
        let above = undecided
            .iter()
            .map(|t| t.record.gencount())
            .max()
            .unwrap_or(0);
        let mut state = sync_db::state(&tx, &zone)?;
        let mut report = SyncReport::default();
        let mut applier = Applier {
            ctx: Ctx {
                conn: &tx,
                keys: &self.keys,
                zone: &zone,
                circle: &circle,
                me,
                history_limit: self.options.history_limit,
            },
            rng: &mut self.rng,
            state: &mut state,
            report: &mut report,
            quarantine: false,
            restoring: None,
        };
        let (gencount, tomb) = match decision {
            Decision::Accepted => accept(&mut applier, newest, above)?,
            Decision::Dropped => supersede(&mut applier, newest, above)?,
        };
        let records = mark_decided(&tx, &zone, newest, decision)?;
        sync_db::put_state(&tx, &zone, &state)?;
        tx.commit()?;
        self.search = None;
        Ok(Decided {
            uuid,
            decision,
            gencount,
            tomb,
            records,
        })
    }
}

/// Writes the record's content as this device's new version; returns
/// its gencount and whether it is a tombstone.
fn accept(
    a: &mut Applier<'_>,
    tagged: &TaggedRecord,
    above: u64,
) -> Result<(u64, bool), QuarantineError> {
    let rec = &tagged.record;
    let uuid = rec.uuid();
    let assessed = assess(&a.ctx, tagged)?;
    if let Some(fault) = assessed.faults.iter().find(|f| !waivable(f)) {
        return Err(QuarantineError::NotAcceptable {
            uuid,
            fault: fault.clone(),
        });
    }
    let Some(opened) = assessed.opened else {
        // Not reached: a record that does not open has that fault.
        return Err(QuarantineError::NotAcceptable {
            uuid,
            fault: RecordError::UnknownEpoch(rec.epoch()),
        });
    };
    let conn = a.ctx.conn;
    let mirror = outbox::mirror(conn, uuid)?.unwrap_or_default();
    let local = local_row(conn, uuid)?;
    let held = local.as_ref().map_or(0, |(_, r)| r.gencount);
    // As a sync applies a verified record: merged with an edit waiting,
    // else the item's version; the record becomes the server version
    // this device's next push is based on.
    match local {
        Some((class, row)) if mirror.pending => {
            a.merge(tagged, &opened, class, row, &mirror)?;
        }
        local => a.put_remote(tagged, &opened, local.as_ref().map(|(_, r)| r))?,
    }
    a.state.mark(rec.bucket());
    let after = outbox::mirror(conn, uuid)?.unwrap_or_default();
    if after.pending {
        // A merge wrote this device's version above both already.
        let (_, row) = local_row(conn, uuid)?.ok_or(ItemError::NotFound(uuid))?;
        return Ok((row.gencount, row.tomb));
    }
    let gencount = above.max(held).max(rec.gencount()) + 1;
    let tomb = resign(conn, a.ctx.keys, a.rng, a.ctx.zone, uuid, gencount)?;
    Ok((gencount, tomb))
}

/// Supersedes the record with this device's version, or a tombstone;
/// returns its gencount and whether it is a tombstone.
fn supersede(
    a: &mut Applier<'_>,
    tagged: &TaggedRecord,
    above: u64,
) -> Result<(u64, bool), QuarantineError> {
    let rec = &tagged.record;
    let uuid = rec.uuid();
    let (conn, keys, zone) = (a.ctx.conn, a.ctx.keys, a.ctx.zone);
    let mirror = outbox::mirror(conn, uuid)?.unwrap_or_default();
    let local = local_row(conn, uuid)?;
    let held = local
        .as_ref()
        .map_or(0, |(_, r)| r.gencount)
        .max(mirror.server_gencount.unwrap_or(0));
    let gencount = above.max(held) + 1;
    let tomb = match local {
        Some(_) => resign(conn, keys, a.rng, zone, uuid, gencount)?,
        None => {
            // Of the record's class where it opens (so that a peer that
            // holds it takes the tombstone), else of the first class.
            let class = open(&a.ctx, tagged).map_or(ItemClass::Inet, |o| o.decoded.class);
            tombstone(conn, keys, a.rng, zone, uuid, class, gencount)?;
            true
        }
    };
    // Pushed on the record's tag: the server's current version of the
    // item as far as this device knows.
    let tag = tagged.tag.max(mirror.change_tag.unwrap_or(0));
    conn.prepare_cached("UPDATE ckmirror SET change_tag = ?2 WHERE uuid = ?1")?
        .execute(params![uuid.as_bytes(), tag])?;
    Ok((gencount, tomb))
}

/// Re-signs the item's row as is (its content and times) at `gencount`,
/// sealed under the current epoch and marked for upload. Returns whether
/// it is a tombstone.
fn resign(
    conn: &Connection,
    keys: &Keyring,
    rng: &mut VaultRng,
    zone: &str,
    uuid: Uuid,
    gencount: u64,
) -> Result<bool, ItemError> {
    let (class, row) = local_row(conn, uuid)?.ok_or(ItemError::NotFound(uuid))?;
    let d = open_row(keys, zone, class, &row)?;
    let item = Item {
        uuid,
        gencount,
        created_ms: d.created_ms,
        modified_ms: d.modified_ms,
        data: d.data,
        unknown: d.unknown,
        deleted: false,
    };
    let sealed = rows::seal(keys, rng, zone, &item, row.tomb)?;
    outbox::mark_local_write(conn, uuid, Some(&row))?;
    put_row(
        conn,
        class,
        &NewRow {
            uuid,
            gencount,
            tomb: row.tomb,
            parent_key_uuid: keys.current().key_uuid(),
            sealed: &sealed,
            blind: if row.tomb {
                Blind::default()
            } else {
                blind_of(keys, &item.data)
            },
        },
    )?;
    Ok(row.tomb)
}

/// Writes a tombstone of an item this device never held, marked for
/// upload.
fn tombstone(
    conn: &Connection,
    keys: &Keyring,
    rng: &mut VaultRng,
    zone: &str,
    uuid: Uuid,
    class: ItemClass,
    gencount: u64,
) -> Result<(), ItemError> {
    let data = match class {
        ItemClass::Inet => ItemData::Inet(Default::default()),
        ItemClass::Genp => ItemData::Genp(Default::default()),
        ItemClass::Keys => ItemData::Key(Default::default()),
    };
    let mut item = Item::new(uuid, data, now_ms());
    item.gencount = gencount;
    let sealed = rows::seal(keys, rng, zone, &item, true)?;
    outbox::mark_local_write(conn, uuid, None)?;
    put_row(
        conn,
        class,
        &NewRow {
            uuid,
            gencount,
            tomb: true,
            parent_key_uuid: keys.current().key_uuid(),
            sealed: &sealed,
            blind: Blind::default(),
        },
    )?;
    Ok(())
}

/// Marks the uuid's undecided rows: the newest with the decision, the
/// others dropped (superseded with it). Returns how many.
fn mark_decided(
    conn: &Connection,
    zone: &str,
    newest: &TaggedRecord,
    decision: Decision,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE sync_quarantine
         SET decision = CASE WHEN gencount = ?3 THEN ?4 ELSE 'dropped' END
         WHERE zone = ?1 AND uuid = ?2 AND decision IS NULL",
    )?
    .execute(params![
        zone,
        newest.record.uuid().as_bytes(),
        newest.record.gencount(),
        decision.as_str()
    ])
}
