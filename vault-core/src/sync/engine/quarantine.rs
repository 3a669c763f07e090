//! The quarantine as a person sees it: each record held aside, why (its
//! faults, typed and checked again against this device's state now), and
//! what it would change where it decrypts. The decisions on it, accept
//! and drop, are written by `decide.rs`.
//!
//! A preview never carries a secret: the values of the fields that are
//! not secret (server, account, label, URIs, ...) are shown, the secret
//! fields (password, notes, TOTP seed, private key, custom fields) are
//! only named ([`FieldChange`]). A person who needs the secret itself
//! accepts (the version it replaces stays in the item's history) or drops.

use super::apply::{Ctx, Opened, local_row};
use super::db::QuarantineRow;
use crate::circle::PeerId;
use crate::circle::store::load as load_circle;
use crate::error::ItemError;
use crate::item::diff::{FieldChange, changes};
use crate::item::{ItemClass, ItemData};
use crate::sync::{RecordError, SyncError, TaggedRecord, decode_records};
use crate::vault::UnlockedVault;
use crate::vault::outbox;
use crate::vault::rows::open_row;
use rusqlite::{Connection, params};
use uuid::Uuid;

/// A decision on a quarantined record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// This device re-signed the record's content as its own new version.
    Accepted,
    /// This device's own version, or a tombstone, supersedes the record;
    /// or (a removed peer's record past its removal's cut) the engine
    /// dropped it.
    Dropped,
}

impl Decision {
    /// `accepted` or `dropped`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Dropped => "dropped",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "accepted" => Some(Decision::Accepted),
            "dropped" => Some(Decision::Dropped),
            _ => None,
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a record would do to the item this device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// This device holds no live item of that uuid: the record adds one.
    Adds,
    /// The record changes the item held.
    Changes,
    /// The record is a tombstone: it deletes the item.
    Deletes,
}

/// What a quarantined record would change, where it decrypts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The item's class.
    pub class: ItemClass,
    /// Whether it adds, changes or deletes the item.
    pub effect: Effect,
    /// Server (inet), service (genp) or relying party (keys): the
    /// record's, or for a deletion the held item's.
    pub name: String,
    /// Account (or passkey user name), likewise.
    pub account: String,
    /// Label, likewise.
    pub label: String,
    /// When the record's version was written (ms since the Unix epoch,
    /// as its writer claims).
    pub modified_ms: i64,
    /// The fields it changes against the item held here (every field it
    /// sets, for a new item; none for a deletion).
    pub changes: Vec<FieldChange>,
}

/// A record in quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// The item's uuid.
    pub uuid: Uuid,
    /// The record's gencount.
    pub gencount: u64,
    /// The server sequence it was served at (its change tag).
    pub seq: u64,
    /// Its writer, as it claims.
    pub writer: PeerId,
    /// Why the sync refused it, as the sync reported it.
    pub reason: String,
    /// Every check it fails now, against this device's state (the circle
    /// log, key epochs, cut lists and versions held), in the order the
    /// sync checks them: the writer's version held (rollback), the
    /// writer's standing, the signature, the ciphertext, the class. Empty
    /// if it passes them all (the next sync applies it).
    pub faults: Vec<RecordError>,
    /// When it was (last) refused, in ms since the Unix epoch.
    pub at_ms: i64,
    /// `None` while undecided.
    pub decision: Option<Decision>,
    /// What it would change, if it decrypts here.
    pub preview: Option<Preview>,
}

impl QuarantineEntry {
    /// The first fault a person cannot waive by accepting: anything but
    /// the writer's standing ([`waivable`]).
    pub fn refusal(&self) -> Option<&RecordError> {
        self.faults.iter().find(|f| !waivable(f))
    }

    /// Whether [`UnlockedVault::quarantine_accept`] would take it:
    /// undecided, it decrypts, and its only faults are its writer's
    /// standing.
    pub fn acceptable(&self) -> bool {
        self.decision.is_none() && self.preview.is_some() && self.refusal().is_none()
    }
}

/// Whether a fault is one a person may waive by accepting the record:
/// only its writer's standing, once a member, now removed or not yet
/// known as one here ([`RecordError::RemovedWriter`],
/// [`RecordError::CutListMissing`], [`RecordError::NotMemberAt`]). A
/// writer that never was a member ([`RecordError::UnknownWriter`]) has no
/// key to check the signature with, and a record past a removal's cut
/// ([`RecordError::AfterRemoval`]) is dropped by the engine already.
pub fn waivable(fault: &RecordError) -> bool {
    matches!(
        fault,
        RecordError::RemovedWriter(_)
            | RecordError::CutListMissing(_)
            | RecordError::NotMemberAt { .. }
    )
}

/// Why a decision on a quarantined record was not made. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// No record of this uuid is in quarantine.
    #[error("no record of {0} is in quarantine")]
    NotFound(Uuid),
    /// Every record of this uuid in quarantine was decided on already.
    #[error("the quarantined record of {uuid} was {decision} already")]
    Decided {
        /// The item.
        uuid: Uuid,
        /// The latest decision.
        decision: Decision,
    },
    /// The record has a fault other than its writer's standing: it
    /// cannot be accepted (it can be dropped).
    #[error("the quarantined record of {uuid} cannot be accepted (it can be dropped)")]
    NotAcceptable {
        /// The item.
        uuid: Uuid,
        /// The first fault that is not the writer's standing.
        #[source]
        fault: RecordError,
    },
    /// The vault could not be read or written.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl From<rusqlite::Error> for QuarantineError {
    fn from(e: rusqlite::Error) -> Self {
        SyncError::from(e).into()
    }
}

impl From<ItemError> for QuarantineError {
    fn from(e: ItemError) -> Self {
        SyncError::from(e).into()
    }
}

impl UnlockedVault {
    /// Every record in this zone's quarantine, decided or not, in the
    /// order the server served them: why it is held aside, checked again
    /// now, and what it would change where it decrypts (secrets named,
    /// never shown).
    pub fn quarantine_list(&mut self) -> Result<Vec<QuarantineEntry>, SyncError> {
        let (_, circle) = load_circle(&self.conn, &self.circle)?.ok_or(SyncError::NoCircle)?;
        self.keys.refresh(&self.conn, self.header.circle_id)?;
        let ctx = Ctx {
            conn: &self.conn,
            keys: &self.keys,
            zone: &self.zone,
            circle: &circle,
            me: self.identity.peer_id(),
            history_limit: self.options.history_limit,
        };
        let mut out = Vec::new();
        for row in stored(&self.conn, &self.zone, None)? {
            let rec = &row.tagged.record;
            let assessed = assess(&ctx, &row.tagged)?;
            let preview = match &assessed.opened {
                Some(opened) => Some(preview(&ctx, rec.uuid(), opened)?),
                None => None,
            };
            out.push(QuarantineEntry {
                uuid: rec.uuid(),
                gencount: rec.gencount(),
                seq: row.tagged.tag,
                writer: rec.writer(),
                reason: row.reason,
                faults: assessed.faults,
                at_ms: row.at_ms,
                decision: row.decision,
                preview,
            });
        }
        Ok(out)
    }
}

/// A row of `sync_quarantine`, its record decoded.
pub(crate) struct Stored {
    pub tagged: TaggedRecord,
    pub reason: String,
    pub at_ms: i64,
    pub decision: Option<Decision>,
}

/// The zone's quarantined records (of one uuid, if given), in seq order.
/// A row whose record no longer decodes (a damaged file) is left out.
pub(crate) fn stored(
    conn: &Connection,
    zone: &str,
    uuid: Option<Uuid>,
) -> rusqlite::Result<Vec<Stored>> {
    let uuid = uuid.map(|u| u.as_bytes().to_vec());
    let rows: Vec<(Vec<u8>, String, i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT record, reason, at_ms, decision FROM sync_quarantine
             WHERE zone = ?1 AND (?2 IS NULL OR uuid = ?2) ORDER BY seq",
        )?
        .query_map(params![zone, uuid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(record, reason, at_ms, decision)| {
            let tagged = decode_records(&record).ok()?.into_iter().next()?;
            Some(Stored {
                tagged,
                reason,
                at_ms,
                decision: decision.as_deref().and_then(Decision::parse),
            })
        })
        .collect())
}

/// A record checked the way a sync checks it, but every check run (a
/// sync stops at the first that fails).
pub(crate) struct Assessed {
    pub faults: Vec<RecordError>,
    /// The record decrypted, where it opens under a held epoch key.
    pub opened: Option<Opened>,
}

/// Every check a sync runs on a pulled record, each on its own.
pub(crate) fn assess(ctx: &Ctx<'_>, tagged: &TaggedRecord) -> Result<Assessed, SyncError> {
    let rec = &tagged.record;
    let mut faults = Vec::new();
    let mirror = outbox::mirror(ctx.conn, rec.uuid())?.unwrap_or_default();
    let leaf = (!rec.tomb()).then(|| rec.content_hash());
    let same = mirror.server_gencount == Some(rec.gencount()) && mirror.server_leaf == leaf;
    if let Some(held) = mirror.server_gencount
        && !same
        && rec.gencount() <= held
    {
        faults.push(RecordError::Rollback {
            held,
            got: rec.gencount(),
        });
    }
    // The writer's standing: the sync's own check, with the signature
    // counted as good there (it is checked on its own next).
    if let Err(e) = ctx.verify(rec, false, Some(true))
        && matches!(
            e,
            RecordError::UnknownWriter(_)
                | RecordError::NotMemberAt { .. }
                | RecordError::RemovedWriter(_)
                | RecordError::AfterRemoval(_)
                | RecordError::CutListMissing(_)
        )
    {
        faults.push(e);
    }
    if let Some(member) = ctx.circle.peer(&rec.writer())
        && rec
            .verify_signature(ctx.circle.circle_id(), ctx.zone, &member.keys)
            .is_err()
    {
        faults.push(RecordError::BadSignature);
    }
    let opened = match open(ctx, tagged) {
        Ok(o) => Some(o),
        Err(e) => {
            faults.push(e);
            None
        }
    };
    if let Some(o) = &opened
        && let Some((held, _)) = local_row(ctx.conn, rec.uuid())?
        && held != o.decoded.class
    {
        faults.push(RecordError::ClassMismatch {
            held,
            sealed: o.decoded.class,
        });
    }
    Ok(Assessed { faults, opened })
}

/// The record's ciphertext opened in its context ([`Ctx::open`]).
pub(crate) fn open(ctx: &Ctx<'_>, tagged: &TaggedRecord) -> Result<Opened, RecordError> {
    ctx.open(&tagged.record)
}

/// What the opened record would change against the live item held here.
fn preview(ctx: &Ctx<'_>, uuid: Uuid, opened: &Opened) -> Result<Preview, SyncError> {
    let held: Option<ItemData> = match local_row(ctx.conn, uuid)? {
        Some((class, row)) if !row.tomb => open_row(ctx.keys, ctx.zone, class, &row)
            .ok()
            .map(|d| d.data),
        _ => None,
    };
    let d = &opened.decoded;
    let (effect, shown) = match (&held, d.tomb) {
        (_, true) => (Effect::Deletes, held.as_ref()),
        (Some(_), false) => (Effect::Changes, Some(&d.data)),
        (None, false) => (Effect::Adds, Some(&d.data)),
    };
    let field = |f: fn(&ItemData) -> &str| shown.map(|s| f(s).to_owned()).unwrap_or_default();
    Ok(Preview {
        class: d.class,
        effect,
        name: field(ItemData::name),
        account: field(ItemData::account),
        label: field(ItemData::label),
        modified_ms: d.modified_ms,
        changes: if d.tomb {
            Vec::new()
        } else {
            changes(held.as_ref(), &d.data)
        },
    })
}

/// The records of `zone` decided on that the server may still hold: those
/// no version this device took from or pushed to the server superseded
/// (seq at or past the item's change tag), in seq order. What the zone
/// checks apply on top of this device's zone to explain the server's, or
/// a peer's that took the record.
pub(crate) fn decided_live(conn: &Connection, zone: &str) -> rusqlite::Result<Vec<QuarantineRow>> {
    conn.prepare_cached(
        "SELECT q.seq, q.record FROM sync_quarantine q LEFT JOIN ckmirror m ON m.uuid = q.uuid
         WHERE q.zone = ?1 AND q.decision IS NOT NULL
             AND (m.change_tag IS NULL OR q.seq >= m.change_tag)
         ORDER BY q.seq",
    )?
    .query_map([zone], |r| Ok(QuarantineRow { record: r.get(1)? }))?
    .collect()
}
